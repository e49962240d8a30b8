from kedit.eval.metrics import Answers, normalize, probe_values, starts_with_answer
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
    assert v["token_acc"] == {"pre": 0.5, "post": 1.0}
    assert v["prob_cmp"] == {"pre": 0.0, "post": 1.0}
    assert v["gen_match"] == {"pre": 0.0, "post": 1.0}

    keep = Probe("locality", "q", ("Berlin",), "keep")
    pre_k = Answers(ts([9, 10], [3, 10], [-2.0, -0.5]), generated=" x", generated_ids=(3, 4))
    post_k = Answers(ts([9, 10], [3, 11], [-2.0, -0.5]), generated=" x", generated_ids=(3, 4))
    v = probe_values(keep, post_k, pre_k)
    assert v["token_acc"] == {"pre": None, "post": 0.5}  # agreement with the unedited argmax, not the gold
    assert v["gen_match"] == {"pre": None, "post": 1.0}
    assert "gen_match" not in probe_values(keep, post_k, pre_k, generate=False)


def test_multiple_choice_before_and_after():
    p = Probe("commonsense", "To open a jar,", ("twist the lid",), "keep", choices=("twist the lid", "freeze it"))
    pre = Answers(choices=[ts([1], [1], [-1.0]), ts([2], [2], [-3.0])])
    post = Answers(choices=[ts([1], [1], [-5.0]), ts([2], [2], [-3.0])])
    assert probe_values(p, post, pre) == {"mc_acc": {"pre": 1.0, "post": 0.0}}
