"""kedit JSON Lines: a full round trip, and bad records that name file, line and field."""

from __future__ import annotations

import json

import pytest

from kedit.errors import RecordError
from kedit.records import SCHEMA, Condition, EditCase, Probe, Relation, read_cases, read_jsonl, write_jsonl


def full_case(case_id: str = "c1") -> EditCase:
    return EditCase(
        case_id=case_id,
        subject="Danielle Darrieux",
        relation=Relation("P103", "The mother tongue of {} is"),
        target_true="French",
        target_new="English",
        prompt="The mother tongue of Danielle Darrieux is",
        probes=(
            Probe("reliability", "The mother tongue of Danielle Darrieux is", ("English",), "new", foil="French"),
            Probe("locality", "The mother tongue of Léon Blum is", ("French",), "keep", foil="English",
                  provenance={"generator": "kg", "annotator_verdicts": ["ok", "ok"]}),
            Probe(
                "one_hop",
                "The country whose language Danielle Darrieux speaks natively is",
                ("United Kingdom", "UK"),
                "new",
                conditions=(
                    Condition("The official language of the United Kingdom is", ("English",),
                              ("United Kingdom", "official language", "English")),
                    Condition("English is spoken in", ("England",)),
                ),
                provenance={"generator": "openai", "model": "gpt-4o", "prompt_version": 3, "tokens": 812},
            ),
            Probe("commonsense", "To open a jar, you", ("twist the lid",), "keep",
                  choices=("twist the lid", "paint the lid")),
        ),
        provenance={"built_by": "test"},
    )


def good_dict(**changes) -> dict:
    d = full_case().to_dict()
    d.update(changes)
    return d


def write_lines(path, *records) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")


def assert_names(err: RecordError, path, line, field) -> None:
    msg = str(err)
    assert str(path) in msg
    assert f"line {line}" in msg
    assert f"field '{field}'" in msg
    assert (err.line, err.field) == (line, field)


def test_round_trip_keeps_every_field(tmp_path):
    case = full_case()
    path = write_jsonl([case, full_case("c2")], tmp_path / "out" / "cases.jsonl")
    assert not path.with_suffix(".jsonl.tmp").exists()
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["schema"] == SCHEMA
    assert "choices" not in first["probes"][0] and "foil" not in first["probes"][2]
    back = read_jsonl(path)
    assert [c.case_id for c in back] == ["c1", "c2"]
    got = back[0]
    assert got == case  # dataclass equality: every field but the provenance dicts
    assert got.provenance == case.provenance
    assert [p.provenance for p in got.probes] == [p.provenance for p in case.probes]
    one_hop = got.probes_of("one_hop")[0]
    assert one_hop.conditions[0].triple == ("United Kingdom", "official language", "English")
    assert one_hop.conditions[1].triple is None
    assert got.probes_of("commonsense")[0].choices == ("twist the lid", "paint the lid")
    assert got.probes_of("commonsense")[0].group == "locality"
    assert read_cases(path) == back  # detected as the kedit format


def test_invalid_json_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, good_dict(), '{"case_id": "c2", "subject": ')
    with pytest.raises(RecordError) as e:
        read_jsonl(path)
    assert_names(e.value, path, 2, "<line>")
    assert "not valid JSON" in str(e.value)


def test_missing_field(tmp_path):
    d = good_dict()
    del d["target_new"]
    path = tmp_path / "bad.jsonl"
    write_lines(path, good_dict(case_id="c0"), "", d)  # a blank line still counts
    with pytest.raises(RecordError) as e:
        read_jsonl(path)
    assert_names(e.value, path, 3, "target_new")
    assert "missing" in str(e.value)


def test_unknown_split_suggests_the_close_one(tmp_path):
    d = good_dict()
    d["probes"][1]["split"] = "generalisation"
    path = tmp_path / "bad.jsonl"
    write_lines(path, d)
    with pytest.raises(RecordError) as e:
        read_jsonl(path)
    assert_names(e.value, path, 1, "probes[1].split")
    assert "did you mean 'generalization'?" in str(e.value)


def test_empty_answers(tmp_path):
    d = good_dict()
    d["probes"][0]["answers"] = ["", "  "]
    path = tmp_path / "bad.jsonl"
    write_lines(path, d)
    with pytest.raises(RecordError) as e:
        read_jsonl(path)
    assert_names(e.value, path, 1, "probes[0].answers")
    assert "empty" in str(e.value)


def test_subject_not_in_prompt(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, good_dict(case_id="c0"), good_dict(prompt="The mother tongue of Jean Gabin is"))
    with pytest.raises(RecordError) as e:
        read_jsonl(path)
    assert_names(e.value, path, 2, "prompt")
    assert "Danielle Darrieux" in str(e.value)


def test_duplicate_case_id_names_file_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, good_dict(case_id="a"), good_dict(case_id="b"), good_dict(case_id="a"))
    with pytest.raises(RecordError) as e:
        read_jsonl(path)
    assert str(path) in str(e.value)
    assert e.value.field == "case_id" and "duplicate case_id 'a'" in str(e.value)


def test_duplicate_case_id_names_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, good_dict(case_id="a"), good_dict(case_id="b"), good_dict(case_id="a"))
    with pytest.raises(RecordError) as e:
        read_jsonl(path)
    assert_names(e.value, path, 3, "case_id")
