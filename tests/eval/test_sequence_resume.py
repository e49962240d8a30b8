"""A sequential run cut short resumes from its last scoring point (kedit.eval.checkpoint) and ends with
the figures of an uninterrupted run, with the state an editor keeps beside the weights (AlphaEdit's
Σ K Kᵀ, UltraEdit's normalisers) saved too; editors whose other state cannot be saved run whole."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import pytest
import torch

import kedit
from kedit.editors.base import EDITORS, EditResult, Editor, register_editor
from tests.fixtures.weight_editors import first_mlp_out
from tests.fixtures.hparams import TINY_OVERRIDES

def _run(tiny_kg, out, name="ft-l", **kw):
    return kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:6], editors=[name], mode="sequential",
                          every=2, hparams={name: TINY_OVERRIDES[name]}, out=out, progress=False, generate=False, **kw)


def _figures(out):
    cases = sorted((json.loads(x) for x in (out / "cases.jsonl").read_text().splitlines()), key=lambda r: r["case_id"])
    probes = [(r["case_id"], p["index"], json.dumps(p.get("metrics"), sort_keys=True)) for r in cases for p in r["probes"]]
    with (out / "decay.csv").open(newline="") as fh:
        decay = sorted((r["n_edits"], r["split"], r["metric"], r["value"], r["n"]) for r in csv.DictReader(fh))
    return probes, decay


@pytest.mark.parametrize("name, side", [("ft-l", set()), ("alphaedit", {"past_kk.1", "past_kk.2"}),
                                        ("ultraedit", {f"norm.512x128.{x}" for x in ("n", "mean", "m2")})])
def test_an_interrupted_sequence_resumes_at_its_checkpoint_with_the_same_figures(name, side, tiny_kg, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))  # AlphaEdit's statistics
    model = tiny_kg.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cls = EDITORS.get(name)
    real_edit, calls, written = cls.edit, [], []

    def edit(self, model, *a, **kw):
        calls.append(1)
        if len(calls) == 5 and edit.cut:
            raise KeyboardInterrupt  # the run is killed during the fifth edit
        result = real_edit(self, model, *a, **kw)
        written.append({n: p.detach().clone() for n, p in model.named_parameters() if n in result.changed})
        return result
    edit.cut = False
    monkeypatch.setattr(cls, "edit", edit)
    _run(tiny_kg, tmp_path / "whole", name)
    assert not list((tmp_path / "whole").glob("sequence-*.pt"))  # removed once the results are written
    whole_last = written[-1]  # the weights the sixth edit wrote

    edit.cut, calls[:] = True, []
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        _run(tiny_kg, out, name)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())  # the model is restored all the same
    ckpt = torch.load(out / f"sequence-{name}.pt", weights_only=True)
    assert len(ckpt["state"]["applied"]) == 4 and ckpt["state"]["tensors"]  # the point after 4 edits
    assert set(ckpt["state"]["side"]) == side  # what the editor keeps beside the weights

    edit.cut, calls[:] = False, []
    _run(tiny_kg, out, name)
    assert len(calls) == 2  # only the edits after the checkpoint are written again
    assert written[-1].keys() == whole_last.keys()  # the last edit writes the same bits as in the whole run
    assert all(torch.equal(written[-1][n], whole_last[n]) for n in whole_last)
    assert _figures(out) == _figures(tmp_path / "whole")
    assert not (out / f"sequence-{name}.pt").exists()
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_a_checkpoint_of_other_settings_is_not_resumed(tiny_kg, tmp_path, monkeypatch, caplog):
    from kedit.eval.checkpoint import SequenceCheckpoint, SequenceState

    out = tmp_path / "run"
    out.mkdir()
    SequenceCheckpoint(out, "ft-l", "another-key").save(
        SequenceState(2, 2, [c.case_id for c in tiny_kg.cases[:2]], {}, {}, {}, {}, [], {}, {}, 0, {}),
        EDITORS.get("ft-l")(), tiny_kg.model, [])
    calls = []
    cls = EDITORS.get("ft-l")
    real_edit = cls.edit
    monkeypatch.setattr(cls, "edit", lambda self, *a, **kw: calls.append(1) or real_edit(self, *a, **kw))
    with caplog.at_level("WARNING"):
        _run(tiny_kg, out)
    assert len(calls) == 6 and "checkpoint of another sequence" in caplog.text


@dataclass(frozen=True)
class _HP:
    pass


class _KeepsState(Editor):
    """Writes a weight and keeps something beside it (an ``undo``) that it cannot save (no ``side_state``)."""

    hparams_cls = _HP

    def edit(self, model, tok, requests, hp):
        w, snap = first_mlp_out(model)
        with torch.no_grad():
            w.add_(0.01)
        return EditResult(self.name, requests, snap, undo=lambda: None)


def test_an_editor_with_state_outside_the_weights_runs_whole_without_checkpoints(tiny_kg, tmp_path, caplog):
    register_editor("test-keeps-state")(_KeepsState)
    try:
        with caplog.at_level("WARNING"):
            kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:4], editors=["test-keeps-state"],
                           mode="sequential", every=2, out=tmp_path / "run", progress=False, generate=False)
    finally:
        EDITORS.unregister("test-keeps-state")
    assert not list((tmp_path / "run").glob("sequence-*.pt"))
    assert "no checkpoints of this sequence (it keeps state outside the weights)" in caplog.text
