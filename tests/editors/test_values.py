"""Values (kedit.editors.locate.values): each step runs only the positions from the lookup token on."""

from __future__ import annotations

import pytest
import torch

from kedit.editors.locate.keys import mean_key_value
from kedit.editors.locate.values import ValueJob, ValueSearch, forward_from_lookup, frozen, optimize_residuals_batch
from kedit.eval.modes import request_of
from kedit.models.text import encode_prompts, pad_batch, pad_id

SITE = "transformer.h.2.mlp.c_proj"
PREFIXES = ["{}", "The river runs north. {}", "Yes. {}"]  # context prompts of several lengths


@pytest.mark.parametrize("replay", [True, False])
def test_rows_run_from_their_first_position_give_the_whole_rows_states(tiny_kg, replay):
    """With an edit at each row's first running position, the hidden states of the positions that run
    equal the whole rows' (ragged prefixes, one row with an empty prefix, padding on both sides)."""
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    texts = ["Yes. The river runs north and then south", "A river", "The river runs north"]
    ids, mask = pad_batch(encode_prompts(tok, texts), pad_id(tok))
    first = [3, 0, 2]
    bump = torch.randn(model.config.n_embd) * 0.5

    def edit_at(cols):
        def fn(out):
            add = torch.zeros(out.shape[:2])
            add[torch.arange(len(texts)), cols] = 1
            return out + add[..., None] * bump
        return fn

    with frozen(model), torch.no_grad():
        with forward_from_lookup(model, 2, {SITE: edit_at(torch.tensor(first))}, ids, mask, None, replay) as (run, shift):
            whole = run()
            assert shift.tolist() == [0, 0, 0]
        with forward_from_lookup(model, 2, {SITE: edit_at(torch.zeros(3, dtype=torch.long))}, ids, mask, first,
                                 replay) as (run, shift):
            part = run()
            again = run()  # each call reads a fresh copy of the prefix cache
    assert shift.tolist() == first
    assert part.shape[1] == max(n - f for n, f in zip(mask.sum(1).tolist(), first))
    for r, (n, f) in enumerate(zip(mask.sum(1).tolist(), first)):
        assert torch.allclose(part[r, :n - f], whole[r, f:n], atol=1e-5), r
    assert torch.equal(part, again)


def test_values_optimised_from_the_lookup_token_match_whole_rows(tiny_kg):
    """optimize_residuals_batch gives the same δ, steps and losses with each step running only the
    positions from the lookup token on as with whole rows (float rounding apart)."""
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    jobs = []
    for case in tiny_kg.cases[:3]:
        prompts = [p.format(request_of(case).template) for p in PREFIXES]
        v0 = mean_key_value(model, tok, SITE, prompts, case.subject, "subject_last")[1]
        jobs.append(ValueJob(prompts, case.subject, case.target_new, {SITE: v0}))
    search = ValueSearch(steps=10, lr=0.5, clamp_norm_factor=4.0, stop_nll=0.2)
    kw = dict(layer=2, jobs=jobs, fact_token="subject_last", search=search)
    fast = optimize_residuals_batch(model, tok, from_lookup=True, **kw)
    slow = optimize_residuals_batch(model, tok, from_lookup=False, **kw)
    for (d_fast, i_fast), (d_slow, i_slow) in zip(fast, slow):
        assert i_fast["steps"] == i_slow["steps"]
        assert abs(i_fast["nll_end"] - i_slow["nll_end"]) < 1e-4 and abs(i_fast["kl"] - i_slow["kl"]) < 1e-4
        assert torch.allclose(d_fast[SITE], d_slow[SITE], atol=1e-4, rtol=1e-4)
        assert i_fast["nll_end"] < i_fast["nll_start"]


@pytest.mark.parametrize("config", ["LlamaConfig", "Gemma3TextConfig", "GPTJConfig", "GPTNeoXConfig"])
def test_every_family_runs_from_the_first_position_to_the_same_states(config):
    """The prefix cache, the position ids and the mask give each family's whole-row hidden states."""
    from tests.fixtures.tinykg import build_tokenizer, tiny_random_model

    model, tok = tiny_random_model(config), build_tokenizer()
    texts = ["Yes . The river runs north", "A river", "The river runs north and then south"]
    ids, mask = pad_batch(encode_prompts(tok, texts), pad_id(tok))
    first = [3, 0, 2]
    with frozen(model), torch.no_grad():
        with forward_from_lookup(model, 1, {}, ids, mask, None) as (run, _):
            whole = run()
        with forward_from_lookup(model, 1, {}, ids, mask, first) as (run, shift):
            part = run()
    assert shift.tolist() == first, "the family should take a key/value cache"
    for r, (n, f) in enumerate(zip(mask.sum(1).tolist(), first)):
        assert torch.allclose(part[r, :n - f], whole[r, f:n], atol=1e-5), (config, r)
