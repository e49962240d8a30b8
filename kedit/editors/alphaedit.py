"""AlphaEdit: null-space constrained knowledge editing (Fang et al., ICLR 2025, "AlphaEdit:
Null-Space Constrained Knowledge Editing for Language Models"): MEMIT with the update projected into
the null space of the preserved knowledge, so what the model already knows is left untouched, and
with the keys of earlier edits remembered, so a sequence of edits does not overwrite itself.

Per edited layer, ``P = Û Ûᵀ`` where Û are the eigenvectors of ``C = E[k kᵀ]`` (the preserved keys'
second moment, kedit's cached statistics) with eigenvalues below ``nullspace_threshold``; with
``Σ_p = Σ K_p K_pᵀ`` over the batches edited before (kept until ``restore()``):

    Δᵀ = (P (K Kᵀ + Σ_p) + α I)⁻¹ P K Rᵀ            (α = ``L2``; ``locate.solves.projected_update``)

``Δ`` lies in the range of ``P``: ``Δ k₀ = 0`` for every preserved key ``k₀``. Target values, keys
and the residual spread over layers are MEMIT's pipeline (``kedit.editors.memit``). The threshold
is absolute, so it depends on the scale of the model's keys: the reference value 2e-2 is for
Llama-3-8B; a family file sets kedit's value for its model and the info reports the null space's
dimension. Reference: EasyEdit easyeditor/models/alphaedit/AlphaEdit_main.py (``get_project``, the
``cache_c`` running sum), hparams/AlphaEdit/*.yaml.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from .base import register_editor
from .locate.editor import Prepared
from .locate.covariance import cached_projector
from .locate.solves import projected_update
from .memit import MEMIT, MEMITHyperParams


@dataclass(frozen=True)
class AlphaEditHyperParams(MEMITHyperParams):
    """Defaults: EasyEdit's AlphaEdit gpt2-xl values (hparams/AlphaEdit/gpt2-xl.yaml: layers 13-17)."""

    editor: ClassVar[str] = "alphaedit"

    nullspace_threshold: float = 2e-2  # eigenvalues of C below this span the preserved keys' null space
    L2: float = 10.0  # α: keeps the projected system invertible

    def check(self) -> None:
        super().check()
        if not self.mom2_adjustment:
            raise KeditError("alphaedit: the null space comes from the key statistics; mom2_adjustment must be true")
        if not self.nullspace_threshold > 0 or not self.L2 > 0:
            raise KeditError("alphaedit: nullspace_threshold and L2 must be > 0")


@register_editor("alphaedit")
class AlphaEdit(MEMIT):
    hparams_cls = AlphaEditHyperParams

    def __init__(self) -> None:
        super().__init__()
        # per model: the earlier edits' Σ K Kᵀ of each layer (the projectors live with the prepared statistics)
        self._past: weakref.WeakKeyDictionary[nn.Module, dict[int, torch.Tensor]] = weakref.WeakKeyDictionary()

    def prepare(self, model: nn.Module, tok, hp: AlphaEditHyperParams, **kw) -> dict[str, Any]:
        info = super().prepare(model, tok, hp, **kw)
        state = self._prepared[model]
        dims = [int(round(float(torch.trace(self.projector(model, state, hp, layer))))) for layer in hp.layers]
        return info | {"null_space_dims": ",".join(map(str, dims))}

    def projector(self, model: nn.Module, state: Prepared, hp: AlphaEditHyperParams, layer: int) -> torch.Tensor:
        """``P`` of a layer (an SVD of d_in × d_in): once per prepared statistics and threshold in memory,
        and on disk beside the statistics (``locate.covariance.cached_projector``)."""
        key = ("projector", layer, hp.nullspace_threshold)
        if key not in state.derived:
            state.derived[key], hit = cached_projector(state.cov[layer].C, hp.nullspace_threshold)
            state.info["projector_cache_hit"] = hit and state.info.get("projector_cache_hit", True)
        return state.derived[key]

    def layer_update(self, model: nn.Module, state: Prepared, hp: AlphaEditHyperParams, layer: int, K: torch.Tensor,
                     R: torch.Tensor) -> torch.Tensor:
        """AlphaEdit's solve: ``Δᵀ = (P (K Kᵀ + Σ_p) + α I)⁻¹ P K Rᵀ``."""
        past = self._past.get(model, {}).get(layer)
        return projected_update(K, R, self.projector(model, state, hp, layer), past, hp.L2)

    def remember(self, model: nn.Module, keys_used: dict[int, torch.Tensor]) -> Callable[[], None] | None:
        """Add this batch's ``K Kᵀ`` to ``Σ_p``; ``restore()`` takes it out again. The undo keeps the
        keys (N × d_in), not ``K Kᵀ`` (d_in × d_in: 94 MB per edit over SmolLM2's 5 layers, 9 GB after
        100 sequential edits), and recomputes the same product."""
        past = self._past.setdefault(model, {})
        keys = {layer: K.detach().clone() for layer, K in keys_used.items()}
        for layer, K in keys.items():
            kk = K.double().T @ K.double()  # (d_in, d_in)
            past[layer] = past[layer] + kk if layer in past else kk

        def undo() -> None:
            for layer, K in keys.items():
                past[layer] = past[layer] - K.double().T @ K.double()
        return undo

    def side_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """``Σ_p`` of each layer (``past_kk.<layer>``: d_in × d_in, float64) for a sequence checkpoint."""
        return {f"past_kk.{layer}": kk for layer, kk in self._past.get(model, {}).items()}

    def load_side_state(self, model: nn.Module, tensors: dict[str, torch.Tensor]) -> Callable[[], None]:
        past = self._past.setdefault(model, {})
        before = dict(past)
        device = next(model.parameters()).device
        past.update({int(name.rsplit(".", 1)[1]): t.to(device, torch.float64) for name, t in tensors.items()})

        def undo() -> None:
            past.clear()
            past.update(before)
        return undo
