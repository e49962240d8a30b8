"""PMET: Precise Model Editing in a Transformer (Li et al., AAAI 2024, "PMET: Precise Model Editing in
a Transformer"): MEMIT's batch edit with the target values taken at the MLP's output instead of the
whole residual stream, found by optimising the attention and MLP outputs together, and only the
MLP's part written.

The paper's observation: the hidden state at a block's output mixes the attention's, the MLP's and
the residual contributions, so fitting the MLP weights to the whole hidden-state residual (MEMIT)
asks the MLP to also carry what attention should. PMET optimises

    δ_attn, δ_mlp = argmin  −log P(o* | prompts; a_L + δ_attn, m_L + δ_mlp)  + KL + wd(δ_attn) + wd(δ_mlp)

where a_L, m_L are the attention and MLP outputs of the last edited layer L at the lookup token
(``locate.values.optimize_residuals``: both deltas in one Adam loop, each clamped to its own ball
``‖δ‖ ≤ clamp_norm_factor · ‖v₀‖``), keeps only ``z = m_L + δ_mlp``, and for each layer l of the band,
lowest first, with the layers below already written:

    R_l = (z − m_L) / √(L − i),        Δ_l = R_l K_lᵀ (λ C_l + K_l K_lᵀ)⁻¹

(``locate.solves.batch_update``, MEMIT's solve; the square-root share of the residual is the
reference code's). Keys, statistics and the solve are MEMIT's (``kedit.editors.memit``).

Differences from the reference code (EasyEdit easyeditor/models/pmet/pmet_main.py, compute_zs.py;
hparams/PMET/llama-7b.yaml), on purpose: ``v₀`` and ``m_L`` are means over the context prompts (the
reference reads the plain prompt), as kedit's MEMIT; the NLL-factor annealing of the reference loop
is left out (kedit's early stop on the mean target NLL ends the loop instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..errors import KeditError
from ..models.roles import path_of, roles_for
from .base import register_editor
from .memit import MEMIT, MEMITHyperParams


@dataclass(frozen=True)
class PMETHyperParams(MEMITHyperParams):
    """Defaults: EasyEdit's PMET values (hparams/PMET/llama-7b.yaml: clamp 1 of the MLP output's norm,
    λ 15,000) over MEMIT's gpt2-xl band."""

    editor: ClassVar[str] = "pmet"

    clamp_norm_factor: float = 1.0  # of ‖m_L‖ and ‖a_L‖ (the MLP / attention outputs, smaller than h_L)
    mom2_update_weight: float = 15000.0


@register_editor("pmet")
class PMET(MEMIT):
    hparams_cls = PMETHyperParams

    def value_sites(self, model: nn.Module, hp: PMETHyperParams) -> tuple[str, tuple[str, ...]]:
        """``z`` at the last layer's MLP output, optimised together with its attention output."""
        last = hp.layers[-1]
        if not roles_for(model).attn_out:
            raise KeditError(f"pmet: kedit does not know where the attention output of {type(model.config).__name__} "
                             "models is; add attn_out to its family in kedit/models/roles.py")
        return path_of(model, "mlp_out", last), (path_of(model, "attn_out", last),)

    @staticmethod
    def share(left: int) -> float:
        """PMET's share of the residual: ``√left`` (the reference code's)."""
        return math.sqrt(left)
