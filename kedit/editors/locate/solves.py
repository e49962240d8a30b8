"""Solves: the weight updates of the locate-then-edit family, in float64 with ``torch.linalg.solve``
(never an explicit inverse), and the one weight write that knows GPT-2's Conv1D layout.

ROME (Meng et al. 2022, eq. 2): ``min ‖Ŵ K − V‖`` s.t. ``Ŵ k* = v*`` has the rank-one solution

    Ŵ = W + Λ (C⁻¹ k*)ᵀ,      Λ = (v* − W k*) / ((C⁻¹ k*)ᵀ k*)

MEMIT (Meng et al. 2023, eq. 14): for a batch of keys ``K = [k₁ … k_N]`` (d_in × N) and residuals
``R = [r₁ … r_N]`` (d_out × N) at one layer,

    Δ = R Kᵀ (λ C + K Kᵀ)⁻¹

the minimiser of ``‖(W + Δ) K − (W K + R)‖² + λ ‖Δ C^{1/2}‖²`` (``λ``: ``mom2_update_weight``).

EMMET (Gupta et al. 2024, "A Unified Framework for Model Editing"): the same batch written as
equality constraints ``(W + Δ) K = W K + R`` at least ``C``-norm,

    Δ = R (Kᵀ C⁻¹ K + λ_e I)⁻¹ Kᵀ C⁻¹          (``λ_e``: ``emmet_lambda``, 0 = exact constraints)

AlphaEdit (Fang et al., ICLR 2025): the update projected into the null space of the preserved
keys, ``P = Û Ûᵀ`` with Û the eigenvectors of ``C`` whose eigenvalues are below a threshold, and
the keys of earlier edits ``K_p`` kept in a running sum ``Σ_p = Σ K_p K_pᵀ`` (sequential editing):

    Δᵀ = (P (K Kᵀ + Σ_p) + α I)⁻¹ P K Rᵀ          (``α``: ``L2``)

which lies in the range of ``P``, so ``Δ k₀ = 0`` for every preserved key ``k₀``.

A system that is singular (a batch with repeated keys, or more edits than EMMET's constraints can
hold at ``λ_e = 0``: N > d_in) is regularised with ``ε I`` and a warning (``solve``), as ROME's
statistics are; if even that fails, the edit fails with an error that says what to change.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ...models.roles import module_at, roles_for


def rank_one_update(k: torch.Tensor, delta: torch.Tensor, C: torch.Tensor | None,
                    k_written: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """ROME's ``Λ (C⁻¹k)ᵀ`` (d_out, d_in) float64, mapping ``k_written`` (default ``k``) to
    ``W k_written + delta``; and the denominator ``(C⁻¹k)ᵀ k_written``. ``C = None`` means ``C = I``.
    ROME's reference code writes the plain prompt's key (``k_written``) along the averaged key's
    direction ``C⁻¹k``; the paper's equation uses ``k`` at both ends."""
    k64 = k.to(torch.float64)  # (d_in,)
    u = torch.linalg.solve(C, k64) if C is not None else k64  # C⁻¹ k   (d_in,)
    denom = torch.dot(u, (k_written if k_written is not None else k).to(torch.float64))  # (C⁻¹k)ᵀ k_written
    lam = delta.to(torch.float64) / denom  # Λ   (d_out,)
    return torch.outer(lam, u), float(denom)  # (d_out, d_in)


def solve(A: torch.Tensor, B: torch.Tensor, what: str) -> torch.Tensor:
    """``A⁻¹ B`` by ``torch.linalg.solve``; a singular ``A`` (n, n) gets ``ε I`` with
    ``ε = 1e-8 · mean |diag A|`` (or 1e-8) and a warning naming ``what``."""
    try:
        return torch.linalg.solve(A, B)
    except torch.linalg.LinAlgError:
        pass
    eps = 1e-8 * (float(A.diagonal().abs().mean()) or 1.0)
    warnings.warn(f"{what}: the {A.shape[0]}×{A.shape[0]} system is singular (repeated keys, or more edits than it "
                  f"can hold); solved with {eps:.2g}·I added", RuntimeWarning, stacklevel=3)
    try:
        return torch.linalg.solve(A + eps * torch.eye(A.shape[0], dtype=A.dtype, device=A.device), B)
    except torch.linalg.LinAlgError:
        from ...errors import KeditError

        raise KeditError(f"{what}: the {A.shape[0]}×{A.shape[0]} system stays singular after regularisation; use "
                         "smaller batches without repeated facts") from None


