"""The family's solves on small random matrices: each is the optimum its paper states."""

from __future__ import annotations

import pytest
import torch

from kedit.editors.locate.solves import batch_update, rank_one_update


def _spd(d: int, g: torch.Generator) -> torch.Tensor:
    A = torch.randn(d, 3 * d, generator=g, dtype=torch.float64)
    return A @ A.T / (3 * d)  # (d, d) symmetric positive definite


def test_rank_one_maps_the_key_to_the_new_value_and_is_c_orthogonal_elsewhere():
    g = torch.Generator().manual_seed(0)
    d_in, d_out = 12, 7
    W = torch.randn(d_out, d_in, generator=g, dtype=torch.float64)
    C = _spd(d_in, g)
    k = torch.randn(d_in, generator=g, dtype=torch.float64)
    v_star = torch.randn(d_out, generator=g, dtype=torch.float64)
    upd, denom = rank_one_update(k, v_star - W @ k, C)
    assert torch.allclose((W + upd) @ k, v_star, atol=1e-10)  # Ŵ k* = v*
    # any key x with xᵀ C⁻¹ k = 0 keeps its value: the update is Λ (C⁻¹k)ᵀ
    x = torch.randn(d_in, generator=g, dtype=torch.float64)
    u = torch.linalg.solve(C, k)
    x = x - (x @ u) / (k @ u) * k  # now uᵀx = 0
    assert torch.allclose(upd @ x, torch.zeros(d_out, dtype=torch.float64), atol=1e-10)
    assert abs(denom - float(u @ k)) < 1e-9


def test_batch_update_is_the_regularised_least_squares_optimum():
    """Δ = R Kᵀ (λC + KKᵀ)⁻¹ minimises ‖Δ K − R‖² + λ‖Δ C^{1/2}‖²: compare with lstsq on the stacked system."""
    g = torch.Generator().manual_seed(1)
    d_in, d_out, n, lam = 10, 6, 25, 0.7
    K = torch.randn(n, d_in, generator=g, dtype=torch.float64)  # (N, d_in)
    R = torch.randn(n, d_out, generator=g, dtype=torch.float64)  # (N, d_out)
    C = _spd(d_in, g)
    delta = batch_update(K, R, C, lam)  # (d_out, d_in)
    L = torch.linalg.cholesky(C)  # C = L Lᵀ: ‖Δ C^{1/2}‖ = ‖Δ L‖
    A = torch.cat([K, (lam ** 0.5) * L.T], 0)  # rows: keys, then the regulariser
    B = torch.cat([R, torch.zeros(d_in, d_out, dtype=torch.float64)], 0)
    ref = torch.linalg.lstsq(A, B).solution.T  # (d_out, d_in)
    assert torch.allclose(delta, ref, atol=1e-9)


def test_batch_of_one_without_regularisation_weight_matches_rank_one_direction():
    """With one key and λ → 0 the batch update writes the key exactly, like ROME's."""
    g = torch.Generator().manual_seed(2)
    d_in, d_out = 8, 5
    C = _spd(d_in, g)
    k = torch.randn(1, d_in, generator=g, dtype=torch.float64)
    r = torch.randn(1, d_out, generator=g, dtype=torch.float64)
    delta = batch_update(k, r, C, 1e-9)
    assert torch.allclose(delta @ k[0], r[0], atol=1e-6)
    rome, _ = rank_one_update(k[0], r[0], C)
    assert torch.allclose(delta, rome, atol=1e-5)


def test_emmet_meets_its_equality_constraints_at_least_c_norm():
    from kedit.editors.locate.solves import equality_update

    g = torch.Generator().manual_seed(3)
    d_in, d_out, n = 12, 5, 4
    K = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    R = torch.randn(n, d_out, generator=g, dtype=torch.float64)
    C = _spd(d_in, g)
    delta = equality_update(K, R, C, 0.0)
    assert torch.allclose(delta @ K.T, R.T, atol=1e-9)  # (W + Δ) kᵢ = W kᵢ + rᵢ for every edit
    # the least C-norm solution: any other solution Δ + E with E K = 0 has a larger ‖(Δ+E) C^{1/2}‖
    L = torch.linalg.cholesky(C)
    E = torch.randn(d_out, d_in, generator=g, dtype=torch.float64)
    E = E - E @ K.T @ torch.linalg.solve(K @ K.T, K)  # E K = 0
    assert torch.linalg.norm((delta + E) @ L) > torch.linalg.norm(delta @ L)
    assert torch.allclose(equality_update(K[:1], R[:1], C, 0.0), rank_one_update(K[0], R[0], C)[0], atol=1e-9)  # ROME


def test_a_batch_that_repeats_a_fact_is_regularised_with_a_warning():
    """EMMET at λ_e = 0 with the same key twice: Kᵀ C⁻¹ K is singular; the solve adds εI, warns, and
    still writes the (shared) constraint."""
    from kedit.editors.locate.solves import equality_update

    g = torch.Generator().manual_seed(5)
    K = torch.randn(3, 8, generator=g, dtype=torch.float64)
    K = torch.cat([K, K[:1]])  # the first fact again
    R = torch.randn(3, 4, generator=g, dtype=torch.float64)
    R = torch.cat([R, R[:1]])
    with pytest.warns(RuntimeWarning, match="EMMET's solve .* singular"):
        delta = equality_update(K, R, None, 0.0)
    assert torch.isfinite(delta).all()
    assert torch.allclose(delta @ K.T, R.T, atol=1e-4)


def test_alphaedit_projector_and_update_spare_the_preserved_keys():
    from kedit.editors.locate.solves import null_space_projector, projected_update

    g = torch.Generator().manual_seed(4)
    d_in, d_out, rank = 16, 6, 10
    K0 = torch.randn(rank, 200, generator=g, dtype=torch.float64)
    basis = torch.linalg.qr(torch.randn(d_in, rank, generator=g, dtype=torch.float64))[0]  # preserved keys span 10 dims
    keys0 = basis @ K0  # (d_in, 200)
    C = keys0 @ keys0.T / 200
    P = null_space_projector(C, 1e-6)
    assert torch.allclose(P @ P, P, atol=1e-10) and torch.allclose(P, P.T, atol=1e-12)  # idempotent, symmetric
    assert abs(float(torch.trace(P)) - (d_in - rank)) < 1e-6
    K = torch.randn(3, d_in, generator=g, dtype=torch.float64)
    R = torch.randn(3, d_out, generator=g, dtype=torch.float64)
    past = K[:1].T @ K[:1]
    delta = projected_update(K, R, P, past, l2=1.0)
    assert torch.allclose(delta @ keys0, torch.zeros(d_out, 200, dtype=torch.float64), atol=1e-9)  # ΔW K0 ≈ 0
