"""Offline: records -> tasks, and exported annotations -> verified records (no server)."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kedit.annotations.config import DETAILS, labeling_config
from kedit.annotations.pull import apply_annotations
from kedit.annotations.tasks import (
    BADGE,
    ID_FIELD,
    PUSH_SPLITS,
    KGNames,
    make_tasks,
    probe_key,
)
from kedit.records import Condition, EditCase, Probe, Relation
from kedit.records.jsonl import read_jsonl

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "bench.jsonl"


@pytest.fixture(scope="module")
def demo():
    return read_jsonl(DEMO)[:3]


def test_config_is_wellformed_and_names_the_controls():
    root = ET.fromstring(labeling_config())
    names = {e.get("name"): e.tag for e in root.iter() if e.get("name")}
    assert names["verdict"] == "Choices" and names["fluency"] == "Rating"
    assert names["question_fix"] == names["answer_fix"] == "TextArea"
    verdict = next(e for e in root.iter("Choices"))
    assert verdict.get("required") == "true" and [c.get("value") for c in verdict] == ["correct", "incorrect", "unsure"]
    objects = {e.get("name"): (e.tag, e.get("value")) for e in root.iter() if e.tag in ("Text", "HyperText")}
    assert objects["question"] == ("Text", "$question") and objects["answer"] == ("Text", "$answer")
    assert objects["triple"] == ("HyperText", "$view_head") and objects["evidence"] == ("HyperText", "$view_evidence")
    assert {c.get("toName") for c in root.iter() if c.get("toName")} <= set(objects)  # the kedit-verify/1 targets
    panel = next(root.iter("Panel"))
    assert panel.get("value") == "details" and len(list(panel.iter("Header"))) == len(DETAILS)


def test_tasks_one_per_generated_probe_with_stable_ids(demo):
    tasks = make_tasks(demo)
    expected = sum(1 for c in demo for p in c.probes if p.split in PUSH_SPLITS)
    assert len(tasks) == expected
    assert {t["data"]["split"] for t in tasks} == set(PUSH_SPLITS)
    assert make_tasks(demo) == tasks  # deterministic
    t = tasks[0]["data"]
    case = demo[0]
    probe = case.probes[t["probe_index"]]
    assert t[ID_FIELD] == probe_key(case.case_id, probe.split, probe.prompt, probe.answers)
    assert t["question"] == probe.prompt and t["answer"] == " | ".join(probe.answers)
    assert "Berlin" in t["edit"] and "Paris" in t["edit"]
    hop = next(t["data"] for t in tasks if t["data"]["split"] == "one_hop")
    assert (hop["subject"], hop["relation"], hop["object"]) == ("Berlin", "country", "Germany")
    gen = next(t["data"] for t in tasks if t["data"]["split"] == "generalization")
    assert (gen["subject"], gen["relation"], gen["object"]) == ("France", "capital", "Berlin")
    assert probe_key("c", "s", "p", ["a"]) != probe_key("c", "s", "p", ["b"])


def test_the_view_names_the_world_and_the_fact_each_probe_tests(demo):
    by_split = {}
    for t in make_tasks(demo[:1]):
        by_split.setdefault(t["data"]["split"], t["data"])
    for split in ("generalization", "subject_replace", "reverse_relation", "one_hop"):
        assert by_split[split]["badge"] == BADGE["edited"] == "judge in the EDITED world"
    for split in ("locality", "other_relation", "distract_neighbor"):
        assert by_split[split]["badge"] == BADGE["real"] == "judge in the REAL world"
    # keep probes show their own fact, never the counterfactual edit
    assert by_split["locality"]["fact"] == "The capital of Japan is Tokyo"
    assert by_split["distract_neighbor"]["fact"] == "The capital of Italy is Rome"  # the edit sentence before it left out
    assert "Berlin" not in by_split["distract_neighbor"]["triple"]
    assert by_split["generalization"]["fact"] == "The capital of France is Berlin"
    # one hop: edit -> hop -> answer, the hop being the condition triple
    hop = by_split["one_hop"]
    assert hop["fact"] == "Berlin is in the country of Germany" and hop["prerequisite"] == [
        "Berlin is in the country of Germany   (Berlin, country, Germany)"]
    assert "edit <b>France</b> &mdash;capital&rarr; <b>Berlin</b>" in hop["view_head"]
    assert "hop <b>Berlin</b> &mdash;country&rarr; <b>Germany</b>" in hop["view_head"]
    assert "hand-written" in hop["generator"] and hop["filter"].startswith("not checked")


def _case(**probe_kw):
    probe = Probe(**{"split": "one_hop", "prompt": "The currency of the country whose capital is <b>Paris</b> is",
                     "answers": ("euro",), **probe_kw})
    return EditCase(case_id="c1", subject="Paris", relation=Relation("P1376", "{} is the capital of"), target_true="France",
                    target_new="Italy", prompt="Paris is the capital of", probes=(probe,))


def test_relation_labels_evidence_and_escaping():
    names = KGNames(relations={"currency": ("currency", "The currency of {} is the")}, entities={"italy": "Italy"})
    cond = Condition("The currency of Italy is the", ("euro",), ("Italy", "currency", "euro"))
    kg = {"generator": "kg", "triples": [["italy", "currency", "euro"]], "sources": ["countryinfo"],
          "filter": {"model": "m", "metric": "teacher_forced_exact_match_any_alias", "passed": True}}
    d = make_tasks([_case(conditions=(cond,), provenance=kg)], names=names)[0]["data"]
    assert "P1376" not in d["view_head"] and "Paris &mdash;_ is the capital of&rarr;" in d["view_head"].replace("<b>", "").replace("</b>", "")
    assert d["generator"] == "KG triples (Italy, currency, euro) (source: countryinfo)"
    assert d["filter"] == "m: passed, knows the prerequisite (teacher-forced exact match of any alias)"
    assert "&lt;b&gt;Paris&lt;/b&gt;" not in d["view_head"] and "<b>Paris</b>" in d["question"]  # the question is a Text: not HTML
    llm = {"generator": "openai", "model": "gpt-4o", "prompt_version": "generate.v1", "cache_key": "0123456789abcdef",
           "filter": {"model": "m", "metric": "teacher_forced_exact_match_any_alias", "passed": False,
                      "reason": "condition_unknown", "failed_condition": {"prompt": "The currency of Italy is the",
                                                                          "answers": ["euro"]}}}
    d = make_tasks([_case(conditions=(cond,), provenance=llm)], names=names)[0]["data"]
    assert d["generator"] == "LLM gpt-4o (openai backend), prompt generate.v1, reply 0123456789ab in the LLM cache"
    assert d["filter"] == 'm: FAILED, condition_unknown on "The currency of Italy is the" -> euro (teacher-forced exact match of any alias)'
    evil = _case(split="locality", expect="keep", prompt="<script>alert(1)</script> is", answers=("<img src=x onerror=alert(1)>",),
                 provenance={"source": "<i>x</i>", "filter": {"passed": "yes", "metric": ["odd"]}})
    d = make_tasks([evil], names=names)[0]["data"]
    assert "<script>" not in d["view_head"] + d["view_evidence"] and "<img" not in d["view_head"] + d["view_evidence"]
    assert "&lt;script&gt;" in d["view_head"] and d["filter"].startswith("not checked")


def _ann(aid, user, verdict=None, fluency=None, q=None, a=None, cancelled=False):
    result = []
    if verdict:
        result.append({"from_name": "verdict", "type": "choices", "value": {"choices": [verdict]}})
    if fluency:
        result.append({"from_name": "fluency", "type": "rating", "value": {"rating": fluency}})
    if q:
        result.append({"from_name": "question_fix", "type": "textarea", "value": {"text": [q]}})
    if a:
        result.append({"from_name": "answer_fix", "type": "textarea", "value": {"text": [a]}})
    return {"id": aid, "completed_by": user, "result": result, "was_cancelled": cancelled, "updated_at": f"2026-01-01T00:00:{aid:02d}"}


def test_apply_annotations(demo):
    tasks = make_tasks(demo)
    anns = {}
    # task 0: both correct, annotator 1 fixes the question; task 1: both incorrect -> rejected
    anns[0] = [_ann(1, 1, "correct", 5, q="Which city is the capital of France?"), _ann(2, 2, "correct", 4)]
    anns[1] = [_ann(3, 1, "incorrect", 2), _ann(4, 2, "incorrect", 1)]
    # task 2: tie -> unsure (kept, marked); task 3: answer fix with an alias
    anns[2] = [_ann(5, 1, "correct", 3), _ann(6, 2, "incorrect", 3)]
    anns[3] = [_ann(7, 1, "correct", 5, a="Tokyo | Tokio"), _ann(8, 2, "correct", 5, a="Tokyo | Tokio")]
    # task 4: one annotation lacks the verdict (reported), one cancelled (ignored), the other counts
    anns[4] = [_ann(9, 1, None, 4), _ann(10, 2, "correct", 4), _ann(11, 3, cancelled=True)]
    exported = [{"id": 100 + i, "data": t["data"], "annotations": anns.get(i, [])} for i, t in enumerate(tasks)]
    exported.append({"id": 999, "data": {"text": "added by hand"}, "annotations": []})
    r = apply_annotations(demo, exported)

    def probe_of(i, cases=r.cases):
        d = tasks[i]["data"]
        case = next(c for c in cases if c.case_id == d["case_id"])
        return next(p for p in case.probes if p.provenance.get("annotation", {}).get(ID_FIELD) == d[ID_FIELD])

    p0 = probe_of(0)
    assert p0.prompt == "Which city is the capital of France?"
    assert p0.provenance["annotation"]["corrected"]["prompt"]["from"] == tasks[0]["data"]["question"]
    assert p0.provenance["annotation"]["verdicts"] == ["correct", "correct"] and p0.provenance["annotation"]["fluency"] == [5, 4]
    assert p0.provenance["source"] == "kedit demo, hand-written"  # earlier provenance kept
    rej = probe_of(1, r.rejected)
    assert rej.provenance["annotation"]["adjudicated"] == "incorrect"
    assert probe_of(2).provenance["annotation"]["adjudicated"] == "unsure"
    assert probe_of(3).answers == ("Tokyo", "Tokio")
    assert probe_of(4).provenance["annotation"]["verdicts"] == ["correct"]
    assert [p["annotation"] for p in r.problems if "annotation" in p] == [9]
    assert any(p["task"] == 999 for p in r.problems)
    c = r.counts
    assert (c["correct"], c["incorrect"], c["unsure"], c["rejected"]) == (3, 1, 1, 1)
    assert c["corrected_questions"] == 1 and c["corrected_answers"] == 1
    assert c["unannotated"] == len(tasks) - 5
    assert c["probes_out"] == c["probes_in"] - 1
    reliability = [p for case in r.cases for p in case.probes if p.split == "reliability"]
    assert len(reliability) == 3 and all("annotation" not in p.provenance for p in reliability)
    v = r.agreement["verdict"]
    assert v["method"] == "cohen" and v["n_tasks"] == 4 and v["n_tasks_single_rating"] == 1
    assert v["percent_agreement"] == 75.0

    strict = apply_annotations(demo, exported, drop_unsure=True, drop_unannotated=True)
    assert strict.counts["rejected"] == 2 and strict.counts["probes_out"] == strict.counts["probes_in"] - 2 - (len(tasks) - 5)
