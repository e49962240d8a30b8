"""The RippleEdits reader on a fixture in the authors' format (tests/data/rippleedits.json, written for kedit
with the field structure of edenbiran/RippleEdits src/benchmark.py, testcase.py, query.py and fact.py)."""

import logging

import pytest

from kedit.records import read_cases
from tests.records.changed import error_of_changed

FIXTURE = "tests/data/rippleedits.json"


def test_axes_map_to_splits_with_conditions_and_the_axis_kept(caplog):
    with caplog.at_level(logging.WARNING):
        cases = read_cases(FIXTURE)  # detected
    assert [c.case_id for c in cases] == ["rippleedits-0", "rippleedits-1"]
    c = cases[0]
    assert (c.subject, c.prompt, c.target_new, c.target_true) == (
        "Leonardo DiCaprio", "The name of the country of citizenship of Leonardo DiCaprio is", "Syria", "United States of America")
    assert c.relation.id == "COUNTRY_OF_CITIZENSHIP" and c.relation.template == "The name of the country of citizenship of {} is"
    by = {}
    for p in c.probes:
        by.setdefault(p.split, []).append(p)
    assert [p.prompt for p in by["reliability"]] == [c.prompt] and by["reliability"][0].foil == "United States of America"
    assert len(by["subject_replace"]) == 2 and all(p.answers == ("Syria", "Syrian Arab Republic") for p in by["subject_replace"])
    hop = by["one_hop"][0]
    assert hop.answers == ("Damascus", "Dimashq") and hop.provenance["axis"] == "Compositionality_I"
    assert [(k.prompt, k.answers) for k in hop.conditions] == [("The name of the capital city of Syria is", ("Damascus", "Dimashq"))]
    spec = by["other_relation"][0]
    assert spec.expect == "keep" and spec.provenance["axis"] == "Relation_Specificity" and spec.provenance["test_condition"] == "OR"
    forget = [p for p in cases[1].probes if p.provenance.get("axis") == "Forgetfulness"][0]
    assert forget.split == "other_relation" and forget.answers == ("Byron King-Noel", "Anne Blunt", "Lady Anne Blunt")
    comp2 = [p for p in cases[1].probes if p.provenance.get("axis") == "Compositionality_II"][0]
    assert comp2.split == "one_hop" and comp2.provenance["test_condition"] == "AND" and len(comp2.conditions) == 1
    # Logical_Generalization has no kedit split: kept in provenance and counted; recent facts skipped and counted
    assert all("Logical_Generalization" in x.provenance["source_unread"] for x in cases)
    assert "2 Logical_Generalization test(s) map to no kedit split" in caplog.text
    assert "skipped 1 record(s) of recently added facts" in caplog.text
    assert read_cases(FIXTURE, fmt="rippleedits") == cases


@pytest.mark.parametrize("change, field", [
    (lambda r: r["edit"].update(relation="PLAYS_CHESS_WITH"), "edit.relation"),
    (lambda r: r["edit"].update(prompt="Leonardo DiCaprio is a citizen of Syria."), "edit.prompt"),
    (lambda r: r["Subject_Aliasing"][0]["test_queries"][0].update(answers="Syria"), "Subject_Aliasing[0].test_queries[0].answers"),
    (lambda r: r["Compositionality_I"][0]["condition_queries"][0]["answers"][0].update(aliases="Dimashq"),
     "Compositionality_I[0].condition_queries[0].answers[0].aliases"),
    (lambda r: r.update(Relation_Specificity={"test_queries": []}), "Relation_Specificity"),
])
def test_a_bad_record_names_its_field_and_place(change, field, tmp_path):
    err = error_of_changed(FIXTURE, "rippleedits", change, tmp_path)
    assert field in err and "record [0]" in err
