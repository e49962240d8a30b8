"""Regression tests of issue 9: inputs that once ended in a foreign exception (UnicodeDecodeError,
RecursionError, ValueError, TypeError, pyarrow's ArrowTypeError, a 0-byte output) end in a RecordError
naming file, line and field; and what reading accepts goes through write-back, export and tasks."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kedit.annotations.tasks import make_tasks
from kedit.errors import RecordError
from kedit.records import FORMATS, SPLITS, case_from_dict, read_cases, read_jsonl, write_jsonl
from kedit.records.formats import first_record
from kedit.records.hfdataset import EDITS, build_tables, data_file, read_export
from kedit.records.jsonl import MAX_DEPTH

from .fuzz_inputs import FIXTURES

FORMAT_NAMES = ["auto", *FORMATS.names()]


def read(path: Path, fmt: str):
    return read_cases(path, fmt=None if fmt == "auto" else fmt)


def demo_dicts(n: int = 2) -> list[dict]:
    lines = FIXTURES["kedit"].read_text(encoding="utf-8").splitlines()[:n]
    return [json.loads(line) for line in lines]


def with_condition() -> dict:
    """A demo case whose probe 2 has a condition with a triple."""
    d = demo_dicts(1)[0]
    d["probes"][2]["conditions"] = [{"prompt": "The capital of Japan is", "answers": ["Tokyo"],
                                     "triple": ["Japan", "capital", "Tokyo"]}]
    return d


def write_lines(path: Path, *records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_parquet(cases, folder: Path) -> Path:
    for cfg, table in build_tables(cases).items():
        if table.num_rows:
            (folder / data_file(cfg)).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / data_file(cfg))
    return folder


def assert_record_error(err: RecordError, path, line, field) -> None:
    assert (err.path, err.line, err.field) == (path, line, field), str(err)
    assert str(path) in str(err) and f"field '{field}'" in str(err)
    if line is not None:
        assert f"line {line}" in str(err)


# -- decoding and parsing: the three reproducers, through every reader ------------------------

@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("content, problem", [
    (b"\xff\n", "not UTF-8"),                                   # printf '\xff\n'
    (b"[" * 100_000 + b"\n", "nested too deep"),                 # python3 -c "print('['*100000)"
    (b"1" * 4301 + b"\n", "4300 digits"),                       # python3 -c "print('1'*4301)"
])
def test_undecodable_input_is_a_record_error(tmp_path, fmt, content, problem):
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordError, match=problem) as e:
        read(path, fmt)
    assert e.value.path == path and e.value.line == 1


@pytest.mark.parametrize("fmt", ["kedit", "auto"])
def test_bad_bytes_and_deep_json_name_their_line(tmp_path, fmt):
    good = json.dumps(demo_dicts(1)[0])
    for bad, problem in ((b'{"case_id": "caf\xe9"}', "not UTF-8 (byte 0xe9 at column 17)"),
                         (b"[" * 5000, "nested too deep"), (b'{"n": ' + b"9" * 5000 + b"}", "4300 digits")):
        path = tmp_path / "x.jsonl"
        path.write_bytes(good.encode() + b"\n\n" + bad + b"\n")
        with pytest.raises(RecordError, match=re.escape(problem)) as e:
            read(path, fmt)
        assert e.value.line == 3


def test_bad_bytes_in_a_json_array_name_their_line(tmp_path):
    recs = json.loads(FIXTURES["rome-counterfact"].read_text(encoding="utf-8"))
    text = json.dumps(recs, indent=2).encode()
    line = text[:text.index(b"Klara")].count(b"\n") + 1
    path = tmp_path / "rome.json"
    path.write_bytes(text.replace(b"Klara", b"Kl\xc3ra", 1))
    for fmt in ("auto", "rome-counterfact"):
        with pytest.raises(RecordError, match="not UTF-8") as e:
            read(path, fmt)
        assert e.value.line == line


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_bom_and_crlf_are_read(tmp_path, fmt):
    name = "kedit" if fmt == "auto" else fmt
    if name not in FIXTURES:
        pytest.skip(f"no fixture for format {name}")
    src = FIXTURES[name].read_bytes()
    path = tmp_path / "bench.json"
    path.write_bytes(b"\xef\xbb\xbf" + src.replace(b"\n", b"\r\n"))
    assert read(path, fmt) == read_cases(FIXTURES[name], fmt=name)


def test_first_record_reads_only_the_first_record(tmp_path):
    """A first record over the first 1 MiB chunk is read whole; bytes far after it are never read."""
    big = demo_dicts(1)[0] | {"provenance": {"note": "x" * 1_500_000}}
    tail = b" " * 6_000_000 + b"\xff"  # would fail decoding if first_record read the whole file
    lines = tmp_path / "big.jsonl"
    lines.write_bytes(json.dumps(big).encode() + b"\n" + tail)
    array = tmp_path / "big.json"
    array.write_bytes(b"[" + json.dumps(big).encode() + b"," + tail)
    for path in (lines, array):
        assert first_record(path)["provenance"]["note"] == "x" * 1_500_000
    (tmp_path / "blank.json").write_bytes(b"\xef\xbb\xbf \n\r\n[ ]")
    assert first_record(tmp_path / "blank.json") is None


# -- field types -----------------------------------------------------------------------------

@pytest.mark.parametrize("change, field, problem", [
    (lambda d: d["probes"][2].update(conditions=1), "probes[2].conditions", "expected a list, got int"),
    (lambda d: d["probes"][2]["conditions"][0].update(triple=[1, 2, 3]), "probes[2].conditions[0].triple[0]",
     "expected a string, got int"),
    (lambda d: d["probes"][2]["conditions"][0].update(triple=["a", "b"]), "probes[2].conditions[0].triple",
     "expected [subject, relation, object]"),
    (lambda d: d.update(case_id=[1]), "case_id", "expected a string, got list"),
    (lambda d: d.update(case_id=True), "case_id", "expected a string, got bool"),
    (lambda d: d.update(probes={"split": "locality"}), "probes", "expected a list, got dict"),
    (lambda d: d["probes"][0].update(answers=["ok", 3]), "probes[0].answers[1]", "got int"),
    (lambda d: d["probes"][0].update(provenance=[]), "probes[0].provenance", "expected an object, got list"),
    (lambda d: d.update(provenance={"a": {"b": [{"c": 1}] * 2}} | {"deep": json.loads("[" * 70 + "]" * 70)}),
     "provenance.deep" + "[0]" * (MAX_DEPTH - 1), "nested deeper"),
    (lambda d: d.update(schema=json.loads("[" * 500 + "]" * 500)), "schema", "unsupported a list"),
])
def test_field_types_are_checked_at_read_time(tmp_path, change, field, problem):
    d = with_condition()
    change(d)
    path = write_lines(tmp_path / "bad.jsonl", demo_dicts(2)[1], d)
    with pytest.raises(RecordError, match=re.escape(problem)) as e:
        read_jsonl(path)
    assert_record_error(e.value, path, 2, field)


@pytest.mark.parametrize("field", [
    "subject", "relation.id", "relation.template", "target_new", "probes[1].prompt", "probes[1].foil",
    "probes[0].answers[0]", "probes[2].conditions[0].prompt", "probes[2].conditions[0].answers[0]",
    "probes[2].conditions[0].triple[2]", "probes[3].provenance.source", "provenance.note",
])
def test_a_lone_surrogate_in_any_string_is_refused_with_its_path(tmp_path, field):
    d = with_condition()
    d["provenance"] = {"note": "fine"}
    *parents, last = field.replace("]", "").replace("[", ".").split(".")
    node = d
    for k in parents:
        node = node[int(k)] if k.isdigit() else node[k]
    key = int(last) if last.isdigit() else last
    node[key] = "France \ud800" if field == "subject" else "x\ud800y"
    if field == "subject":
        d["prompt"] = "The capital of France \ud800 is"
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(d) + "\n", encoding="utf-8")  # ensure_ascii: the "\ud800" escape
    with pytest.raises(RecordError, match=r"lone surrogate '\\ud800'") as e:
        read_jsonl(path)
    assert_record_error(e.value, path, 1, field)


def test_a_lone_surrogate_in_a_provenance_key_or_a_source_field(tmp_path):
    d = demo_dicts(1)[0]
    d["probes"][0]["provenance"] = {"k\udfff": 1}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(d) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match="lone surrogate") as e:
        read_jsonl(path)
    assert e.value.field == "probes[0].provenance.<key>"
    recs = json.loads(FIXTURES["rome-counterfact"].read_text(encoding="utf-8"))
    recs[1]["paraphrase_prompts"][0] = "\ud800"
    path = tmp_path / "rome.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    with pytest.raises(RecordError, match="lone surrogate") as e:
        read_cases(path)
    assert e.value.field == "paraphrase_prompts[0]"
    str(e.value).encode("utf-8")  # the message itself can be printed


def test_a_surrogate_never_reaches_write_jsonl(tmp_path):
    """Once accepted and written as a 0-byte file; now refused before anything is written."""
    d = demo_dicts(1)[0]
    d["target_new"] = "Berlin\ud800"
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(d) + "\n", encoding="utf-8")
    with pytest.raises(RecordError):
        write_jsonl(read_cases(src), tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_dict_built_in_python_must_be_writable():
    d = demo_dicts(1)[0]
    for prov, problem in (({"s": {1, 2}}, "not a JSON value \\(set\\)"), ({(1, 2): "x"}, "a key is not a string"),
                          ({"n": 10**5000}, "cannot be written as JSON")):
        with pytest.raises(RecordError, match=problem):
            case_from_dict(d | {"provenance": prov})


def test_case_id_may_be_an_integer():
    assert case_from_dict(demo_dicts(1)[0] | {"case_id": 0}).case_id == "0"


# -- accepted cases go downstream ------------------------------------------------------------

def test_nan_and_infinity_in_provenance_are_kept_through_write_back_and_export(tmp_path):
    """Python's json reads and writes NaN/Infinity: kept (not refused), and they survive every stage."""
    d = with_condition()
    d["provenance"] = {"score": float("nan"), "bound": float("inf"), "low": float("-inf"), "big": 10**4000}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(d) + "\n", encoding="utf-8")
    cases = read_cases(path)
    back = read_cases(write_jsonl(cases, tmp_path / "out.jsonl"))
    for c in (cases[0], back[0]):
        assert math.isnan(c.provenance["score"]) and c.provenance["bound"] == math.inf
        assert c.provenance["low"] == -math.inf and c.provenance["big"] == 10**4000
    exported = read_export(write_parquet(back, tmp_path / "export"))
    assert exported == cases and math.isnan(exported[0].provenance["score"])
    assert make_tasks(exported, tuple(SPLITS))


