"""FT-L on the tiny knowledge-graph model: the edit takes, unrelated facts stay, the norm constraint
holds, batches work, and restore() is bitwise."""

from __future__ import annotations

import pytest
import torch

from kedit.editors import EDITORS, EditRequest, load_hparams, timed_edit
from kedit.editors.ft_l import FTLHyperParams, tuned_weights
from kedit.errors import KeditError, RunError
from kedit.eval.scoring import teacher_forced
from tests.fixtures.hparams import TINY_OVERRIDES

# Fits the 4-layer, 128-wide tinykg GPT-2, which recalls facts at the prompt's last token (its
# weights are larger than a real model's, so the ball is wider). Measured over all 45 cases:
# reliability 1.00 (45/45, smallest log-prob margin over the runner-up 1.3 nats, 3.2 on the first 9),
# generalization 1.00, unrelated-fact locality 0.93; same-relation neighbours keep ~0.83 (FT-L's
# known over-generalisation). At lr 2e-2, radius 2e-2 left 13 edits behind and 5e-2 one; layers 0-2
# reached 45/45 only where same-relation neighbours kept <= 0.79.
TINY = TINY_OVERRIDES["ft-l"]


def request_of(case) -> EditRequest:
    return EditRequest(case.prompt, case.subject, case.target_new, case.target_true, case.case_id)


def params_of(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def assert_bitwise(model, saved: dict[str, torch.Tensor]) -> None:
    for n, p in model.named_parameters():
        assert torch.equal(p, saved[n]), n


def agreement(before, after) -> float:
    """Share of target positions whose argmax is unchanged (EasyEdit's locality)."""
    pairs = [(b, a) for x, y in zip(before, after) for b, a in zip(x.argmax_ids, y.argmax_ids)]
    return sum(b == a for b, a in pairs) / len(pairs)


def unrelated_probes(case) -> list[tuple[str, str]]:
    """Locality probes about another subject and another relation (no competing new answer)."""
    return [(p.prompt, p.answers[0]) for p in case.probes_of("locality") if p.foil is None]


@pytest.fixture
def ftl():
    return EDITORS.get("ft-l")()


@pytest.fixture
def hp(tiny_kg):
    return load_hparams(FTLHyperParams, "ft-l", tiny_kg.model, TINY)


def test_single_edits_take_and_unrelated_facts_stay(tiny_kg, ftl, hp):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    cases = tiny_kg.cases[:9]  # one per base relation (two-token person names among the targets)
    saved = params_of(model)
    locality = []
    for case in cases:
        keep = unrelated_probes(case)
        before = teacher_forced(model, tok, keep)
        result = timed_edit(ftl, model, tok, [request_of(case)], hp)
        try:
            (rel,) = teacher_forced(model, tok, [(p.prompt, p.answers[0]) for p in case.probes_of("reliability")])
            gen = teacher_forced(model, tok, [(p.prompt, p.answers[0]) for p in case.probes_of("generalization")])
            assert rel.token_accuracy == 1.0, case.case_id
            assert sum(g.token_accuracy for g in gen) / len(gen) >= 0.5, case.case_id
            locality.append(agreement(before, teacher_forced(model, tok, keep)))
            assert result.changed == list(tuned_weights(model, hp.layers))
            assert result.info["loss_after"] < result.info["loss_before"]
        finally:
            result.restore()
        assert_bitwise(model, saved)
    assert sum(locality) / len(locality) >= 0.75


def test_restore_is_bitwise_and_flags_are_put_back(tiny_kg, ftl, hp):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    saved = params_of(model)
    result = ftl.edit(model, tok, [request_of(tiny_kg.cases[0])], hp)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, saved[n])}
    assert changed == set(result.changed) == {"transformer.h.3.mlp.c_proj.weight"}  # Conv1D, (in, out)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())
    result.restore()
    assert_bitwise(model, saved)
    result.restore()  # idempotent
    assert_bitwise(model, saved)


