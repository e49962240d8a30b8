"""The MQuAKE reader on a fixture in its README's format (tests/data/mquake.json, written for kedit), and
cases with several edits: kept through JSONL and the Hub export, written in one edit call by keval."""

import json
from dataclasses import replace

import pytest

import kedit
from kedit.eval.modes import edit_requests
from kedit.records import Edit, Probe, read_cases, read_jsonl, write_jsonl
from tests.fixtures.hparams import TINY_OVERRIDES
from tests.records.changed import error_of_changed

FIXTURE = "tests/data/mquake.json"


def test_rewrites_questions_and_hops_map_to_edits_probes_and_conditions():
    a, b = read_cases(FIXTURE)  # detected
    assert (a.case_id, a.subject, a.prompt, a.target_new, a.target_true) == (
        "1561", "Dudley Town F.C.", "Dudley Town F.C. is associated with the sport of", "cricket", "association football")
    assert a.more_edits == (Edit("cricket was created in the country of", "cricket", "Italy", "United Kingdom", "P495"),)
    assert [p.prompt for p in a.probes_of("reliability")] == [a.prompt, "cricket was created in the country of"]
    hops = a.probes_of("one_hop")
    assert len(hops) == 3 and hops[0].answers == ("Rome", "Roma", "the Eternal City") and hops[0].foil == "London"
    assert [c.prompt for c in hops[0].conditions] == ["The capital of Italy is"]  # the new chain's hop no rewrite writes
    assert hops[0].provenance["any_of"] == "questions"
    assert [(p.prompt, p.expect) for p in a.probes_of("locality")] == [
        ("association football was created in the country of", "keep"), ("The capital of United Kingdom is", "keep")]
    assert b.more_edits == () and "orig" in b.provenance["source_extra"]


def test_more_edits_survive_jsonl_and_the_hub_export(tmp_path):
    cases = read_cases(FIXTURE)
    write_jsonl(cases, tmp_path / "b.jsonl")
    assert read_jsonl(tmp_path / "b.jsonl") == cases
    line = json.loads((tmp_path / "b.jsonl").read_text().splitlines()[1])
    assert "more_edits" not in line  # a case with one edit is written as before
    kedit.export_dataset(cases, tmp_path / "hub")
    assert [c.more_edits for c in read_cases(tmp_path / "hub")] == [c.more_edits for c in cases]


def test_a_case_writes_all_its_edits_in_one_call(tiny_kg):
    first, second = tiny_kg.cases[0], tiny_kg.cases[1]
    case = replace(first, more_edits=(Edit(second.prompt, second.subject, second.target_new, second.target_true),),
                   probes=first.probes + (Probe("reliability", second.prompt, (second.target_new,)),))
    w = edit_requests(_ctx(), [case])
    assert [r.prompt for r in w.requests] == [first.prompt, second.prompt]
    for editor in ("ft-l", "rome"):  # one batch; one after another
        rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, [case], editors=[editor], hparams={editor: TINY_OVERRIDES[editor]},
                             progress=False, generate=False)
        rel = [p for r in rep.results for p in r.probes if p.split == "reliability"]
        assert not rep.failed and len(rel) == 2 and all(p.metrics["token_acc"].post >= 0.5 for p in rel), editor


def _ctx():
    class C:
        closure = None
    return C()


@pytest.mark.parametrize("change, field", [
    (lambda r: r.update(requested_rewrite=[]), "requested_rewrite"),
    (lambda r: r["requested_rewrite"][1].update(prompt="cricket was created in"), "requested_rewrite[1].prompt"),
    (lambda r: r["new_single_hops"][2].pop("answer"), "new_single_hops[2].answer"),
    (lambda r: r.update(questions=[]), "questions"),
])
def test_a_bad_record_names_its_field(change, field, tmp_path):
    err = error_of_changed(FIXTURE, "mquake", change, tmp_path)
    assert field in err


REMASTERED = "tests/data/mquake_remastered.json"


