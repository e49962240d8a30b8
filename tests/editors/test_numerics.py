"""A diverged update (NaN or Inf in a changed weight) is an error of that edit, undone at once, never a
silent score: checked once, in ``timed_edit``, for every editor."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import kedit
from kedit.editors import EDITORS, EditResult, Editor, register_editor, timed_edit
from kedit.errors import KeditError
from kedit.eval.modes import request_of
from tests.fixtures.weight_editors import first_mlp_out


@dataclass(frozen=True)
class HP:
    value: float = float("nan")


class Diverging(Editor):
    """Writes ``value`` into one weight entry (a stand-in for an optimisation that blew up)."""

    hparams_cls = HP

    def edit(self, model, tok, requests, hp):
        w, snap = first_mlp_out(model)
        with torch.no_grad():
            w[0, 0] = hp.value
        return EditResult(self.name, requests, snap)


@pytest.fixture()
def diverging():
    register_editor("test-diverging")(Diverging)
    yield Diverging
    EDITORS.unregister("test-diverging")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_update_is_undone_and_raised(tiny_kg, diverging, value):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(KeditError, match="NaN or Inf"):
        timed_edit(Diverging(), model, tok, [request_of(tiny_kg.cases[0])], HP(value))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_run_records_the_diverged_cases_and_goes_on(tiny_kg, diverging, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:2], editors=["test-diverging"], progress=False)
    assert len(rep.failed) == 2 and all("NaN or Inf" in r.error for r in rep.failed)
