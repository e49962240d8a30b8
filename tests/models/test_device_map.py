"""``--device-map``: a model placed by accelerate (its hooks on every mapped module, here with a
CPU-only map) is edited and restored bitwise by editors that write weights and by editors that add
hooks, and a map that offloads weights is refused."""

from __future__ import annotations

import pytest
import torch

from kedit.editors import EDITORS, EditRequest, load_hparams
from kedit.errors import KeditError
from kedit.eval.run import evaluate
from kedit.eval.scoring import teacher_forced
from kedit.models.loading import load_model
from tests.fixtures.hparams import TINY_OVERRIDES

GPT2_MAP = {"transformer.wte": "cpu", "transformer.wpe": "cpu", "transformer.h.0": "cpu", "transformer.h.1": "cpu",
            "transformer.h.2": "cpu", "transformer.h.3": "cpu", "transformer.ln_f": "cpu", "lm_head": "cpu"}


@pytest.fixture(scope="module")
def placed(tiny_kg):
    return load_model(str(tiny_kg.path), device_map=GPT2_MAP)


def hf_hooks(model) -> int:
    return sum(hasattr(m, "_hf_hook") for m in model.modules())


def test_the_map_puts_accelerate_hooks_on_every_mapped_module(placed, tiny_kg):
    model = placed.model
    assert hf_hooks(model) >= len(GPT2_MAP)
    pairs = tiny_kg.facts[:20]
    plain = [s.argmax_ids for s in teacher_forced(tiny_kg.model, tiny_kg.tokenizer, pairs)]
    assert [s.argmax_ids for s in teacher_forced(model, placed.tokenizer, pairs)] == plain


@pytest.mark.parametrize("name", ["rome", "memit", "ft-l", "grace", "t-patcher"])
def test_an_edit_takes_and_restores_bitwise_under_the_hooks(placed, tiny_kg, name, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    model, tok = placed.model, placed.tokenizer
    editor, cls = EDITORS.get(name)(), EDITORS.get(name)
    hp = load_hparams(cls.hparams_cls, name, model, TINY_OVERRIDES[name])
    editor.prepare(model, tok, hp)
    case = next(c for c in tiny_kg.cases if len(tok(" " + c.target_new)["input_ids"]) == 1)
    req = EditRequest(case.prompt, case.subject, case.target_new, case.target_true, case.case_id)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    tree = [n for n, _ in model.named_modules()]
    hooks = hf_hooks(model)
    [before] = teacher_forced(model, tok, [(case.prompt, case.target_new)])
    result = editor.edit(model, tok, [req], hp)
    [after] = teacher_forced(model, tok, [(case.prompt, case.target_new)])
    result.restore()
    assert after.logprob > before.logprob + 1.0, (name, before.logprob, after.logprob)
    assert [n for n, _ in model.named_modules()] == tree and hf_hooks(model) == hooks
    now = model.state_dict()
    assert now.keys() == state.keys() and all(torch.equal(now[k], v) for k, v in state.items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_a_run_on_the_placed_model(placed, tiny_kg, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    rep = evaluate(placed.model, placed.tokenizer, tiny_kg.cases[:2], ["rome"], hparams={"rome": TINY_OVERRIDES["rome"]},
                   generate=False, progress=False)
    assert not rep.failed and rep.config["runtime"]["device"] == "cpu"


def test_a_map_that_offloads_weights_is_refused(tiny_kg):
    with pytest.raises(KeditError, match="offloads modules to disk.*every weight"):
        load_model(str(tiny_kg.path), device_map={**GPT2_MAP, "transformer.h.3": "disk"})