def test_norm_constraint_is_respected(tiny_kg, ftl):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    eps = 1e-3
    hp = load_hparams(FTLHyperParams, "ft-l", model, {**TINY, "layers": [1, 3], "norm_constraint": eps, "lr": 1e-2})
    saved = params_of(model)
    result = ftl.edit(model, tok, [request_of(tiny_kg.cases[1])], hp)
    try:
        for n in result.changed:
            delta = (dict(model.named_parameters())[n] - saved[n]).abs().max().item()
            assert delta <= eps * (1 + 1e-5), n  # the projection rounds in float32
            assert delta >= eps * 0.99, n  # lr 10x the radius: the ball's surface is reached
        assert result.info["max_abs_delta"] <= eps * (1 + 1e-5)
    finally:
        result.restore()
    assert_bitwise(model, saved)


def test_constraint_trades_reliability_for_locality(tiny_kg, ftl, hp):
    """Unconstrained fine-tuning over-writes far more than the constrained edit, over 8 cases (one
    case can tie: the tiny model retrained on another CPU gave 1.0 vs 1.0 on case 3; the mean was
    0.75 constrained vs 0.45 free)."""
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    free = load_hparams(FTLHyperParams, "ft-l", model, {**TINY, "norm_constraint": None, "lr": 5e-2})
    scores: dict[str, list[float]] = {"constrained": [], "free": []}
    for case in tiny_kg.cases[:8]:
        keep = [(p.prompt, p.answers[0]) for p in case.probes if p.expect == "keep"]
        before = teacher_forced(model, tok, keep)
        for name, h in {"constrained": hp, "free": free}.items():
            result = ftl.edit(model, tok, [request_of(case)], h)
            try:
                assert teacher_forced(model, tok, [(case.prompt, case.target_new)])[0].token_accuracy == 1.0
                scores[name].append(agreement(before, teacher_forced(model, tok, keep)))
            finally:
                result.restore()
    assert sum(scores["constrained"]) > sum(scores["free"]) + 1.0  # at least one whole case of locality apart


def test_batch_of_edits(tiny_kg, ftl):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    cases = tiny_kg.cases[:5]  # five subjects and relations, one padded batch
    # five edits share one ball: over all 9 batches of 5, the single-edit radius takes 43/45 (7 batches
    # whole), twice it takes all 45
    wide = {**TINY, "norm_constraint": 2 * TINY["norm_constraint"]}
    hp = load_hparams(FTLHyperParams, "ft-l", model, wide)
    saved = params_of(model)
    result = timed_edit(ftl, model, tok, [request_of(c) for c in cases], hp)
    try:
        scores = teacher_forced(model, tok, [(c.prompt, c.target_new) for c in cases])
        assert [s.token_accuracy for s in scores] == [1.0] * len(cases)
        assert result.requests and len(result.requests) == len(cases)
    finally:
        result.restore()
    assert_bitwise(model, saved)

    # the same gradient in memory-bounded chunks: the same edit
    chunked = ftl.edit(model, tok, [request_of(c) for c in cases], load_hparams(FTLHyperParams, "ft-l", model, {**wide, "batch_size": 2}))
    try:
        again = teacher_forced(model, tok, [(c.prompt, c.target_new) for c in cases])
        assert [s.token_accuracy for s in again] == [1.0] * len(cases)
        assert chunked.info["loss_before"] == pytest.approx(result.info["loss_before"], rel=1e-5)
    finally:
        chunked.restore()
    assert_bitwise(model, saved)


def test_early_stop(tiny_kg, ftl):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    hp = load_hparams(FTLHyperParams, "ft-l", model, {**TINY, "num_steps": 50, "early_stop_loss": 0.5})
    result = ftl.edit(model, tok, [request_of(tiny_kg.cases[0])], hp)
    result.restore()
    assert result.info["stopped_early"] and result.info["steps"] < 50
    assert result.info["loss_after"] < 0.5


