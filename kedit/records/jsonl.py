"""Strict JSON Lines I/O for EditCase records: a bad record names file, line and field.

Every record kedit reads goes through two helpers here: ``decode_text`` (bytes -> text; a UTF-8
byte-order mark is dropped, bytes that are not UTF-8 name their line) and ``decode_json`` /
``parse_json`` (text -> value; bad JSON, nesting too deep for Python's parser and integers too long
to convert name their line). ``case_from_dict`` then checks the type of every field, so whatever it
accepts can be written back (``write_jsonl``), exported (``hfdataset.build_tables``) and pushed
(``annotations.tasks``).

NaN and Infinity, which Python's json reads and writes though JSON has neither, are kept in
provenance: they round-trip through ``write_jsonl`` and an export (whose provenance is a JSON
string) unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..atomic import atomic_open
from ..errors import RecordError, did_you_mean
from .schema import EXPECTS, SCHEMA, SPLITS, Condition, Edit, EditCase, Probe, Relation

BOM = "\ufeff"
JSON_WS = " \t\n\r"  # the whitespace JSON allows between values
MAX_DEPTH = 64  # containers nested in a provenance; deeper would risk Python's recursion limit downstream
_DECODER = json.JSONDecoder()


def printable(s: str) -> str:
    """``s`` with lone surrogates escaped, so an error message that quotes input can always be printed."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _show(v: Any, limit: int = 60) -> str:
    """A short rendering of an input value for an error message (a container shows only its type)."""
    if isinstance(v, (dict, list, tuple)):
        return f"a {type(v).__name__}"
    if isinstance(v, int) and v.bit_length() > 3 * limit:  # repr of a long int is slow, or refused past 4,300 digits
        return f"an integer of about {int(v.bit_length() * 0.30103) + 1} digits"
    r = repr(v)
    return printable(r if len(r) <= limit else r[:limit] + "...")


def decode_text(raw: bytes, path: object, line: int = 1) -> str:
    """UTF-8 bytes of ``path`` starting at ``line`` -> text (a leading BOM dropped on line 1)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        n = line + raw.count(b"\n", 0, e.start)
        col = e.start - raw.rfind(b"\n", 0, e.start)
        raise RecordError(path, n, "<line>", f"not UTF-8 (byte {raw[e.start]:#04x} at column {col}); "
                                             "save the file as UTF-8") from None
    return text[1:] if line == 1 and text.startswith(BOM) else text


def read_text(path: str | Path) -> str:
    """The whole file as text, through ``decode_text``."""
    path = Path(path)
    return decode_text(path.read_bytes(), path)


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its end) of every line, read one at a time, through ``decode_text``.

    Lines end at ``\\n`` (or ``\\r\\n``) as JSON Lines says, so line numbers agree with the ones the
    JSON parser reports for a whole file."""
    path = Path(path)
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            yield n, decode_text(raw.rstrip(b"\r\n"), path, n)


def decode_json(text: str, path: object, line: int | None = 1, pos: int = 0,
                field: str = "<line>") -> tuple[Any, int]:
    """(value, end) of the JSON value at ``pos`` of ``text``, which starts at ``line`` of ``path``.

    Every failure of Python's parser is a RecordError naming the line: bad JSON, nesting too deep
    (RecursionError) and integers too long to convert (ValueError)."""
    def where(offset: int) -> int | None:
        return None if line is None else line + text.count("\n", 0, offset)

    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as e:
        problem = f"not valid JSON ({e.msg} at column {e.colno})"
        at = e.pos
    except RecursionError:
        problem, at = "not readable: nested too deep for Python's JSON parser", pos
    except ValueError as e:  # CPython's limit on the digits of an integer (sys.set_int_max_str_digits)
        problem, at = f"not readable: {printable(str(e).split(';')[0])}", pos
    raise RecordError(path, where(at), field, problem)


def parse_json(text: str, path: object, line: int | None = 1, field: str = "<line>") -> Any:
    """The one JSON value of ``text`` (surrounding whitespace allowed), through ``decode_json``."""
    start = len(text) - len(text.lstrip(JSON_WS))
    value, end = decode_json(text, path, line, start, field)
    if text[end:].strip(JSON_WS):
        n = None if line is None else line + text.count("\n", 0, end)
        raise RecordError(path, n, field, "not valid JSON (extra data after the value)")
    return value


