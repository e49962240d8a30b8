"""Readers of benchmark formats, registered by name; ``read_cases`` detects the format of a file.

Each reader takes a path and returns EditCases; ``detect`` functions look at the first record.
The registry lives here with the kedit format; the other formats register in ``readers`` (imported
by ``kedit.records``), third-party ones through the ``kedit.formats`` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import KeditError, RecordError
from ..registry import Registry
from .jsonl import JSON_WS, decode_json, decode_text, parse_json, printable, read_jsonl
from .schema import SCHEMA, EditCase


@dataclass(frozen=True)
class Format:
    name: str
    read: Callable[[Path], list[EditCase]]
    detect: Callable[[Any], bool]  # gets the first record (a dict)
    description: str = ""  # one line for `keval ls formats`


FORMATS: Registry[Format] = Registry("format", "Pass one of them with --format.", entry_points="kedit.formats")


def register_format(name: str, detect: Callable[[Any], bool], description: str = ""):
    def deco(read: Callable[[Path], list[EditCase]]):
        FORMATS.register(name)(Format(name, read, detect, description or " ".join((read.__doc__ or "").split())))
        return read

    return deco


def first_record(path: Path) -> Any:
    """The first record of a JSON array or JSON Lines file, read without reading the rest of the file.

    The file is read in growing chunks (1 MiB, then doubling) until its first line (JSON Lines) or the
    first element of its array parses, or the file ends: a huge file costs only its first record."""
    with path.open("rb") as fh:
        buf = b""
        while True:
            more = fh.read(max(1 << 20, len(buf)))
            buf += more
            done = not more
            text = _decode_prefix(buf, path, final=done)
            start = len(text) - len(text.lstrip(JSON_WS))
            if start == len(text):  # blank so far
                if done:
                    return None
                continue
            line = text.count("\n", 0, start) + 1
            if text[start] != "[":  # JSON Lines: its first non-blank line
                end = text.find("\n", start)
                if end < 0 and not done:
                    continue
                return parse_json(text[start:end if end >= 0 else len(text)], path, line, "<first record>")
            pos = len(text) - len(text[start + 1:].lstrip(JSON_WS))
            if text.startswith("]", pos):
                return None
            try:
                return decode_json(text, path, 1, pos, "<first record>")[0]
            except RecordError:
                if done:
                    raise


def _decode_prefix(raw: bytes, path: Path, final: bool) -> str:
    """``raw`` through ``decode_text``; unless ``final``, a UTF-8 sequence cut by the chunk's end is left off."""
    if not final:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.end == len(raw) and e.reason == "unexpected end of data":
                raw = raw[:e.start]
    return decode_text(raw, path)


@register_format("kedit", detect=lambda r: isinstance(r, dict) and r.get("schema") == SCHEMA,
                 description="kedit JSON Lines (kedit.case/1): one EditCase per line, every split and its conditions")
def _read_kedit(path: Path) -> list[EditCase]:
    return read_jsonl(path)


def read_cases(path: str | Path, fmt: str | None = None) -> list[EditCase]:
    path = Path(path)
    if path.is_dir():
        from .hfdataset import is_export, read_export

        if is_export(path):
            return read_export(path)
        raise KeditError(f"{path} is a folder but not a dataset written by kbuild export; pass a benchmark file")
    if not path.is_file():
        raise KeditError(f"benchmark file not found: {path}")
    if fmt:
        return FORMATS.get(fmt).read(path)
    rec = first_record(path)
    if rec is None:
        raise RecordError(path, None, "<file>", "no records")
    for name in FORMATS.names():
        f = FORMATS.get(name)
        if f.detect(rec):
            return f.read(path)
    keys = sorted(rec) if isinstance(rec, dict) else []
    shown = f"keys: {printable(', '.join(keys[:20]))}" + (f" and {len(keys) - 20} more" if len(keys) > 20 else "")
    raise KeditError(
        f"{path}: cannot tell its format from the first record ({shown if keys else type(rec).__name__}); "
        f"name it with --format ({', '.join(FORMATS.names())})"
    )
