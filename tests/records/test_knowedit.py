"""The KnowEdit reader on a fixture in its format (tests/data/knowedit.json, written for kedit with the fields
of KnowEdit's WikiData_counterfact, WikiData_recent and ZsRE records as EasyEdit reads them)."""

import logging

import pytest

from kedit.records import read_cases
from tests.records.changed import error_of_changed

FIXTURE = "tests/data/knowedit.json"


def test_fields_map_to_splits_and_what_does_not_map_is_kept_and_counted(caplog):
    with caplog.at_level(logging.WARNING):
        cases = read_cases(FIXTURE)  # detected
    assert [c.case_id for c in cases] == ["knowedit-0", "knowedit-1"]
    a, b = cases
    assert (a.subject, a.target_new, a.target_true) == ("Frederic Piesch", "Archbishop of León, Mexico", "mayor of Vienna")
    splits = lambda c: [(p.split, p.expect, p.provenance.get("axis")) for p in c.probes]  # noqa: E731
    assert splits(a) == [("reliability", "new", None), ("subject_replace", "new", "Subject_Aliasing"),
                         ("other_relation", "keep", "Relation_Specificity"), ("other_relation", "keep", "Forgetfulness")]
    assert ("generalization", "new", None) in splits(b) and ("one_hop", "new", "Reasoning") in splits(b)
    hop = next(p for p in b.probes if p.split == "one_hop")
    assert hop.answers == ("Europe", "European continent", "Old Continent")  # alias lists flattened, gold first
    assert b.target_true == "Potsdam" and "portability.Logical_Generalization" in b.provenance["source_unread"]
    assert "skipped 1 record(s) without ground_truth" in caplog.text
    assert "1 portability.Logical_Generalization test(s) map to no kedit split" in caplog.text


@pytest.mark.parametrize("change, field", [
    (lambda r: r["portability"].update(Telepathy=[]), "portability.Telepathy"),
    (lambda r: r["locality"].update(Relation_Specificity={"prompt": "x"}), "locality.Relation_Specificity"),
    (lambda r: r["locality"]["Forgetfulness"][0].pop("ground_truth"), "locality.Forgetfulness[0].ground_truth"),
    (lambda r: r.update(subject="Nobody"), "subject"),
    (lambda r: r.update(text="A Wikipedia passage", labels="more"), "text"),
])
def test_a_bad_record_names_its_field(change, field, tmp_path):
    err = error_of_changed(FIXTURE, "knowedit", change, tmp_path)
    assert field in err
