"""Editors on a bfloat16 model: the algebra runs in float32/float64 and the update is written back in
bfloat16, so ROME's rank-one update still maps k* to v₀ + δ and spares keys orthogonal to C⁻¹k*,
within bfloat16's rounding of the weights; restore is bitwise."""

from __future__ import annotations

import copy

import pytest
import torch

from kedit.editors import EDITORS
from kedit.editors import rome as rome_mod
from kedit.eval.scoring import teacher_forced
from kedit.models.roles import module_at
from tests.editors.test_rome import request_of, single_token_cases, tiny_hparams


@pytest.fixture
def bf16_kg(tiny_kg, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    return copy.copy(tiny_kg), copy.deepcopy(tiny_kg.model).to(torch.bfloat16)


def test_rome_in_bfloat16_meets_its_algebra(bf16_kg):
    kg, model = bf16_kg
    tok = kg.tokenizer
    kg.model = model
    editor, hp = EDITORS.get("rome")(), tiny_hparams(kg)
    editor.prepare(model, tok, hp, texts=kg.corpus)
    state = editor._state(model, tok, hp)
    assert state.C.dtype == torch.float64
    req = request_of(single_token_cases(kg, 1)[0])
    prompts = [t.format(req.template) for t in state.templates]
    k_star, v0 = rome_mod.key_and_value(model, tok, prompts, req.subject, hp)  # float32 from a bfloat16 model
    assert k_star.dtype == torch.float32
    u = torch.linalg.solve(state.C, k_star.double())
    other = torch.randn(k_star.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    other = other - (u @ other) / (u @ k_star.double()) * k_star.double()  # (C⁻¹k*)ᵀ other = 0
    proj = module_at(model, "mlp_out", hp.layer)
    w0 = proj.weight.detach().clone()

    def out(k):  # the projection in float64 of the stored (bfloat16) weights: only their rounding counts
        w = proj.weight.double()
        return k.double() @ w + proj.bias.double()  # GPT-2's Conv1D stores (in, out)

    out_other = out(other)
    result = editor.edit(model, tok, [req], hp)
    try:
        assert proj.weight.dtype == torch.bfloat16
        delta = out(k_star) - v0.double()
        want = result.info["requests"][0]["delta_norm"]
        # bfloat16 rounds each written weight to 2⁻⁸ of itself: the error is that of |W k*|, not of |δ|
        tol = 2 ** -8 * (w0.double().abs() @ torch.ones(w0.shape[1], dtype=torch.float64)).max() * k_star.abs().max()
        assert abs(delta.norm().item() - want) <= max(0.05 * want, tol.item()), (delta.norm().item(), want, tol.item())
        # a key C-orthogonal to k* moves by bfloat16's rounding only (0.15 here), not by the update (|δ| 66)
        assert (out(other) - out_other).norm() <= 0.01 * want
        [after] = teacher_forced(model, tok, [(req.template.format(req.subject), req.target_new)])
        assert after.exact
    finally:
        result.restore()
    assert torch.equal(proj.weight, w0) and proj.weight.dtype == torch.bfloat16
