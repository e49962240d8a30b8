"""CaliNet on the tiny trained model: a calibration FFN of new slots beside the last FFN, trained on a
call's facts with the model frozen, removed by restore()."""

from __future__ import annotations

import pytest

import kedit
from kedit.editors import load_hparams, timed_edit
from kedit.editors.calinet import CaliNet
from kedit.editors.lifelong.core import hook_count
from kedit.errors import KeditError
from kedit.eval.modes import request_of
from tests.fixtures.hparams import TINY_OVERRIDES


def _acc(rep):
    return {r.split: r.value for r in rep.rows if r.metric == "token_acc"}


def test_single_and_batch_calibration_write_the_facts(tiny_kg):
    kw = dict(hparams={"calinet": TINY_OVERRIDES["calinet"]}, progress=False, generate=False)
    single = _acc(kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:6], editors=["calinet"], mode="single", **kw))
    assert single["reliability"] >= 0.9 and single["locality"] >= 0.9  # 12 cases: 1.0 / 1.0
    batch = _acc(kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:12], editors=["calinet"], mode="batch",
                                batch_size=12, **kw))
    assert batch["reliability"] >= 0.9 and batch["generalization"] >= 0.9  # measured 1.0 / 1.0 (locality 0.306)


def test_each_call_adds_its_slots_and_restore_takes_them_back(tiny_kg):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    hp = load_hparams(CaliNet.hparams_cls, "calinet", model, {**TINY_OVERRIDES["calinet"], "slots": 8})
    editor, hooks = CaliNet(), hook_count(model)
    # two facts in 8 slots (held in 14 steps; three, cases 0-2, need 12 slots on some machines' tiny model)
    first = timed_edit(editor, model, tok, [request_of(c) for c in tiny_kg.cases[:2]], hp)
    try:
        second = timed_edit(editor, model, tok, [request_of(tiny_kg.cases[3])], hp)
        try:
            assert len(editor.state_of(model)) == 16 and first.info["n_slots"] == 8 and first.info["held"]
            assert first.info["added_bytes"] == 8 * 4 * (128 + 1 + 128)
        finally:
            second.restore()  # the shared tiny model gets its slots back even when an assertion fails
        assert len(editor.state_of(model)) == 8
    finally:
        first.restore()
    assert editor.state_of(model) is None and hook_count(model) == hooks


@pytest.mark.parametrize("over", [{"slots": 0}, {"lr": 0.0}, {"init_std": -1.0}])
def test_bad_hyper_parameters_are_refused(over):
    with pytest.raises(KeditError, match="calinet"):
        load_hparams(CaliNet.hparams_cls, "calinet", None, over)
