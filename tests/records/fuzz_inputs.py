"""Bad benchmark files, and the check that kedit survives them: shared by test_fuzz.py and benchmarks/fuzz.py.

``bad_files(fmt)`` is a Hypothesis strategy of file contents (bytes): random bytes, or records of the
format's fixture with fields deleted or replaced by values of other types (numbers, huge integers,
NaN, null, booleans, nested lists and objects, lone surrogates, empty strings, nesting too deep for
Python's parser), written as a JSON array or as JSON Lines, then maybe truncated, given a byte-order
mark, CRLF line ends or a flipped byte. A format with no fixture here gets the records of every
fixture, so a newly registered format is fuzzed too.

``exercise(path, fmt, workdir)`` reads the file as ``fmt`` and by detection, and takes whatever cases
come back through everything downstream of reading: ``write_jsonl`` and back (the same records),
the export tables (``build_tables``) and the Label Studio tasks (``make_tasks``). It returns one
outcome per stage; ``foreign(outcomes)`` lists the ones that are not kedit's own error.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from kedit.annotations.tasks import make_tasks
from kedit.errors import KeditError
from kedit.records import SPLITS, read_cases, write_jsonl
from kedit.records.hfdataset import build_tables

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = {
    "kedit": ROOT / "data/demo/bench.jsonl",
    "easyedit-zsre": ROOT / "tests/data/easyedit_zsre.json",
    "easyedit-counterfact": ROOT / "tests/data/easyedit_counterfact.json",
    "rome-counterfact": ROOT / "tests/data/rome_counterfact.json",
    "rippleedits": ROOT / "tests/data/rippleedits.json",
    "knowedit": ROOT / "tests/data/knowedit.json",
    "mquake": ROOT / "tests/data/mquake.json",
    "mquake-remastered": ROOT / "tests/data/mquake_remastered.json",
}


@dataclass(frozen=True)
class Raw:
    """JSON text put verbatim where a value goes (what json.dumps cannot write, or writes otherwise)."""

    text: str


RAWS = (
    Raw("1" * 4301), Raw("-" + "9" * 5000), Raw("7" * 4300),  # over and at CPython's limit on int digits
    Raw("[" * 100_000), Raw("[" * 3000 + "]" * 3000), Raw('{"a":' * 2000 + "1" + "}" * 2000),  # too deep to parse
    Raw("[" * 80 + "]" * 80), Raw('{"a":' * 80 + "1" + "}" * 80),  # parses, deeper than a provenance may be
    Raw("NaN"), Raw("-Infinity"), Raw("1e999"), Raw("-0"), Raw("1.5e-400"),
    Raw('"\\ud800"'), Raw('"a\\udfffb"'), Raw('"\\udbff\\udfff"'), Raw('"\\u0000"'),
)
ODD_STRINGS = ("", " ", "\t\n", "\ud800", "x\udc80y", "\ufeff", "\u2028", "{}", "\x00", "é" * 3, "[1, 2, 3]")

leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.sampled_from(ODD_STRINGS),
)
odd_value = st.one_of(
    leaf,
    st.recursive(leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                 max_leaves=6),
    st.sampled_from(RAWS),
    st.lists(st.text(max_size=6), min_size=3, max_size=3),  # shaped like a triple
    st.lists(st.integers(), min_size=3, max_size=3),
    st.lists(st.sampled_from(ODD_STRINGS), min_size=1, max_size=3),
)


@cache
def fixture(fmt: str) -> tuple[tuple[Any, ...], bool]:
    """(records, whether the file is a JSON array) of ``fmt``'s fixture; every fixture's for an unknown format."""
    if fmt not in FIXTURES:
        recs = tuple(r for f in FIXTURES for r in fixture(f)[0])
        return recs, True
    text = FIXTURES[fmt].read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return tuple(json.loads(text)), True
    return tuple(json.loads(line) for line in text.splitlines() if line.strip()), False


def _paths(v: Any, at: tuple = ()) -> list[tuple]:
    """The path (keys and indices) of every node of ``v``, itself included."""
    out = [at]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, at + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, at + (i,))
    return out


def _kind(path: tuple) -> str:
    """The field a path ends at: ("probes", 3, "conditions", 0, "triple") -> "triple", (..., "triple", 1) -> "triple.[]"."""
    if not path:
        return "<record>"
    name = next((k for k in reversed(path) if isinstance(k, str)), "")
    return f"{name}.[]" if isinstance(path[-1], int) else name


def _get(v: Any, path: tuple) -> Any:
    for k in path:
        v = v[k]
    return v


def dump(v: Any, ensure_ascii: bool, indent: int | None) -> str:
    """JSON text of ``v`` with every ``Raw`` spliced in verbatim."""
    raws: list[str] = []

    def swap(x: Any) -> Any:
        if isinstance(x, Raw):
            raws.append(x.text)
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(x, dict):
            return {k: swap(y) for k, y in x.items()}
        if isinstance(x, list):
            return [swap(y) for y in x]
        return x

    text = json.dumps(swap(v), ensure_ascii=ensure_ascii, indent=indent)
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@RAW{i}@@"', raw, 1)
    return text


odd_string = st.one_of(st.text(max_size=12), st.sampled_from(ODD_STRINGS),
                       st.sampled_from([r for r in RAWS if r.text.startswith('"')]))


@st.composite
def mutated_records(draw, fmt: str) -> bytes:
    """Fixture records (one to three, maybe repeated) with up to four fields deleted, replaced by a value
    of any type, replaced by another string (a string field stays a string: odd ones reach downstream)
    or wrapped in a list."""
    records, array = fixture(fmt)
    picks = draw(st.lists(st.integers(0, len(records) - 1), min_size=1, max_size=3))
    recs = [copy.deepcopy(records[i]) for i in picks]
    for _ in range(draw(st.sampled_from((1, 1, 1, 2, 3, 4, 0)))):
        if not recs:
            break
        r = draw(st.integers(0, len(recs) - 1))
        action = draw(st.sampled_from(("delete", "replace", "replace", "restring", "restring", "wrap")))
        paths = _paths(recs[r])
        if action == "restring":
            paths = [p for p in paths if isinstance(_get(recs[r], p), str)] or paths
        # a field name first, then one of its places: "triple" is as likely as "prompt", however few
        kinds: dict[str, list[tuple]] = {}
        for p in paths:
            kinds.setdefault(_kind(p), []).append(p)
        path = draw(st.sampled_from(kinds[draw(st.sampled_from(sorted(kinds)))]))
        if not path:  # the record itself
            if action == "delete":
                del recs[r]
            else:
                recs[r] = draw(odd_value) if action == "replace" else [recs[r]]
            continue
        parent, key = _get(recs[r], path[:-1]), path[-1]
        if action == "delete":
            del parent[key]
        elif action == "wrap":
            parent[key] = [parent[key]]
        else:
            parent[key] = draw(odd_value if action == "replace" else odd_string)
    ensure_ascii, indent = draw(st.booleans()), draw(st.sampled_from((None, 2)))
    if draw(st.sampled_from((array, array, not array))):
        text = dump(recs, ensure_ascii, indent)
    else:
        text = "".join(dump(r, ensure_ascii, None) + "\n" for r in recs)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate written raw is bytes that are not UTF-8


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """``data`` maybe with CRLF line ends, a byte-order mark, a flipped byte, or cut short."""
    def sometimes() -> bool:
        return draw(st.integers(0, 5)) == 0

    if sometimes():
        data = data.replace(b"\n", b"\r\n")
    if sometimes():
        data = b"\xef\xbb\xbf" + data
    if data and sometimes():
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]
    if sometimes():
        data = data[:draw(st.integers(0, len(data)))]
    return data


def bad_files(fmt: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), *[mutated_records(fmt).flatmap(damaged)] * 5)


# -- the property ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    stage: str  # read (as fmt), detect, write (write_jsonl and read back), export (build_tables), tasks
    result: str  # "cases", "kedit_error", "foreign" (an exception that is not a KeditError), "ok"
    error: str = ""  # "TypeError: ..." for a foreign exception or a failed downstream stage
    cases: int = 0  # how many cases a read returned

    @property
    def bad(self) -> bool:
        return self.result == "foreign"


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e)[:300]}".encode("utf-8", "backslashreplace").decode("utf-8")


def _read(stage: str, path: Path, fmt: str | None) -> tuple[Outcome, list | None]:
    try:
        cases = read_cases(path, fmt=fmt)
    except KeditError:
        return Outcome(stage, "kedit_error"), None
    except Exception as e:  # noqa: BLE001 - the very thing counted
        return Outcome(stage, "foreign", _describe(e)), None
    return Outcome(stage, "cases", cases=len(cases)), cases


def _records(cases) -> list[str]:
    return [json.dumps(c.to_dict(), ensure_ascii=False) for c in cases]  # NaN-proof, provenance included


def downstream(cases: list, workdir: Path) -> list[Outcome]:
    """Whatever reading returned must write back and read the same, export and become tasks: any
    exception here, a KeditError included, is a failure (counted as foreign)."""
    out = []

    def stage(name: str, fn) -> None:
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            out.append(Outcome(name, "foreign", _describe(e)))
        else:
            out.append(Outcome(name, "ok"))

    def write_back() -> None:
        out = write_jsonl(cases, workdir / "back.jsonl")
        back = read_cases(out) if cases else read_cases(out, fmt="kedit")  # an empty file has no format to detect
        if _records(back) != _records(cases):
            raise AssertionError("write_jsonl then read_cases changed the records")

    stage("write", write_back)
    stage("export", lambda: build_tables(cases))
    stage("tasks", lambda: make_tasks(cases, tuple(SPLITS)))
    return out


def exercise(path: Path, fmt: str, workdir: Path) -> list[Outcome]:
    """Read ``path`` as ``fmt`` and by detection; take the cases of each through downstream."""
    outcomes = []
    seen: list[list] = []
    for stage, name in (("read", fmt), ("detect", None)):
        outcome, cases = _read(stage, path, name)
        outcomes.append(outcome)
        if cases is not None and cases not in seen:
            seen.append(cases)
            outcomes += downstream(cases, workdir)
    return outcomes


def foreign(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.bad]
