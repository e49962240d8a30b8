"""Readers of EasyEdit ZsRE / CounterFact and ROME CounterFact files (fixtures in tests/data/)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kedit.errors import RecordError
from kedit.records import FORMATS, read_cases, write_jsonl
from kedit.records.formats import first_record

DATA = Path(__file__).resolve().parent.parent / "data"
FIXTURES = {
    "easyedit-zsre": DATA / "easyedit_zsre.json",
    "easyedit-counterfact": DATA / "easyedit_counterfact.json",
    "rome-counterfact": DATA / "rome_counterfact.json",
}


def probe_map(case) -> list[tuple]:
    return [(p.split, p.prompt, p.answers, p.expect, p.foil) for p in case.probes]


def write_json(path: Path, records, indent=None) -> Path:
    path.write_text(json.dumps(records, indent=indent), encoding="utf-8")
    return path


def load(fmt: str) -> list[dict]:
    return json.loads(FIXTURES[fmt].read_text(encoding="utf-8"))


# -- detection ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(FIXTURES))
def test_each_fixture_is_detected_by_exactly_its_own_format(fmt):
    read_cases(FIXTURES[fmt])  # registers the readers
    rec = first_record(FIXTURES[fmt])
    assert [name for name in FORMATS.names() if FORMATS.get(name).detect(rec)] == [fmt]
    assert read_cases(FIXTURES[fmt]) == read_cases(FIXTURES[fmt], fmt=fmt)
    assert all(p.provenance["source_format"] == fmt for c in read_cases(FIXTURES[fmt]) for p in c.probes)


def test_detectors_reject_other_shapes(tmp_path):
    read_cases(FIXTURES["rome-counterfact"])
    mquake_like = {"case_id": 1, "requested_rewrite": [{"prompt": "{} is", "subject": "X"}], "questions": []}
    knowedit_like = {"subject": "X", "prompt": "X is", "target_new": "Y", "ground_truth": "Z",
                     "locality": {}, "portability": {}}
    for rec in (mquake_like, knowedit_like, [1, 2], "text"):
        assert [n for n in FORMATS.names() if FORMATS.get(n).detect(rec)] == []


def test_kedit_output_of_a_reader_reads_back(tmp_path):
    cases = read_cases(FIXTURES["rome-counterfact"])
    out = write_jsonl(cases, tmp_path / "cf.jsonl")
    back = read_cases(out)
    assert back == cases
    assert [c.provenance for c in back] == [c.provenance for c in cases]


# -- field mappings ---------------------------------------------------------------------------

def test_easyedit_zsre_mapping():
    one_hop, inverse, replace = read_cases(FIXTURES["easyedit-zsre"])
    assert [c.case_id for c in (one_hop, inverse, replace)] == ["easyedit-zsre-0", "easyedit-zsre-1", "easyedit-zsre-2"]
    c = one_hop
    assert (c.subject, c.prompt, c.target_true, c.target_new) == (
        "Lake Vostok", "Which continent is Lake Vostok located on?", "Antarctica", "South America")
    assert (c.relation.id, c.relation.template) == ("zsre", "")
    assert probe_map(c) == [
        ("reliability", "Which continent is Lake Vostok located on?", ("South America",), "new", "Antarctica"),
        ("generalization", "On which continent can Lake Vostok be found?", ("South America",), "new", "Antarctica"),
        ("locality", "nq question: who wrote the novel moby dick", ("Herman Melville",), "keep", None),
        ("one_hop", "What is the largest country on the continent where Lake Vostok lies?", ("Brazil",), "new", None),
    ]
    assert [p.provenance["source_field"] for p in c.probes] == ["src", "rephrase", "loc", "portability.New Question"]
    assert c.provenance["source_extra"]["pred"] == "Antarctica"  # unmapped source keys are kept
    # zsre_inverse_relation.json: the inverse question is answered by the subject
    assert inverse.probes_of("reverse_relation")[0].answers == ("Marie Curie",)
    assert inverse.probes_of("reverse_relation")[0].prompt == "Who is the spouse of Albert Einstein?"
    # zsre_subject_replace.json: answered by the new target; the subject matched ignoring case,
    # spelled as the prompt spells it
    assert replace.subject == "The Eiffel Tower"
    assert replace.target_true == "Paris"  # answers[0]; aliases stay out of the case
    sr = replace.probes_of("subject_replace")[0]
    assert (sr.prompt, sr.answers, sr.expect, sr.foil) == ("In which city is La Dame de Fer located?", ("Rome",), "new", "Paris")


def test_easyedit_counterfact_mapping():
    plain, with_hop, keyed = read_cases(FIXTURES["easyedit-counterfact"])
    assert [c.case_id for c in (plain, with_hop, keyed)] == ["17", "18", "easyedit-counterfact-2"]
    assert (plain.subject, plain.target_true, plain.target_new, plain.relation.id) == (
        "Jean Dupont", "French", "Japanese", "counterfact")
    assert probe_map(plain) == [
        ("reliability", "The mother tongue of Jean Dupont is", ("Japanese",), "new", "French"),
        ("generalization", "It was a cold morning. Jean Dupont spoke the language", ("Japanese",), "new", "French"),
        ("locality", "The native language of Anne Moreau is", ("French",), "keep", "Japanese"),
    ]
    assert probe_map(with_hop)[-1] == (
        "one_hop", "Which gloves does Lionel Okafor wear at work?", ("goalkeeper gloves",), "new", None)
    # KnowEdit-style keyed portability lists: the key names the split, alias lists are flattened
    assert probe_map(keyed)[3:] == [
        ("subject_replace", "The capital city of the Velmorian Republic is", ("Ostrava", "Ostrau"), "new", None),
        ("one_hop", "The river flowing through the capital of Velmoria is", ("Oder", "Odra"), "new", None),
    ]
    assert keyed.probes[3].provenance["source_field"] == "portability.Subject_Aliasing[0].prompt"


def test_rome_counterfact_mapping():
    tampere, weiss = read_cases(FIXTURES["rome-counterfact"])
    assert [tampere.case_id, weiss.case_id] == ["0", "7"]
    assert (tampere.subject, tampere.prompt, tampere.target_true, tampere.target_new) == (
        "Tampere", "The official language of Tampere is", "Finnish", "Swedish")
    assert (tampere.relation.id, tampere.relation.template) == ("P37", "The official language of {} is")
    assert probe_map(tampere) == [
        ("reliability", "The official language of Tampere is", ("Swedish",), "new", "Finnish"),
        ("generalization", "The harbour froze early that year. Tampere's official language is", ("Swedish",), "new", "Finnish"),
        ("generalization", "Tampere, whose official language is", ("Swedish",), "new", "Finnish"),
        ("locality", "The official language of Oulu is", ("Finnish",), "keep", "Swedish"),
        ("locality", "The official language of Turku is", ("Finnish",), "keep", "Swedish"),
    ]
    extra = tampere.provenance["source_extra"]
    assert extra["generation_prompts"] == ["Tampere is famous for", "People in Tampere speak"]
    assert extra["attribute_prompts"] == ["The official language of Uppsala is"]
    # EasyEdit's counterfact_subject_replace / counterfact_portability_gpt4 are ROME records plus a key
    assert probe_map(weiss)[-2:] == [
        ("subject_replace", "K. Weiss was born in", ("Lisbon",), "new", "Vienna"),
        ("one_hop", "In which country was Klara Weiss born?", ("Portugal",), "new", None),
    ]


def test_json_lines_variant_and_zsre_skips_empty_targets(tmp_path, caplog):
    recs = load("easyedit-zsre")
    recs[1]["alt"] = ""  # EasyEdit's ZsreDataset drops these
    path = tmp_path / "zsre.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kedit.records.readers"):
        cases = read_cases(path)
    assert [c.case_id for c in cases] == ["easyedit-zsre-0", "easyedit-zsre-2"]  # ids stay tied to positions
    assert "skipped 1 record" in caplog.text


# -- errors -----------------------------------------------------------------------------------

def assert_error(err: RecordError, path: Path, line: int, field: str, index: int | None = None) -> str:
    msg = str(err)
    assert str(path) in msg and f"line {line}" in msg and f"field '{field}'" in msg, msg
    assert (err.line, err.field) == (line, field)
    if index is not None:
        assert f"record [{index}] of the JSON array" in msg, msg
    return msg


@pytest.mark.parametrize("fmt, index, line, breaks, field, problem", [
    ("easyedit-zsre", 2, 33, lambda r: r.pop("alt"), "alt", "missing"),
    ("easyedit-zsre", 1, 19, lambda r: r.update(answers=[3]), "answers[0]", "list of strings"),
    ("easyedit-zsre", 0, 2, lambda r: r.update(portability={"Logical_Generalization": []}),
     "portability.Logical_Generalization", "unknown kind"),
    ("easyedit-counterfact", 1, 12, lambda r: r.update(target_new=["goalkeeper"]), "target_new", "expected a string"),
    ("easyedit-counterfact", 0, 2, lambda r: r.update(locality_ground_truth=None), "locality_ground_truth", "missing"),
    ("rome-counterfact", 1, 34, lambda r: r["requested_rewrite"]["target_new"].pop("str"),
     "requested_rewrite.target_new.str", "missing"),
    ("rome-counterfact", 0, 2, lambda r: r["requested_rewrite"].update(prompt="The official language is"),
     "requested_rewrite.prompt", "'{}'"),
    ("rome-counterfact", 1, 34, lambda r: r.update(paraphrase_prompts="x", neighborhood_prompts=[{"prompt": "p"}]),
     "neighborhood_prompts[0]", "list of strings"),
])
def test_broken_record_names_file_line_record_and_field(tmp_path, fmt, index, line, breaks, field, problem):
    recs = load(fmt)
    breaks(recs[index])
    path = write_json(tmp_path / "broken.json", recs, indent=2)  # same layout as the fixture
    with pytest.raises(RecordError) as e:
        read_cases(path, fmt=fmt)
    assert problem in assert_error(e.value, path, line, field, index)


def test_subject_absent_from_prompt(tmp_path):
    recs = load("easyedit-zsre")
    recs[1]["subject"] = "Pierre Curie"
    path = write_json(tmp_path / "zsre.json", recs)  # one line: the record index tells them apart
    with pytest.raises(RecordError) as e:
        read_cases(path)
    msg = assert_error(e.value, path, 1, "subject", index=1)
    assert "'Pierre Curie' does not occur in src" in msg


def test_duplicate_case_id_in_a_source_file(tmp_path):
    recs = load("rome-counterfact")
    recs[1]["case_id"] = 0
    path = write_json(tmp_path / "cf.json", recs, indent=2)
    with pytest.raises(RecordError) as e:
        read_cases(path)
    assert "duplicate case_id '0' (first at line 2)" in assert_error(e.value, path, 34, "case_id", 1)


@pytest.mark.parametrize("text, line", [
    ('[\n  {"subject": "a", "src": "a?", "alt": "b", "answers": ["c"]},\n  {"subject": \n]', 4),
    ('[\n  {"subject": "a", "src": "a?", "alt": "b", "answers": ["c"]},\n]\n', 3),
    ('[\n  {"subject": "a", "src": "a?", "alt": "b", "answers": ["c"]}\n  {"subject": "b"}\n]', 3),
])
def test_invalid_json_array(tmp_path, text, line):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordError) as e:
        read_cases(path, fmt="easyedit-zsre")
    assert "not valid JSON" in assert_error(e.value, path, line, "<file>")


def test_a_record_that_is_not_an_object(tmp_path):
    path = write_json(tmp_path / "cf.json", [load("rome-counterfact")[0], ["not", "a", "record"]])
    with pytest.raises(RecordError) as e:
        read_cases(path, fmt="rome-counterfact")
    assert_error(e.value, path, 1, "<record>", index=1)
