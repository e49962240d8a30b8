"""A sequential run's checkpoint: what the sequence has written so far, so that a run cut short
resumes at its last scoring point instead of starting the sequence again.

At every scoring point of ``run_sequential`` in a run folder, ``sequence-<editor>.pt`` is written
(atomically): the turns done, each case's bookkeeping (applied and failed cases, closure sizes,
seconds, edit info, prompts written, the one_hop_unedited answers already asked) and the current
value of every tensor the sequence has changed. On resume those tensors are loaded into the freshly
loaded model (whose values are kept to restore at the end) and the sequence goes on from there: the
figures are the ones an uninterrupted run gives.

An editor that keeps state outside the weights which later edits read (an ``undo``: AlphaEdit's
Σ K Kᵀ, UltraEdit's normalisers) is checkpointed with it where it can save it (``Editor.side_state``,
put back on resume by ``load_side_state``). One that edits in the prompt, keeps its edits beside the
weights (GRACE, WISE, T-Patcher, CaliNet) or keeps side state it cannot save is run whole, as
before, and the run says so.
A checkpoint whose key (editor, hyper-parameters, case order, turn size, scoring interval) does not
match the run is ignored and replaced. It is removed once the sequence's results are written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..editors.base import EditResult, Editor

log = logging.getLogger(__name__)


@dataclass
class SequenceState:
    """Where a sequence stands after ``turns_done`` turns (``n`` cases, failed ones included)."""

    turns_done: int
    n: int
    applied: list[str]
    failed: dict[str, str]
    sizes: dict[str, int | None]
    times: dict[str, float]
    infos: dict[str, dict]
    written: list[str]
    edited: dict[str, list[str]]
    unedited: dict[str, list[dict]]  # case id -> ProbeResult.to_dict() of its one_hop_unedited probes
    peak: int
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # every tensor the sequence changed, as it is now
    side: dict[str, torch.Tensor] = field(default_factory=dict)  # the editor's side_state (AlphaEdit's Σ K Kᵀ)


def sequence_key(editor: str, hp: Any, case_ids: Sequence[str], turn_size: int, every: int) -> str:
    """What a checkpoint must match to be resumed."""
    hps = dataclasses.asdict(hp) if dataclasses.is_dataclass(hp) else hp
    blob = json.dumps({"editor": editor, "hparams": hps, "cases": list(case_ids), "turn_size": turn_size,
                       "every": every}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def side_state(editor: Editor, model: nn.Module, results: Sequence[EditResult]) -> dict[str, torch.Tensor] | str:
    """What a checkpoint must keep beside the weights (``{}``: nothing), or why it cannot be kept."""
    if editor.in_context:
        return "its edits live in the prompt"
    if editor.beside_weights:
        return "its edits live beside the weights"
    if any(r.wrap is not None for r in results):
        return "it keeps state outside the weights"
    if not any(r.undo is not None for r in results):
        return {}
    side = editor.side_state(model)
    return "it keeps state outside the weights" if side is None else side


class SequenceCheckpoint:
    """``sequence-<editor>.pt`` in a run folder."""

    def __init__(self, folder: Path, label: str, key: str) -> None:
        self.path = Path(folder) / f"sequence-{label}.pt"
        self.key = key
        self._state: SequenceState | None = None
        self._loaded = False
        self._warned = False

    def load(self) -> SequenceState | None:
        """The state to resume from, or None (no checkpoint, another run's, or unreadable)."""
        if self._loaded:
            return self._state
        self._loaded = True
        if not self.path.is_file():
            return None
        try:
            blob = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 -- a file cut short: the sequence starts again
            log.warning("%s cannot be read (%s); the sequence starts again", self.path, e)
            return None
        if blob.get("key") != self.key:
            log.warning("%s is the checkpoint of another sequence (other settings or cases); the sequence starts "
                        "again", self.path)
            return None
        self._state = SequenceState(**blob["state"])
        return self._state

    def applied(self) -> int | None:
        """Edits applied at the checkpoint (the decay points after it are dropped), or None."""
        st = self.load()
        return len(st.applied) if st is not None else None

    def save(self, state: SequenceState, editor: Editor, model: nn.Module, results: Sequence[EditResult]) -> bool:
        side = side_state(editor, model, results)
        if isinstance(side, str):
            if not self._warned:
                log.warning("%s: no checkpoints of this sequence (%s): an interrupted run starts it again",
                            editor.name, side)
                self._warned = True
            return False
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
        cpu = lambda ts: {k: v.detach().cpu() for k, v in ts.items()}  # noqa: E731
        blob = {"key": self.key, "state": fields | {"tensors": cpu(state.tensors), "side": cpu(side)}}
        torch.save(blob, tmp)
        tmp.replace(self.path)
        return True

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


@torch.no_grad()
def load_tensors(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy the checkpoint's tensors into the model's parameters of the same names."""
    params = dict(model.named_parameters())
    missing = [n for n in tensors if n not in params]
    if missing:
        raise KeyError(f"the checkpoint names parameters this model lacks: {', '.join(missing[:3])}")
    for n, t in tensors.items():
        params[n].copy_(t.to(params[n].device, params[n].dtype))