def batch_update(K: torch.Tensor, R: torch.Tensor, C: torch.Tensor | None, weight: float = 1.0) -> torch.Tensor:
    """MEMIT's ``R Kᵀ (λ C + K Kᵀ)⁻¹`` (d_out, d_in) float64 for keys ``K`` (N, d_in) and residuals
    ``R`` (N, d_out), computed as the solve ``(λ C + K Kᵀ) X = K Rᵀ`` (the system is symmetric)."""
    K64, R64 = K.to(torch.float64), R.to(torch.float64)  # (N, d_in), (N, d_out)
    d = K64.shape[1]
    C64 = C.to(torch.float64) if C is not None else torch.eye(d, dtype=torch.float64, device=K.device)
    A = weight * C64 + K64.T @ K64  # (d_in, d_in)
    X = solve(A, K64.T @ R64, "MEMIT's solve (λ C + K Kᵀ)")  # (d_in, d_out)
    return X.T  # (d_out, d_in)


def equality_update(K: torch.Tensor, R: torch.Tensor, C: torch.Tensor | None, lam: float = 0.1) -> torch.Tensor:
    """EMMET's ``R (Kᵀ C⁻¹ K + λ_e I)⁻¹ Kᵀ C⁻¹`` (d_out, d_in) float64 for keys ``K`` (N, d_in),
    residuals ``R`` (N, d_out); ``C = None`` means ``C = I``."""
    K64, R64 = K.to(torch.float64), R.to(torch.float64)
    U = torch.linalg.solve(C.to(torch.float64), K64.T) if C is not None else K64.T  # C⁻¹ K   (d_in, N)
    D = K64 @ U + lam * torch.eye(K64.shape[0], dtype=torch.float64, device=K.device)  # Kᵀ C⁻¹ K + λ_e I   (N, N)
    return R64.T @ solve(D, U.T, f"EMMET's solve (Kᵀ C⁻¹ K + λ_e I) for {K64.shape[0]} edits")  # (d_out, N) (N, d_in)


def null_space_projector(C: torch.Tensor, threshold: float) -> torch.Tensor:
    """AlphaEdit's ``P = Û Ûᵀ`` (d_in, d_in) float64: the span of ``C``'s eigenvectors whose
    eigenvalues are below ``threshold`` (``C`` symmetric: its SVD is its eigen-decomposition)."""
    U, S, _ = torch.linalg.svd(C.to(torch.float64), full_matrices=False)
    small = U[:, S < threshold]  # (d_in, r)
    return small @ small.T


def projected_update(K: torch.Tensor, R: torch.Tensor, P: torch.Tensor, past: torch.Tensor | None,
                     l2: float = 1.0) -> torch.Tensor:
    """AlphaEdit's ``Δ`` (d_out, d_in) float64: ``Δᵀ = (P (K Kᵀ + Σ_p) + α I)⁻¹ P K Rᵀ`` for keys
    ``K`` (N, d_in), residuals ``R`` (N, d_out), projector ``P`` and the earlier edits' ``Σ_p``."""
    K64, R64, P64 = K.to(torch.float64), R.to(torch.float64), P.to(torch.float64)
    A = K64.T @ K64  # K Kᵀ in the paper's (d_in, N) layout   (d_in, d_in)
    if past is not None:
        A = A + past.to(torch.float64)
    lhs = P64 @ A + l2 * torch.eye(A.shape[0], dtype=torch.float64, device=K.device)
    return solve(lhs, P64 @ K64.T @ R64, "AlphaEdit's solve (P (K Kᵀ + Σ_p) + α I)").T  # (d_out, d_in)


@torch.no_grad()
def add_to_weight(model: nn.Module, layer: int, update: torch.Tensor, role: str = "mlp_out") -> float:
    """``W += update`` for the ``role`` weight of ``layer``, ``update`` in (d_out, d_in) whatever the
    storage (GPT-2's Conv1D keeps (d_in, d_out)), summed in float64 and written in the model's
    dtype. Returns the update's norm."""
    w = module_at(model, role, layer).weight
    upd = update.T if roles_for(model).weight_in_out else update
    w.copy_((w.to(torch.float64) + upd.to(w.device)).to(w.dtype))
    return float(update.norm())
