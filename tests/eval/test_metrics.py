from dataclasses import replace

from kedit.eval.metrics import (METRICS, Answers, MetricValue, exact_match, natural_stop, normalize, primary_metric, probe_values,
                                squad_normalize, starts_with_answer)
from kedit.eval.scoring import TargetScore
from kedit.records import Probe


def ts(target, argmax, lps):
    return TargetScore(tuple(target), tuple(argmax), tuple(lps))


def test_generation_match_uses_aliases_and_word_boundaries():
    assert starts_with_answer(" The United States of America.", ("USA", "United States"))
    assert starts_with_answer(" paris, France", ("Paris",))
    assert not starts_with_answer(" Parisian food", ("Paris",))
    assert not starts_with_answer(" Rome", ("Paris",))
    assert normalize(" An Apple.") == "apple"


def test_new_probe_scored_against_gold_keep_probe_against_unedited_outputs():
    new = Probe("reliability", "p", ("Rome",), "new", foil="Paris")
    pre = Answers(ts([5, 6], [1, 6], [-3.0, -1.0]), ts([7], [7], [-0.1]), generated=" Paris", generated_ids=(7,))
    post = Answers(ts([5, 6], [5, 6], [-0.1, -0.1]), ts([7], [5], [-4.0]), generated=" Rome", generated_ids=(5,))
    v = probe_values(new, post, pre)
    assert v["token_acc"] == MetricValue(post=1.0, pre=0.5)
    assert v["prob_cmp"] == MetricValue(post=1.0, pre=0.0)
    assert v["gen_match"] == MetricValue(post=1.0, pre=0.0)

    keep = Probe("locality", "q", ("Berlin",), "keep")
    pre_k = Answers(ts([9, 10], [3, 10], [-2.0, -0.5]), generated=" x", generated_ids=(3, 4))
    post_k = Answers(ts([9, 10], [3, 11], [-2.0, -0.5]), generated=" x", generated_ids=(3, 4))
    v = probe_values(keep, post_k, pre_k)
    assert v["token_acc"] == MetricValue(post=0.5)  # agreement with the unedited argmax, not the gold
    assert v["gen_match"] == MetricValue(post=1.0)
    # keval run --no-generate: the post-edit answers carry no generation, so no generation metric
    assert "gen_match" not in probe_values(keep, replace(post_k, generated=None, generated_ids=None), pre_k)


def test_multiple_choice_before_and_after():
    p = Probe("commonsense", "To open a jar,", ("twist the lid",), "keep", choices=("twist the lid", "freeze it"))
    pre = Answers(choices=[ts([1], [1], [-1.0]), ts([2], [2], [-3.0])])
    post = Answers(choices=[ts([1], [1], [-5.0]), ts([2], [2], [-3.0])])
    assert probe_values(p, post, pre) == {"mc_acc": MetricValue(post=0.0, pre=1.0)}


def test_every_registered_metric_computes_or_declines_on_each_kind_of_probe():
    """Contract over METRICS.names(): a description, and compute() returns a MetricValue in [0, 1] or None."""
    new = Probe("reliability", "p", ("Rome",), "new", foil="Paris")
    keep = Probe("locality", "q", ("Berlin",), "keep")
    mc = Probe("commonsense", "To open a jar,", ("twist the lid",), "keep", choices=("twist the lid", "freeze it"))
    a = Answers(ts([5, 6], [5, 1], [-0.1, -2.0]), ts([7], [7], [-0.5]), choices=[ts([1], [1], [-1.0]), ts([2], [2], [-3.0])],
                generated=" Rome", generated_ids=(5,))
    assert set(METRICS.names()) >= {"token_acc", "prob_cmp", "gen_match", "mc_acc"}
    for name in METRICS.names():
        m = METRICS.get(name)
        assert m.name == name and m.description and callable(m.compute)
        applied = 0
        for probe in (new, keep, mc):
            v = m.compute(probe, a, a)
            if v is not None:
                applied += 1
                assert isinstance(v, MetricValue) and 0.0 <= v.post <= 1.0
        assert applied or m.external, f"metric {name} applies to no kind of probe"
    assert METRICS.get("judge").external  # its values come from the LLM judge (tests/eval/test_judge.py)


def test_gen_em_stops_where_a_reader_would_and_normalises_as_squad():
    assert natural_stop(" Paris. It is a city") == "Paris"
    assert natural_stop(" Washington, D.C. is the seat") == "Washington, D.C"
    assert natural_stop(" 3.14 is pi\nmore") == "3.14 is pi"
    assert natural_stop("\n London\nBerlin") == "London"
    assert squad_normalize(" The  United-Kingdom!") == "unitedkingdom" and squad_normalize("an Apple") == "apple"
    assert exact_match(" Paris. The capital", ("Paris",))
    assert exact_match(" the United Kingdom.", ("UK", "United Kingdom"))
    assert not exact_match(" Paris, the capital of", ("Paris",))  # the sentence goes on: not an exact answer
    assert not exact_match(" Parisian", ("Paris",)) and not exact_match(" ", ("Paris",))


def test_gen_em_new_and_keep_probes_and_the_headline_choice():
    new = Probe("one_hop", "p", ("Rome", "Roma"), "new")
    pre = Answers(ts([5], [1], [-3.0]), generated=" Paris is big", generated_ids=(7, 8, 9))
    post = Answers(ts([5], [5], [-0.1]), generated=" Roma.", generated_ids=(5, 6))
    assert probe_values(new, post, pre)["gen_em"] == MetricValue(post=1.0, pre=0.0)
    keep = Probe("locality", "q", ("Berlin",), "keep")
    pre_k = Answers(ts([9], [9], [-0.5]), generated=" Berlin. Then", generated_ids=(9, 1))
    post_k = Answers(ts([9], [9], [-0.5]), generated=" Berlin. Now", generated_ids=(9, 2))
    assert probe_values(keep, post_k, pre_k)["gen_em"] == MetricValue(post=1.0)  # same answer, other continuation
    assert probe_values(keep, post_k, pre_k)["gen_match"] == MetricValue(post=0.0)  # token-for-token is stricter
    assert primary_metric("locality") == "gen_em" and primary_metric("locality", {"token_acc"}) == "token_acc"
    assert primary_metric("commonsense") == "mc_acc"
