"""Readers of benchmark formats, registered by name; ``read_cases`` detects the format of a file.

Each reader takes a path and returns EditCases; ``detect`` functions look at the first record.
The registry lives here with the kedit format; the other formats register in ``readers`` (imported
by ``kedit.records``), third-party ones through the ``kedit.formats`` entry-point group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import KeditError, RecordError
from ..registry import Registry
from .jsonl import read_jsonl
from .schema import SCHEMA, EditCase


@dataclass(frozen=True)
class Format:
    name: str
    read: Callable[[Path], list[EditCase]]
    detect: Callable[[Any], bool]  # gets the first record (a dict)


FORMATS: Registry[Format] = Registry("format", "Pass one of them with --format.", entry_points="kedit.formats")


def register_format(name: str, detect: Callable[[Any], bool]):
    def deco(read: Callable[[Path], list[EditCase]]):
        FORMATS.register(name)(Format(name, read, detect))
        return read

    return deco


def first_record(path: Path) -> Any:
    """The first record of a JSON array or JSON Lines file, without parsing the rest of the file."""
    with path.open(encoding="utf-8") as fh:
        text = fh.read(1 << 20)
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            body = stripped[1:].lstrip()
            if body.startswith("]"):
                return None
            rec, _ = json.JSONDecoder().raw_decode(body)
            return rec
        for line in text.splitlines():
            if line.strip():
                return json.loads(line)
    except json.JSONDecodeError as e:
        raise RecordError(path, None, "<first record>", f"not valid JSON ({e.msg})") from None
    return None


@register_format("kedit", detect=lambda r: isinstance(r, dict) and r.get("schema") == SCHEMA)
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
    raise KeditError(
        f"{path}: cannot tell its format from the first record (keys: {', '.join(sorted(rec)) if isinstance(rec, dict) else type(rec).__name__}); "
        f"name it with --format ({', '.join(FORMATS.names())})"
    )
