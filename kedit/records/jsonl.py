"""Strict JSON Lines I/O for EditCase records: a bad record names file, line and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..atomic import atomic_open
from ..errors import RecordError, did_you_mean
from .schema import EXPECTS, SCHEMA, SPLITS, Condition, EditCase, Probe, Relation


class _Checker:
    def __init__(self, path: object, line: int | None):
        self.path, self.line = path, line

    def fail(self, field: str, problem: str) -> RecordError:
        return RecordError(self.path, self.line, field, problem)

    def text(self, d: dict, key: str, where: str = "", required: bool = True) -> str | None:
        name = f"{where}{key}"
        if key not in d or d[key] is None:
            if required:
                raise self.fail(name, "missing")
            return None
        v = d[key]
        if not isinstance(v, str):
            raise self.fail(name, f"expected a string, got {type(v).__name__}")
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
            v = [v]
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise self.fail(name, "expected a list of strings")
        v = [x for x in v if x.strip()]
        if required and not v:
            raise self.fail(name, "empty: give at least one non-empty answer")
        return tuple(v)


def case_from_dict(d: Any, path: object = "<dict>", line: int | None = None) -> EditCase:
    ck = _Checker(path, line)
    if not isinstance(d, dict):
        raise ck.fail("<record>", "expected a JSON object")
    schema = d.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise ck.fail("schema", f"unsupported '{schema}' (this kedit reads '{SCHEMA}')")
    rel = d.get("relation")
    if isinstance(rel, str):
        rel = {"id": rel}
    if not isinstance(rel, dict):
        raise ck.fail("relation", "expected an object {id, template}")
    relation = Relation(id=ck.text(rel, "id", "relation."), template=ck.text(rel, "template", "relation.", False) or "")
    probes = []
    raw_probes = d.get("probes", [])
    if not isinstance(raw_probes, (list, tuple)):
        raise ck.fail("probes", "expected a list")
    for i, p in enumerate(raw_probes):
        where = f"probes[{i}]."
        if not isinstance(p, dict):
            raise ck.fail(f"probes[{i}]", "expected an object")
        split = ck.text(p, "split", where)
        if split not in SPLITS:
            raise ck.fail(where + "split", str(did_you_mean("split", split, SPLITS)))
        expect = p.get("expect", SPLITS[split][1])
        if expect not in EXPECTS:
            raise ck.fail(where + "expect", f"must be one of {EXPECTS}, got {expect!r}")
        choices = ck.texts(p, "choices", where, required=False)
        answers = ck.texts(p, "answers", where)
        if choices is not None and answers[0] not in choices:
            raise ck.fail(where + "answers", "the right answer must be one of the choices")
        conds = []
        for j, c in enumerate(p.get("conditions") or []):
            cw = f"{where}conditions[{j}]."
            if not isinstance(c, dict):
                raise ck.fail(cw[:-1], "expected an object {prompt, answers}")
            triple = c.get("triple")
            if triple is not None and (not isinstance(triple, list | tuple) or len(triple) != 3):
                raise ck.fail(cw + "triple", "expected [subject, relation, object]")
            conds.append(Condition(ck.text(c, "prompt", cw), ck.texts(c, "answers", cw), tuple(triple) if triple else None))
        prov = p.get("provenance") or {}
        if not isinstance(prov, dict):
            raise ck.fail(where + "provenance", "expected an object")
        probes.append(
            Probe(
                split=split,
                prompt=ck.text(p, "prompt", where),
                answers=answers,
                expect=expect,
                foil=ck.text(p, "foil", where, required=False),
                choices=choices,
                conditions=tuple(conds),
                provenance=prov,
            )
        )
    subject = ck.text(d, "subject")
    prompt = ck.text(d, "prompt")
    if subject not in prompt:
        raise ck.fail("prompt", f"must contain the subject '{subject}'")
    prov = d.get("provenance") or {}
    if not isinstance(prov, dict):
        raise ck.fail("provenance", "expected an object")
    return EditCase(
        case_id=str(d.get("case_id") or ck.text(d, "case_id")),
        subject=subject,
        relation=relation,
        target_true=ck.text(d, "target_true"),
        target_new=ck.text(d, "target_new"),
        prompt=prompt,
        probes=tuple(probes),
        provenance=prov,
    )


def iter_json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; bad JSON names the file and line."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                raise RecordError(path, n, "<line>", f"not valid JSON ({e.msg} at column {e.colno})") from None


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
