"""Offline: records -> tasks, and exported annotations -> verified records (no server)."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kedit.annotations.config import labeling_config
from kedit.annotations.pull import apply_annotations
from kedit.annotations.tasks import ID_FIELD, PUSH_SPLITS, make_tasks, probe_key
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
    values = {e.get("value") for e in root.iter("Text")}
    assert {"$edit", "$triple", "$question", "$answer"} <= values


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