def test_odd_but_valid_strings_go_downstream(tmp_path):
    d = with_condition()
    d["probes"][2]["conditions"][0]["triple"] = ["", "\u2028", "\x00"]
    d["probes"][1]["foil"] = ""
    d["relation"]["template"] = "\ufeff{}"
    d["provenance"] = {"": None, "é": ["\u2028", True, -0.0, 1e308]}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(d, ensure_ascii=False) + "\n", encoding="utf-8")
    cases = read_cases(path)
    assert read_cases(write_jsonl(cases, tmp_path / "out.jsonl")) == cases
    assert read_export(write_parquet(cases, tmp_path / "export")) == cases
    assert build_tables(cases)[EDITS].num_rows == 1
    assert make_tasks(cases, tuple(SPLITS))


# -- an exported folder -----------------------------------------------------------------------

def test_broken_exports_are_record_errors(tmp_path):
    cases = read_cases(FIXTURES["kedit"])[:3]
    folder = write_parquet(cases, tmp_path / "ok")
    assert read_export(folder) == cases
    edits = folder / data_file(EDITS)

    edits.write_bytes(edits.read_bytes()[:100])  # truncated
    with pytest.raises(RecordError, match="not a readable Parquet file") as e:
        read_cases(folder)
    assert e.value.path == edits

    table = build_tables(cases)[EDITS]
    pq.write_table(table.drop_columns(["target_new"]), edits)
    with pytest.raises(RecordError, match="missing column") as e:
        read_cases(folder)
    assert e.value.field == "target_new"

    prov = pa.array(['{"a": ' + "[" * 5000 + "}", *table["provenance"].to_pylist()[1:]])
    pq.write_table(table.set_column(table.schema.get_field_index("provenance"), "provenance", prov), edits)
    with pytest.raises(RecordError, match="nested too deep") as e:
        read_cases(folder)
    assert e.value.field == "provenance" and e.value.path == f"{edits} row 0"

    rows = table.to_pylist()
    rows[1]["reliability"][0]["probe_index"] = None
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), edits)
    with pytest.raises(RecordError, match="probe_index: missing|'probe_index': missing"):
        read_cases(folder)
    rows = table.to_pylist()
    rows[2]["reliability"][0]["conditions"] = [None]
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), edits)
    with pytest.raises(RecordError, match="expected an object") as e:
        read_cases(folder)
    assert (e.value.path, e.value.field) == (f"{edits} row 2", "probes[0].conditions[0]")