def test_prompt_last_objective_runs(tiny_kg, ftl):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    hp = load_hparams(FTLHyperParams, "ft-l", model, {**TINY, "objective": "prompt_last"})
    saved = params_of(model)
    case = next(c for c in tiny_kg.cases if c.relation.id in ("located_in", "capital"))  # a one-token target
    result = ftl.edit(model, tok, [request_of(case)], hp)
    try:
        assert teacher_forced(model, tok, [(case.prompt, case.target_new)])[0].token_accuracy == 1.0
    finally:
        result.restore()
    assert_bitwise(model, saved)


def test_hparams_load_strictly(tiny_kg):
    from tests.fixtures.tinykg import tiny_random_model

    default = load_hparams(FTLHyperParams, "ft-l", tiny_kg.model)  # GPT-2 family: no ft-l file, the defaults
    assert default == FTLHyperParams() and default.norm_constraint == 5e-4
    llama = tiny_random_model("LlamaConfig")  # 2 layers: llama.yaml's layer 25 does not fit, said at load
    with pytest.raises(RunError, match=r"'layers' = \[25\].*2 layers.*--hparam ft-l.layers=\[1\]"):
        load_hparams(FTLHyperParams, "ft-l", llama)
    hp = load_hparams(FTLHyperParams, "ft-l", llama, {"layers": "[-1]"})
    assert hp.layers == (-1,) and hp.norm_constraint == 6e-3 and hp.lr == 5e-3 and hp.num_steps == 10
    # YAML 1.1 reads 1e-3 as a string: coerced; null and false mean unconstrained
    over = load_hparams(FTLHyperParams, "ft-l", None, {"lr": "1e-3", "norm_constraint": "null"})
    assert over.lr == 1e-3 and over.norm_constraint is None
    assert load_hparams(FTLHyperParams, "ft-l", None, {"norm_constraint": False}).norm_constraint is None
    with pytest.raises(KeditError, match="did you mean 'lr'"):
        load_hparams(FTLHyperParams, "ft-l", None, {"lrr": 1e-3})
    with pytest.raises(KeditError, match="objective"):
        load_hparams(FTLHyperParams, "ft-l", None, {"objective": "full"})
    with pytest.raises(KeditError, match="norm_constraint must be > 0"):
        FTLHyperParams(norm_constraint=0)


def test_bad_layer_leaves_the_model_alone(tiny_kg, ftl):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    saved = params_of(model)
    with pytest.raises(RunError, match="out of range"):  # load_hparams with the model says it first
        load_hparams(FTLHyperParams, "ft-l", model, {"layers": [7]})
    hp = FTLHyperParams(layers=(7,))  # built without the model: the editor still refuses
    with pytest.raises(KeditError, match="out of range"):
        ftl.edit(model, tok, [request_of(tiny_kg.cases[0])], hp)
    assert_bitwise(model, saved)
    # negative layers count from the top
    assert list(tuned_weights(model, [-1])) == ["transformer.h.3.mlp.c_proj.weight"]
    assert load_hparams(FTLHyperParams, "ft-l", model, {"layers": [-4]}).layers == (-4,)


@pytest.mark.slow
def test_llama_defaults_on_smollm2(ftl, one_thread):
    """The llama.yaml defaults: France -> Rome takes, Germany and the others keep their capitals."""
    from kedit.models import load_model

    lm = load_model("smollm2-135m")
    model, tok = lm.model, lm.tokenizer
    hp = load_hparams(FTLHyperParams, "ft-l", model)
    keep = [(f"The capital of {c} is", a) for c, a in (("Germany", "Berlin"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Japan", "Tokyo"))]
    assert all(s.token_accuracy == 1.0 for s in teacher_forced(model, tok, keep))
    saved = params_of(model)
    result = timed_edit(ftl, model, tok, [EditRequest("The capital of France is", "France", "Rome", "Paris")], hp)
    try:
        new = teacher_forced(model, tok, [("The capital of France is", "Rome"), ("The capital city of France is", "Rome")])
        assert [s.token_accuracy for s in new] == [1.0, 1.0]
        assert all(s.token_accuracy == 1.0 for s in teacher_forced(model, tok, keep))
        assert result.info["max_abs_delta"] <= hp.norm_constraint * (1 + 1e-5)
    finally:
        result.restore()
    assert_bitwise(model, saved)
