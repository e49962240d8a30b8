"""KN on the tiny trained model: integrated gradients, the neurons it finds, and the edit of their value slots."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import kedit
from kedit.editors import load_hparams, timed_edit
from kedit.editors.kn import KN, activations, attributions, knowledge_neurons
from kedit.errors import KeditError
from kedit.eval.modes import request_of
from kedit.models.text import encode_prompts, encode_targets


def test_single_edits_take_and_are_reported(tiny_kg):
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:12], editors=["kn"], mode="single",
                         progress=False, generate=False)
    assert not rep.failed
    acc = {r.split: r.value for r in rep.rows if r.metric == "token_acc"}
    # measured 0.750 / 0.708 / 0.472 with the committed tiny model (0.833 / 0.833 / 0.444 with one trained on
    # another CPU): KN writes the new answer into every found neuron, neighbours pay for it
    assert acc["reliability"] >= 0.7 and acc["generalization"] >= 0.65
    assert acc["locality"] >= 0.3


def test_attribution_batches_layers_independently_and_is_complete(tiny_kg):
    """Rows of one layer never see another layer's scaling (one pass per layer == all layers in one
    pass), and the attributions of a layer add up to P(answer) − P(answer | that layer's activations
    at 0) (integrated gradients' completeness, up to the Riemann sum's error)."""
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    case = tiny_kg.cases[0]
    ids = encode_prompts(tok, [case.prompt])[0]
    (gold,) = encode_targets(tok, [case.target_true])[0][:1]
    apart = attributions(model, ids, [gold], (0, 1, 2, 3), steps=10, batch_rows=10)
    together = attributions(model, ids, [gold], (0, 1, 2, 3), steps=10, batch_rows=40)
    assert torch.allclose(apart, together, atol=1e-6)

    fine = attributions(model, ids, [gold], (1,), steps=400, batch_rows=400)[0]
    acts = activations(model, ids, (1,))[1]

    def p_answer(scale: float) -> float:
        h = model.transformer.h[1].mlp.c_proj.register_forward_pre_hook(
            lambda _m, inp: (torch.cat([inp[0][:, :-1], scale * acts[None, None].to(inp[0].dtype)], 1),))
        try:
            with torch.no_grad():
                return float(torch.softmax(model(torch.tensor([ids])).logits[0, -1], -1)[gold])
        finally:
            h.remove()

    assert float(fine.sum()) == pytest.approx(p_answer(1.0) - p_answer(0.0), abs=0.02)


def test_neurons_above_the_adaptive_threshold_strongest_first():
    attr = torch.tensor([[0.1, 1.0, 0.0], [0.5, 0.25, -2.0]])
    assert knowledge_neurons(attr, (4, 7), 0.2) == [(4, 1), (7, 0), (7, 1)]
    assert knowledge_neurons(attr, (4, 7), 0.2, max_neurons=2) == [(4, 1), (7, 0)]
    assert knowledge_neurons(-attr.abs(), (4, 7), 0.2) == []


def test_only_found_neurons_change_and_restore_is_bitwise(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    hp = load_hparams(KN.hparams_cls, "kn", model, {})
    before = {n: p.clone() for n, p in model.named_parameters()}
    res = timed_edit(KN(), model, tok, [request_of(tiny_kg.cases[1])], hp)
    assert res.info["neurons"] > 0
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == set(res.changed)
    for name in changed:  # GPT-2's Conv1D: a neuron's value slot is a row of c_proj's (d_ff, d_model) weight
        rows = (model.get_parameter(name) != before[name]).any(1).sum()
        assert 0 < int(rows) <= res.info["neurons"]
    res.restore()
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_a_case_without_its_true_answer_is_an_error_of_that_case(tiny_kg):
    case = dataclasses.replace(tiny_kg.cases[0], target_true="")
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, [case, tiny_kg.cases[1]], editors=["kn"], mode="single",
                         progress=False, generate=False)
    assert len(rep.failed) == 1 and "true answer" in rep.failed[0].error


@pytest.mark.parametrize("over, message", [({"steps": 1}, "steps"), ({"adaptive_threshold": 1.5}, "adaptive_threshold"),
                                           ({"layers": [9]}, "layer")])
def test_bad_hyper_parameters_are_refused(tiny_kg, over, message):
    with pytest.raises(KeditError, match=message):
        load_hparams(KN.hparams_cls, "kn", tiny_kg.model, over)
