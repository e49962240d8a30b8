"""T-Patcher on the tiny trained model: a neuron per wrong target token beside the last FFN, trained
to fire on the edit and stay silent on a memory of unrelated text, removed by restore()."""

from __future__ import annotations

import pytest
import torch

import kedit
from kedit.editors import load_hparams, timed_edit
from kedit.editors.lifelong.core import hook_count
from kedit.editors.t_patcher import TPatcher
from kedit.errors import KeditError
from kedit.eval.modes import request_of
from tests.fixtures.hparams import TINY_OVERRIDES


def test_single_edits_take_and_unrelated_facts_stay(tiny_kg):
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:6], editors=["t-patcher"], mode="single",
                         hparams={"t-patcher": TINY_OVERRIDES["t-patcher"]}, progress=False, generate=False)
    acc = {r.split: r.value for r in rep.rows if r.metric == "token_acc"}
    assert not rep.failed and acc["reliability"] >= 0.9 and acc["locality"] >= 0.9  # 12 cases: 1.0 / 0.972


def test_one_neuron_per_mistake_that_fires_on_the_edit_and_not_on_the_memory(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor = TPatcher()
    hp = load_hparams(TPatcher.hparams_cls, "t-patcher", model, TINY_OVERRIDES["t-patcher"])
    hooks = hook_count(model)
    results = [timed_edit(editor, model, tok, [request_of(c)], hp) for c in tiny_kg.cases[:3]]
    p = editor.state_of(model)
    assert len(p) == sum(r.info["n_neurons"] for r in results) and all(1 <= r.info["n_neurons"] <= hp.max_neurons for r in results)
    assert all(r.info["held"] for r in results)
    assert results[0].info["added_bytes"] == 4 * results[0].info["n_neurons"] * (2 * 128 + 1)
    a_mem = p.memory @ p.keys.T + p.bias  # (M, n): the memory's pre-activations stay low
    assert float((a_mem < 0).float().mean()) > 0.95
    results[2].restore()
    assert len(p) == results[0].info["n_neurons"] + results[1].info["n_neurons"]
    results[1].restore()
    results[0].restore()
    assert editor.state_of(model) is None and hook_count(model) == hooks


def test_an_edit_the_model_already_makes_adds_no_neuron(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    case = tiny_kg.cases[0]
    known = kedit.editors.EditRequest(case.prompt, case.subject, case.target_true, case_id="known")
    hp = load_hparams(TPatcher.hparams_cls, "t-patcher", model, TINY_OVERRIDES["t-patcher"])
    editor = TPatcher()
    res = timed_edit(editor, model, tok, [known], hp)
    assert res.info["n_neurons"] == 0
    res.restore()
    assert editor.state_of(model) is None


@pytest.mark.parametrize("over, message", [({"lr": 0.0}, "lr"), ({"max_neurons": 0}, "max_neurons"), ({"memory_texts": 0}, "memory_texts")])
def test_bad_hyper_parameters_are_refused(over, message):
    with pytest.raises(KeditError, match=message):
        load_hparams(TPatcher.hparams_cls, "t-patcher", None, over)


def test_an_edit_that_does_not_converge_is_counted_or_failed(tiny_kg):
    """One training step cannot make the patch hold: scored and counted by default, a failed case with
    ``unconverged=fail`` (undone; the run goes on)."""
    import kedit

    over = {**TINY_OVERRIDES["t-patcher"], "steps": 1}
    cases = tiny_kg.cases[:3]
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, cases, editors=["t-patcher"], hparams={"t-patcher": over},
                         progress=False, generate=False)
    n = {r.metric: r.value for r in rep.rows if r.split == "efficiency"}
    assert not rep.failed and n["n_unconverged"] >= 1
    before = [p.clone() for p in tiny_kg.model.parameters()]
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, cases, editors=["t-patcher"],
                         hparams={"t-patcher": {**over, "unconverged": "fail"}}, progress=False, generate=False)
    assert len(rep.failed) == n["n_unconverged"] and all("did not converge" in r.error for r in rep.failed)
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_kg.model.parameters()))
    with pytest.raises(KeditError, match="unconverged must be one of score, fail"):
        kedit.edit(tiny_kg.model, tiny_kg.tokenizer, "t-patcher", cases[0], hparams={**over, "unconverged": "maybe"})
