"""GRACE on the tiny trained model: a codebook beside layer 2 that answers within its radii, grows,
widens and splits as the paper says, and leaves nothing behind when undone."""

from __future__ import annotations

import pytest
import torch

import kedit
from kedit.editors import load_hparams, timed_edit
from kedit.editors.grace import Grace
from kedit.editors.lifelong.core import hook_count
from kedit.errors import KeditError, RunError
from kedit.eval.modes import request_of
from tests.fixtures.hparams import TINY_OVERRIDES


def _hp(model, **over):
    return load_hparams(Grace.hparams_cls, "grace", model, {**TINY_OVERRIDES["grace"], **over})


def test_single_edits_take_and_unrelated_facts_stay(tiny_kg):
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:12], editors=["grace"], mode="single",
                         hparams={"grace": TINY_OVERRIDES["grace"]}, progress=False, generate=False)
    acc = {r.split: r.value for r in rep.rows if r.metric == "token_acc"}
    assert not rep.failed and acc["reliability"] >= 0.9 and acc["locality"] >= 0.95  # measured 0.958 / 1.0
    assert acc["generalization"] <= 0.5  # ε₀ = 1 covers few paraphrases (0.167): the paper's finding


def test_the_codebook_adds_widens_and_splits(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor, hp = Grace(), _hp(model, eps=3.0)
    case = tiny_kg.cases[0]
    para = next(p.prompt for p in case.probes if p.split == "generalization")
    first = timed_edit(editor, model, tok, [request_of(case)], hp)
    book = editor.state_of(model)
    assert len(book) == 1 and book.eps.tolist() == [3.0]
    d = float(torch.cdist(_key(editor, model, tok, para, hp), book.keys).min())
    assert 0 < d <= 6.0, "the paraphrase's key should lie within ε₀ + ε of the edit's"
    same = kedit.editors.EditRequest(para, case.subject, case.target_new, case_id="same")
    widened = timed_edit(editor, model, tok, [same], hp)
    assert len(book) == 1 and widened.info["n_expanded"] == 1 and float(book.eps[0]) == pytest.approx(max(3.0, d))
    other = kedit.editors.EditRequest(para, case.subject, "Zzyx", case_id="other")
    split = timed_edit(editor, model, tok, [other], hp)
    assert len(book) == 2 and split.info["n_conflicts"] == 1
    assert float(book.eps[0]) + float(book.eps[1]) < float((book.keys[0] - book.keys[1]).norm()) + 1e-6  # no overlap
    split.restore()
    assert len(book) == 1 and float(book.eps[0]) == pytest.approx(max(3.0, d))
    widened.restore()
    assert float(book.eps[0]) == 3.0
    first.restore()
    assert editor.state_of(model) is None


def _key(editor, model, tok, prompt, hp):
    from kedit.editors.lifelong.core import encode_edits
    from kedit.editors.nethook import Trace
    from kedit.models.roles import path_of

    rows = encode_edits(tok, [prompt], ["x"], torch.device("cpu"), "test")
    with torch.no_grad(), Trace(model, path_of(model, hp.role, hp.layer)) as tr:
        model(input_ids=rows.ids, attention_mask=rows.mask)
    return tr.input[0, rows.prompt_last[0]][None]


def test_a_sequence_keeps_earlier_edits_and_restore_removes_the_hook(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    hooks = hook_count(model)
    rep = kedit.evaluate(model, tok, tiny_kg.cases[:30], editors=["grace"], mode="sequential", every=15,
                         hparams={"grace": TINY_OVERRIDES["grace"]}, progress=False, generate=False)
    acc = {r.split: r.value for r in rep.rows if r.metric == "token_acc"}
    assert acc["reliability"] >= 0.9  # the 30 edits are all in the codebook at the end
    assert hook_count(model) == hooks


def test_a_failed_edit_leaves_no_entry(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor = Grace()
    bad = kedit.editors.EditRequest(tiny_kg.cases[1].prompt, tiny_kg.cases[1].subject, "", case_id="empty")
    with pytest.raises(KeditError, match="empty"):
        timed_edit(editor, model, tok, [request_of(tiny_kg.cases[0]), bad], _hp(model))
    assert editor.state_of(model) is None and hook_count(model) == 0


@pytest.mark.parametrize("over, message", [({"eps": 0.0}, "eps"), ({"role": "attn"}, "role"), ({"value_init": "hot"}, "value_init")])
def test_bad_hyper_parameters_are_refused(over, message):
    with pytest.raises(KeditError, match=message):
        load_hparams(Grace.hparams_cls, "grace", None, over)


def test_a_layer_the_model_lacks_is_refused(tiny_kg):
    with pytest.raises(RunError, match="layer"):
        _hp(tiny_kg.model, layer=9)


def test_the_bytes_it_adds_are_counted_and_reported(tiny_kg):
    """Each call reports the bytes of parameters added beside the weights; the report shows them per edit."""
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor, hp = Grace(), _hp(model)
    first = timed_edit(editor, model, tok, [request_of(tiny_kg.cases[0])], hp)
    book = editor.state_of(model)
    held = sum(t.numel() * t.element_size() for t in (book.keys, book.values, book.eps))
    assert first.info["added_bytes"] == first.info["held_bytes"] == held > 0 and first.info["edits_in_call"] == 1
    second = timed_edit(editor, model, tok, [request_of(tiny_kg.cases[1])], hp)
    assert second.info["held_bytes"] == first.info["held_bytes"] + second.info["added_bytes"]
    second.restore()
    first.restore()
    rep = kedit.evaluate(model, tok, tiny_kg.cases[:3], editors=["grace"], mode="sequential", hparams={"grace": TINY_OVERRIDES["grace"]},
                         progress=False, generate=False)
    kb = [r.value for r in rep.rows if r.split == "efficiency" and r.metric == "added_kb_per_edit"]
    assert len(kb) == 1 and kb[0] > 0
    assert all(r.edit_info.get("edits_in_call") == 1 for r in rep.results)
