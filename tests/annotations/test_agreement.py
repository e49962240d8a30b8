import random

import pytest

from kedit.annotations.agreement import (adjudicate, cohen_kappa, count_table, fleiss_kappa, fluency_figures, kappa_of,
                                         percent_agreement)

# Fleiss (1971) as tabulated on Wikipedia ("Fleiss' kappa", worked example): 10 items, 14 raters, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_textbook_example():
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.20993, abs=5e-5)  # P_bar 0.378, P_e 0.213


def _pairs(yy, yn, ny, nn):
    a = ["yes"] * (yy + yn) + ["no"] * (ny + nn)
    b = ["yes"] * yy + ["no"] * yn + ["yes"] * ny + ["no"] * nn
    return a, b


@pytest.mark.parametrize("cells,expected", [
    ((20, 5, 10, 15), 0.4),  # Wikipedia "Cohen's kappa", simple example: p_o 0.7, p_e 0.5
    ((45, 15, 25, 15), 0.1304),  # same p_o 0.6, different marginals
    ((25, 35, 5, 35), 0.2593),
])
def test_cohen_textbook_examples(cells, expected):
    assert cohen_kappa(*_pairs(*cells)) == pytest.approx(expected, abs=5e-5)


def test_cohen_matches_sklearn_on_random_labels():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    cats = ["correct", "incorrect", "unsure"]
    for _ in range(20):
        a = [rng.choice(cats) for _ in range(50)]
        b = [x if rng.random() < 0.7 else rng.choice(cats) for x in a]
        assert cohen_kappa(a, b) == pytest.approx(sklearn.cohen_kappa_score(a, b), abs=1e-12)


def test_fleiss_is_statsmodels_for_a_constant_number_of_ratings():
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    rng = random.Random(1)
    for n_raters in (2, 3, 5):
        for _ in range(10):
            table = []
            for _ in range(30):
                row = [0, 0, 0]
                for _ in range(n_raters):
                    row[rng.choice([0, 0, 1, 2])] += 1
                table.append(row)
            assert fleiss_kappa(table) == pytest.approx(float(inter_rater.fleiss_kappa(table)), abs=1e-12)


def test_fleiss_with_unequal_ratings_per_item_uses_per_item_counts():
    # statsmodels asserts a constant count; kedit's generalization: P_i with each item's own n_i.
    # items: 3 ratings (2 yes, 1 no) -> P = 2/6; 2 ratings (yes, yes) -> P = 1; 2 ratings (no, no) -> P = 1
    table = [[2, 1], [2, 0], [0, 2]]
    p_bar = (1 / 3 + 1 + 1) / 3
    p_e = (4 / 7) ** 2 + (3 / 7) ** 2
    assert fleiss_kappa(table) == pytest.approx((p_bar - p_e) / (1 - p_e), abs=1e-12)
    assert fleiss_kappa(table + [[1, 0]]) == fleiss_kappa(table)  # a lone rating carries no agreement


def test_undefined_kappas_are_none_where_the_libraries_give_nan(recwarn):
    assert cohen_kappa(["a", "a", "a"], ["a", "a", "a"]) is None
    assert fleiss_kappa([[3, 0], [3, 0]]) is None
    assert fleiss_kappa([[2, 0], [3, 0]]) is None  # unequal counts, still one category
    assert not recwarn.list  # the libraries are not even asked


def test_kappa_edge_cases():
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None  # chance agreement 1: undefined
    assert cohen_kappa(["a", "b"], ["a", "b"]) == 1.0
    assert fleiss_kappa([[2, 0], [0, 2]]) == 1.0
    assert fleiss_kappa([[1, 0]]) is None  # one rating per item: no agreement information
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_fleiss_with_two_raters_is_scotts_pi():
    a, b = _pairs(20, 5, 10, 15)
    table = count_table(zip(a, b), ["yes", "no"])
    # Scott's pi: p_e from the pooled marginals (0.55 yes / 0.45 no) -> (0.7 - 0.505) / 0.495
    assert fleiss_kappa(table) == pytest.approx((0.7 - 0.505) / 0.495)


def test_percent_agreement_and_adjudication():
    assert percent_agreement([["a", "a"], ["a", "b"], ["x"]]) == 50.0
    assert adjudicate(["correct", "correct", "incorrect"]) == "correct"
    assert adjudicate(["correct", "incorrect"]) == "unsure"  # tie
    assert adjudicate(["incorrect"]) == "incorrect"
    assert adjudicate([]) is None


def test_kappa_of_picks_cohen_for_two_annotators_and_fleiss_for_more():
    two = [{"u1": "correct", "u2": "correct"}, {"u1": "incorrect", "u2": "correct"}, {"u1": "incorrect", "u2": "incorrect"},
           {"u1": "correct"}]
    r = kappa_of(two, ["correct", "incorrect", "unsure"])
    assert r["method"] == "cohen" and r["n_annotators"] == 2 and r["n_tasks"] == 3 and r["n_tasks_single_rating"] == 1
    assert r["kappa"] == pytest.approx(cohen_kappa(["correct", "incorrect", "incorrect"], ["correct", "correct", "incorrect"]), abs=1e-4)
    three = [{"u1": "correct", "u2": "correct", "u3": "incorrect"}, {"u1": "incorrect", "u2": "incorrect", "u3": "incorrect"}]
    r = kappa_of(three, ["correct", "incorrect", "unsure"])
    assert r["method"] == "fleiss" and r["kappa"] == r["fleiss_kappa"]


def test_fluency_figures():
    f = fluency_figures([{"a": 5, "b": 4}, {"a": 3, "b": 3}, {"a": 1, "b": 5}, {"a": 2}])
    assert f["pairs"] == 3 and f["percent_exact"] == pytest.approx(33.33) and f["percent_within_1"] == pytest.approx(66.67)
    assert f["mean"] == pytest.approx(23 / 7, abs=1e-3)