class _Checker:
    def __init__(self, path: object, line: int | None):
        self.path, self.line = path, line

    def fail(self, field: str, problem: str) -> RecordError:
        return RecordError(self.path, self.line, printable(field), printable(problem))

    def string(self, v: Any, name: str, kind: str = "a string") -> str:
        """``v`` if it is a string that can be written as UTF-8 (JSON's "\\ud800" escape reads as a lone surrogate)."""
        if not isinstance(v, str):
            raise self.fail(name, f"expected {kind}, got {type(v).__name__}")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise self.fail(name, f"not valid Unicode (a lone surrogate {v[e.start]!a} at position {e.start})") from None
        return v

    def text(self, d: dict, key: str, where: str = "", required: bool = True) -> str | None:
        name = f"{where}{key}"
        if key not in d or d[key] is None:
            if required:
                raise self.fail(name, "missing")
            return None
        v = self.string(d[key], name)
        if required and not v.strip():
            raise self.fail(name, "empty")
        return v

    def texts(self, d: dict, key: str, where: str = "", required: bool = True) -> tuple[str, ...] | None:
        name = f"{where}{key}"
        v = d.get(key)
        if v is None:
            if required:
                raise self.fail(name, "missing")
            return None
        if isinstance(v, str):
            v = [self.string(v, name)]
        if not isinstance(v, (list, tuple)):
            raise self.fail(name, f"expected a list of strings, got {type(v).__name__}")
        v = [x for i, x in enumerate(v) if self.string(x, f"{name}[{i}]", "a string (in a list of strings)").strip()]
        if required and not v:
            raise self.fail(name, "empty: give at least one non-empty answer")
        return tuple(v)

    def items(self, d: dict, key: str, where: str = "") -> list | tuple:
        """A list (absent or null: empty)."""
        v = d.get(key)
        if v is None:
            return []
        if not isinstance(v, (list, tuple)):
            raise self.fail(where + key, f"expected a list, got {type(v).__name__}")
        return v

    def case_id(self, d: dict) -> str:
        """A string, or an integer (as its decimal string)."""
        v = d.get("case_id")
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)  # at most 4,300 digits: the parser refuses longer ones
        return self.text(d, "case_id")

    def provenance(self, d: dict, key: str, where: str = "") -> dict[str, Any]:
        """A JSON object (absent or null: empty) that ``json.dumps`` can write back as UTF-8."""
        name, v = where + key, d.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self.fail(name, f"expected an object, got {type(v).__name__}")
        self._json(v, name, 0)
        try:
            json.dumps(v, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as e:  # a dict built in Python may hold anything
            raise self.fail(name, f"cannot be written as JSON ({type(e).__name__}: {e})") from None
        return v

    def _json(self, v: Any, name: str, depth: int) -> None:
        if isinstance(v, str):
            self.string(v, name)
        elif isinstance(v, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise self.fail(name, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(v, dict):
                for k, x in v.items():
                    if not isinstance(k, str):
                        raise self.fail(name, f"a key is not a string ({type(k).__name__})")
                    self._json(x, f"{name}.{self.string(k, f'{name}.<key>')}", depth + 1)
            else:
                for i, x in enumerate(v):
                    self._json(x, f"{name}[{i}]", depth + 1)
        elif not (v is None or isinstance(v, (bool, int, float))):
            raise self.fail(name, f"not a JSON value ({type(v).__name__})")


def case_from_dict(d: Any, path: object = "<dict>", line: int | None = None) -> EditCase:
    """The EditCase of a kedit case dict, every field's type checked (errors name its path, e.g.
    ``probes[2].conditions[0].triple``): strings are ``str`` and valid Unicode, lists are lists,
    provenance is a JSON object of at most ``MAX_DEPTH`` levels."""
    ck = _Checker(path, line)
    if not isinstance(d, dict):
        raise ck.fail("<record>", f"expected a JSON object, got {type(d).__name__}")
    schema = d.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise ck.fail("schema", f"unsupported {_show(schema)} (this kedit reads '{SCHEMA}')")
    rel = d.get("relation")
    if isinstance(rel, str):
        rel = {"id": rel}
    if not isinstance(rel, dict):
        raise ck.fail("relation", "expected an object {id, template}")
    relation = Relation(id=ck.text(rel, "id", "relation."), template=ck.text(rel, "template", "relation.", False) or "")
    probes = []
    for i, p in enumerate(ck.items(d, "probes")):
        where = f"probes[{i}]."
        if not isinstance(p, dict):
            raise ck.fail(f"probes[{i}]", f"expected an object, got {type(p).__name__}")
        split = ck.text(p, "split", where)
        if split not in SPLITS:
            raise ck.fail(where + "split", str(did_you_mean("split", split, SPLITS)))
        expect = p.get("expect", SPLITS[split][1])
        if expect not in EXPECTS:
            raise ck.fail(where + "expect", f"must be one of {EXPECTS}, got {_show(expect)}")
        choices = ck.texts(p, "choices", where, required=False)
        answers = ck.texts(p, "answers", where)
        if choices is not None and answers[0] not in choices:
            raise ck.fail(where + "answers", "the right answer must be one of the choices")
        conds = []
        for j, c in enumerate(ck.items(p, "conditions", where)):
            cw = f"{where}conditions[{j}]."
            if not isinstance(c, dict):
                raise ck.fail(cw[:-1], "expected an object {prompt, answers}")
            triple = c.get("triple")
            if triple is not None:
                if not isinstance(triple, (list, tuple)) or len(triple) != 3:
                    raise ck.fail(cw + "triple", "expected [subject, relation, object]")
                triple = tuple(ck.string(x, f"{cw}triple[{k}]") for k, x in enumerate(triple))
            conds.append(Condition(ck.text(c, "prompt", cw), ck.texts(c, "answers", cw), triple))
        probes.append(
            Probe(
                split=split,
                prompt=ck.text(p, "prompt", where),
                answers=answers,
                expect=expect,
                foil=ck.text(p, "foil", where, required=False),
                choices=choices,
                conditions=tuple(conds),
                provenance=ck.provenance(p, "provenance", where),
            )
        )
    subject = ck.text(d, "subject")
    prompt = ck.text(d, "prompt")
    if subject not in prompt:
        raise ck.fail("prompt", f"must contain the subject '{subject}'")
    more = []
    for k, e in enumerate(ck.items(d, "more_edits")):
        w = f"more_edits[{k}]."
        if not isinstance(e, dict):
            raise ck.fail(w[:-1], "expected an object {prompt, subject, target_new, target_true}")
        es, ep = ck.text(e, "subject", w), ck.text(e, "prompt", w)
        if es not in ep:
            raise ck.fail(w + "prompt", f"must contain the subject '{es}'")
        more.append(Edit(ep, es, ck.text(e, "target_new", w), ck.text(e, "target_true", w, False),
                         ck.text(e, "relation", w, False)))
    return EditCase(
        case_id=ck.case_id(d),
        subject=subject,
        relation=relation,
        target_true=ck.text(d, "target_true"),
        target_new=ck.text(d, "target_new"),
        prompt=prompt,
        probes=tuple(probes),
        more_edits=tuple(more),
        provenance=ck.provenance(d, "provenance"),
    )


def iter_json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; bad bytes or JSON name the file and line."""
    path = Path(path)
    for n, line in iter_lines(path):
        if line.strip(JSON_WS):
            yield n, parse_json(line, path, n)


def iter_jsonl(path: str | Path) -> Iterator[EditCase]:
    """Cases of a kedit JSONL file; a repeated case_id is an error naming both lines."""
    seen: dict[str, int] = {}
    for n, d in iter_json_lines(path):
        case = case_from_dict(d, path, n)
        if case.case_id in seen:
            raise RecordError(path, n, "case_id", f"duplicate case_id '{case.case_id}' (first on line {seen[case.case_id]})")
        seen[case.case_id] = n
        yield case


def read_jsonl(path: str | Path) -> list[EditCase]:
    return list(iter_jsonl(path))


def write_jsonl(cases: Iterable[EditCase], path: str | Path) -> Path:
    """Write atomically (a unique temp file + rename) so an interrupted write never leaves half a file."""
    path = Path(path)
    with atomic_open(path) as fh:
        for c in cases:
            fh.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
    return path


def drop_partial_line(path: str | Path) -> None:
    """A job killed mid-write leaves half a line at the end: cut it so appended records stay whole."""
    path = Path(path)
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


class JsonlAppender:
    """Append one record per line and flush it, so a killed job keeps every finished record."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        drop_partial_line(self.path)
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cases_digest(cases: Iterable[EditCase]) -> str:
    """SHA-256 of the cases themselves (their kedit JSON, keys sorted), whatever file or folder they
    came from: a JSONL and its export give the same digest."""
    import hashlib

    h = hashlib.sha256()
    for c in cases:
        h.update(json.dumps(c.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()
