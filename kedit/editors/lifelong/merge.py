"""TIES merging of task vectors (Yadav et al. 2023, "TIES-Merging: Resolving Interference When
Merging Models", NeurIPS 2023), as WISE merges its memory shards (EasyEdit's GTA('magnitude', 'sum',
normalize=True)).

For weights Wᵢ over a base W with task vectors τᵢ = Wᵢ − W and mixing weights λᵢ:

1. trim: keep in each τᵢ its ``density`` fraction of entries largest in magnitude, zero the rest (τ̂ᵢ);
2. elect: the sign of each entry is s = sign(Σᵢ λᵢ τ̂ᵢ);
3. disjoint mean: τ = Σᵢ λᵢ τ̂ᵢ [sign(τ̂ᵢ) = s] / Σᵢ λᵢ [sign(τ̂ᵢ) = s]  (0 where no τ̂ᵢ agrees);

and the merged weight is W + τ.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def trim(tau: torch.Tensor, density: float) -> torch.Tensor:
    """``tau`` with all but its ``density`` fraction of largest-magnitude entries set to 0."""
    k = int(round(density * tau.numel()))
    if k >= tau.numel():
        return tau.clone()
    if k <= 0:
        return torch.zeros_like(tau)
    flat = tau.abs().flatten()
    threshold = flat.kthvalue(tau.numel() - k).values  # the (n-k)-th smallest: k entries lie above it
    return torch.where(tau.abs() > threshold, tau, torch.zeros_like(tau))


def ties_merge(base: torch.Tensor, weights: Sequence[torch.Tensor], lambdas: Sequence[float], density: float) -> torch.Tensor:
    taus = torch.stack([trim((w - base).float(), density) for w in weights])  # (n, ...)
    lam = torch.tensor(list(lambdas), dtype=taus.dtype, device=taus.device).view(-1, *[1] * (taus.dim() - 1))
    sign = torch.sign((lam * taus).sum(0))
    agree = (torch.sign(taus) == sign) & (taus != 0)
    num = (lam * taus * agree).sum(0)
    den = (lam * agree).sum(0)
    tau = torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num))
    return (base.float() + tau).to(base.dtype)
