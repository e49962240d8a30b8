"""EMMET: Equality-constrained Mass Model Editing (Gupta, Sajnani & Anumanchipalli 2024, "A Unified
Framework for Model Editing"): MEMIT's batch with the least-squares solve replaced by equality
constraints -- each edited key must map exactly to its new value -- at the least ``C``-norm change
(batched ROME):

    Δ = R (Kᵀ C⁻¹ K + λ_e I)⁻¹ Kᵀ C⁻¹,      C = mom2_update_weight · E[k kᵀ]

(``locate.solves.equality_update``; ``λ_e`` = ``emmet_lambda`` keeps ``Kᵀ C⁻¹ K`` invertible when
keys are nearly collinear, as the reference code does). Everything else -- target values ``z`` at
the last layer's block output, keys over context prompts, residuals spread over the layers -- is
MEMIT's pipeline (``kedit.editors.memit``); the paper edits a single layer, the default here.
Reference: EasyEdit easyeditor/models/emmet/emmet_main.py, hparams/EMMET/gpt-j-6B.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..errors import KeditError
from .base import register_editor
from .locate.editor import Prepared
from .locate.solves import equality_update
from .memit import MEMIT, MEMITHyperParams


@dataclass(frozen=True)
class EMMETHyperParams(MEMITHyperParams):
    """Defaults: one layer, as ROME's (gpt2-xl: 17); EasyEdit's EMMET values for the rest."""

    editor: ClassVar[str] = "emmet"

    layers: tuple[int, ...] = (17,)
    mom2_update_weight: float = 10000.0
    emmet_lambda: float = 0.1  # added to Kᵀ C⁻¹ K (N×N); 0: the constraints exactly

    def check(self) -> None:
        super().check()
        if self.emmet_lambda < 0:
            raise KeditError("emmet: emmet_lambda must be >= 0")


@register_editor("emmet")
class EMMET(MEMIT):
    hparams_cls = EMMETHyperParams

    def layer_update(self, model: nn.Module, state: Prepared, hp: EMMETHyperParams, layer: int, K: torch.Tensor,
                     R: torch.Tensor) -> torch.Tensor:
        """EMMET's solve: ``R (Kᵀ C⁻¹ K + λ_e I)⁻¹ Kᵀ C⁻¹``."""
        c = state.cov.get(layer)
        C = c.C * hp.mom2_update_weight if c is not None else None
        return equality_update(K, R, C, hp.emmet_lambda)