def test_the_remastered_format_is_detected_and_maps_as_mquake_does():
    a, b, c = read_cases(REMASTERED)
    assert a.provenance["source_format"] == "mquake-remastered"
    assert (a.target_new, a.target_true, a.relation.id) == ("cricket", "association football", "P641")  # flat *_str fields
    assert a.more_edits == (Edit("cricket was created in the country of", "cricket", "Italy", "United Kingdom", "P495"),)
    assert a.provenance["source_extra"]["split"] == {"100": ["edited"], "1000": ["edited"]}  # kept, not acted on
    orig = read_cases(FIXTURE)[0]  # the same case in MQuAKE's own format gives the same probes
    assert [(p.split, p.prompt, p.answers, p.provenance.get("chain")) for p in a.probes] == [
        (p.split, p.prompt, p.answers, p.provenance.get("chain")) for p in orig.probes]


def test_unedited_questions_keep_the_original_answer_and_the_old_chain():
    a = read_cases(REMASTERED)[0]
    old, new = a.probes_of("one_hop_unedited"), a.probes_of("one_hop")
    assert [p.prompt for p in old] == [p.prompt for p in new]
    assert old[0].answers == ("London", "London UK", "London, England") and old[0].foil == "Rome"
    assert [c.prompt for c in old[0].conditions] == [  # every hop of the old chain must be known
        "Dudley Town F.C. is associated with the sport of", "association football was created in the country of",
        "The capital of United Kingdom is"]
    assert old[0].provenance["chain"] == [["Dudley Town F.C.", "P641", "association football"],
                                          ["association football", "P495", "United Kingdom"], ["United Kingdom", "P36", "London"]]
    assert new[0].provenance["chain"][1] == ["cricket", "P495", "Italy"]


def test_another_cases_edit_of_a_hop_contaminates_the_question():
    from kedit.eval.modes import contamination, edit_triples

    a, b, c = read_cases(REMASTERED)
    unedited = c.probes_of("one_hop_unedited")[0]  # its old chain: (cricket, P495, United Kingdom) ...
    assert "case 1561" in contamination(unedited, edit_triples([a]))  # ... which case 1561 rewrites to Italy
    assert contamination(unedited, edit_triples([b])) is None
    assert contamination(a.probes_of("one_hop")[0], edit_triples([a])) is None  # its own edits are its new chain


def test_more_edits_keep_their_relation_through_jsonl_and_the_hub_export(tmp_path):
    cases = read_cases(REMASTERED)
    write_jsonl(cases, tmp_path / "b.jsonl")
    assert read_jsonl(tmp_path / "b.jsonl") == cases
    kedit.export_dataset(cases, tmp_path / "hub")
    assert [c.more_edits for c in read_cases(tmp_path / "hub")] == [c.more_edits for c in cases]


def test_an_export_written_before_more_edits_had_a_relation_still_reads(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kedit.records.hfdataset import EDITS, data_file

    cases = read_cases(FIXTURE)
    kedit.export_dataset(cases, tmp_path / "hub")
    f = tmp_path / "hub" / data_file(EDITS)
    t = pq.read_table(f)
    old = pa.list_(pa.struct([pa.field(n, pa.string()) for n in ("prompt", "subject", "target_new", "target_true")]))
    rows = [[{k: e[k] for k in ("prompt", "subject", "target_new", "target_true")} for e in v] for v in t.column("more_edits").to_pylist()]
    pq.write_table(t.set_column(t.column_names.index("more_edits"), "more_edits", pa.array(rows, old)), f)
    back = read_cases(tmp_path / "hub")
    assert [c.more_edits for c in back] == [tuple(Edit(e.prompt, e.subject, e.target_new, e.target_true) for e in c.more_edits)
                                           for c in cases]


@pytest.mark.parametrize("change, field", [
    (lambda r: r["requested_rewrite"][0].pop("target_new_str"), "requested_rewrite[0].target_new"),
    (lambda r: r["orig_triples"][1].pop(), "orig_triples[1]"),
    (lambda r: r.update(new_triples_labeled=[]), "new_triples"),
])
def test_a_bad_remastered_record_names_its_field(change, field, tmp_path):
    err = error_of_changed(REMASTERED, "mquake-remastered", change, tmp_path)
    assert field in err
