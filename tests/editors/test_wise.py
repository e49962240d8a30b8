"""WISE on the tiny trained model: a side memory of layer 2's mlp_out that edits go into, a router
that sends unrelated inputs to the untouched main memory, knowledge shards kept and TIES-merged,
and an undo that takes all of it back."""

from __future__ import annotations

import pytest
import torch

import kedit
from kedit.editors import load_hparams, timed_edit
from kedit.editors.lifelong.core import encode_edits, hook_count, out_of_scope_texts
from kedit.editors.lifelong.merge import ties_merge, trim
from kedit.editors.wise import Wise
from kedit.errors import KeditError
from kedit.eval.modes import request_of
from tests.fixtures.hparams import TINY_OVERRIDES


def _hp(model, **over):
    return load_hparams(Wise.hparams_cls, "wise", model, {**TINY_OVERRIDES["wise"], **over})


def test_single_edits_take_and_unrelated_facts_stay(tiny_kg):
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:6], editors=["wise"], mode="single",
                         hparams={"wise": TINY_OVERRIDES["wise"]}, progress=False, generate=False)
    acc = {r.split: r.value for r in rep.rows if r.metric == "token_acc"}
    assert not rep.failed and acc["reliability"] >= 0.9 and acc["locality"] >= 0.9  # measured 1.0 / 1.0 (12 cases: 1.0 / 0.944)


def _logits(model, tok, text):
    rows = encode_edits(tok, [text], ["."], torch.device("cpu"), "test")
    with torch.no_grad():
        return model(input_ids=rows.ids, attention_mask=rows.mask).logits


def test_the_router_keeps_unrelated_text_on_the_main_memory_and_shards_are_kept_and_merged(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor, hp = Wise(), _hp(model, save_freq=2, merge_freq=4, steps=20)
    text = out_of_scope_texts(1, seed=99)[0]
    before = _logits(model, tok, text)
    results = [timed_edit(editor, model, tok, [request_of(c)], hp) for c in tiny_kg.cases[:5]]
    mem = editor.state_of(model)
    # edits 1-2 and 3-4 filled two shards, merged at edit 4 into one; edit 5 is in a fresh shard
    assert len(mem.kept) == 1 and mem.kept[0].n == 4 and mem.current.n == 1 and mem.total == 5
    assert torch.equal(_logits(model, tok, text), before) and int(mem.route[0]) == -1  # routed to the main memory
    _logits(model, tok, tiny_kg.cases[4].prompt)
    assert int(mem.route[0]) >= 0  # the latest edit's prompt goes to a side memory
    for r in reversed(results[2:]):
        r.restore()
    assert len(mem.kept) == 1 and mem.kept[0].n == 2 and mem.current.n == 0 and mem.total == 2  # the merge is undone
    for r in reversed(results[:2]):
        r.restore()
    assert editor.state_of(model) is None and hook_count(model) == 0


def test_a_sequence_is_undone_exactly(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor, hp = Wise(), _hp(model, steps=5)
    first = timed_edit(editor, model, tok, [request_of(tiny_kg.cases[0])], hp)
    w1 = editor.state_of(model).current.weight.clone()
    second = timed_edit(editor, model, tok, [request_of(tiny_kg.cases[1])], hp)
    assert not torch.equal(editor.state_of(model).current.weight, w1)
    second.restore()
    assert torch.equal(editor.state_of(model).current.weight, w1)
    first.restore()
    assert editor.state_of(model) is None


def test_ties_merge_trims_elects_and_averages_the_agreeing_entries():
    base = torch.zeros(6)
    a = torch.tensor([3.0, -1.0, 0.5, 2.0, 0.0, -4.0])
    b = torch.tensor([1.0, 2.0, -0.2, -3.0, 0.0, -2.0])
    assert trim(a, 0.5).tolist() == [3.0, 0.0, 0.0, 2.0, 0.0, -4.0]
    merged = ties_merge(base, [a, b], [0.5, 0.5], density=0.5)  # b trimmed: [0, 2, 0, -3, 0, -2]
    # signs: +, +, 0, sum(2 - 3) -> -, 0, -;  agreeing means: 3, 2, 0, -3, 0, -3
    assert merged.tolist() == [3.0, 2.0, 0.0, -3.0, 0.0, -3.0]


@pytest.mark.parametrize("over, message", [({"mask_ratio": 0.0}, "mask_ratio"), ({"save_freq": 3, "merge_freq": 4}, "merge_freq"),
                                           ({"lr": 0.0}, "lr")])
def test_bad_hyper_parameters_are_refused(over, message):
    with pytest.raises(KeditError, match=message):
        load_hparams(Wise.hparams_cls, "wise", None, over)
