"""Solves: the weight updates of the locate-then-edit family, in float64 with ``torch.linalg.solve``
(never an explicit inverse), and the one weight write that knows GPT-2's Conv1D layout.

ROME (Meng et al. 2022, eq. 2): ``min ‖Ŵ K − V‖`` s.t. ``Ŵ k* = v*`` has the rank-one solution

    Ŵ = W + Λ (C⁻¹ k*)ᵀ,      Λ = (v* − W k*) / ((C⁻¹ k*)ᵀ k*)

MEMIT (Meng et al. 2023, eq. 14): for a batch of keys ``K = [k₁ … k_N]`` (d_in × N) and residuals
``R = [r₁ … r_N]`` (d_out × N) at one layer,

    Δ = R Kᵀ (λ C + K Kᵀ)⁻¹

the minimiser of ``‖(W + Δ) K − (W K + R)‖² + λ ‖Δ C^{1/2}‖²`` (``λ``: ``mom2_update_weight``).
"""

from __future__ import annotations

import torch
from torch import nn

from ...models.roles import module_at, roles_for


def rank_one_update(k: torch.Tensor, delta: torch.Tensor, C: torch.Tensor | None) -> tuple[torch.Tensor, float]:
    """ROME's ``Λ (C⁻¹k)ᵀ`` (d_out, d_in) float64, mapping ``k`` to ``W k + delta``; and ``(C⁻¹k)ᵀk``.
    ``C = None`` means ``C = I``."""
    k64 = k.to(torch.float64)  # (d_in,)
    u = torch.linalg.solve(C, k64) if C is not None else k64  # C⁻¹ k   (d_in,)
    denom = torch.dot(u, k64)  # (C⁻¹k)ᵀ k
    lam = delta.to(torch.float64) / denom  # Λ   (d_out,)
    return torch.outer(lam, u), float(denom)  # (d_out, d_in)


def batch_update(K: torch.Tensor, R: torch.Tensor, C: torch.Tensor | None, weight: float = 1.0) -> torch.Tensor:
    """MEMIT's ``R Kᵀ (λ C + K Kᵀ)⁻¹`` (d_out, d_in) float64 for keys ``K`` (N, d_in) and residuals
    ``R`` (N, d_out), computed as the solve ``(λ C + K Kᵀ) X = K Rᵀ`` (the system is symmetric)."""
    K64, R64 = K.to(torch.float64), R.to(torch.float64)  # (N, d_in), (N, d_out)
    d = K64.shape[1]
    C64 = C.to(torch.float64) if C is not None else torch.eye(d, dtype=torch.float64, device=K.device)
    A = weight * C64 + K64.T @ K64  # (d_in, d_in)
    X = torch.linalg.solve(A, K64.T @ R64)  # (d_in, d_out)
    return X.T  # (d_out, d_in)


@torch.no_grad()
def add_to_weight(model: nn.Module, layer: int, update: torch.Tensor, role: str = "mlp_out") -> float:
    """``W += update`` for the ``role`` weight of ``layer``, ``update`` in (d_out, d_in) whatever the
    storage (GPT-2's Conv1D keeps (d_in, d_out)), summed in float64 and written in the model's
    dtype. Returns the update's norm."""
    w = module_at(model, role, layer).weight
    upd = update.T if roles_for(model).weight_in_out else update
    w.copy_((w.to(torch.float64) + upd.to(w.device)).to(w.dtype))
    return float(update.norm())
