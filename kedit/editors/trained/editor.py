"""The editor side of the trained editors: load the artifact once per model, then edit with it.

``TrainedEditor`` keeps one loaded learner per model (weakly keyed) and artifact; ``new_learner``
builds an untrained one for ``keval train``. ``WeightUpdateEditor`` (MEND, KE) writes W − ΔW under a
``ParamSnapshot``, so ``restore()`` is bitwise; a batch is one update from the gradient of all its
edits, and in sequential mode each update starts from the weights the earlier ones left.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from ..base import EditRequest, EditResult, Editor, ParamSnapshot
from .artifact import load_artifact
from .trainer import Learner, model_identity


class TrainedEditor(Editor):
    learner_cls: ClassVar[type[Learner]]

    def __init__(self) -> None:
        self._loaded: "weakref.WeakKeyDictionary[nn.Module, dict[str, Learner]]" = weakref.WeakKeyDictionary()

    @classmethod
    def new_learner(cls, model: nn.Module, tok, hp) -> Learner:
        """An untrained learner, initialised from ``hp.seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hp.seed)
            return cls.learner_cls(model, hp)

    def learner_for(self, model: nn.Module, tok, hp) -> Learner:
        per_model = self._loaded.setdefault(model, {})
        key = repr(hp)  # the artifact is one of its fields
        if key not in per_model:
            learner = self.new_learner(model, tok, hp)
            name, fp = model_identity(model)
            tensors, manifest = load_artifact(hp.artifact, self.name, name, fp, learner.architecture())
            learner.load_learned(tensors)
            learner.to(next(model.parameters()).device)
            learner.eval()
            learner.requires_grad_(False)
            learner.manifest = manifest  # type: ignore[attr-defined]
            per_model[key] = learner
        return per_model[key]

    def prepare(self, model: nn.Module, tok, hp) -> dict[str, Any]:
        learner = self.learner_for(model, tok, hp)
        return {"artifact": str(hp.artifact), "trained_steps": learner.manifest.get("steps")}  # type: ignore[attr-defined]


class WeightUpdateEditor(TrainedEditor):
    supports_batch = True

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp) -> EditResult:
        learner = self.learner_for(model, tok, hp)
        snap = ParamSnapshot(model, learner.names)  # type: ignore[attr-defined]
        try:
            info = learner.apply(model, tok, list(requests))  # type: ignore[attr-defined]
        except BaseException:
            snap.restore()
            raise
        return EditResult(self.name, list(requests), snapshot=snap, info=info)
