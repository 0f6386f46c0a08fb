"""kernels/leverage_inversion.py against autograd of a direct formula, central differences and the identities of
docs/theory/e02.md §E02.1–E02.2 (Σσ_* = d, 0 ≤ σ_* ≤ 1, Λ1 = 0, Λ ⪰ 0, invariance under s_i → −s_i)."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import leverage_inversion as K


def instance(n: int, d: int, seed: int, w_scale: float = 0.0, noise: float = 0.3):
    """A ~ N(0, 1), x_true ~ N(0, I), |s_true| ~ U[1, 3] with random signs, b = Ax_true − s_true, a target σ that is
    σ_*(x_true) plus noise (clipped to [0, 1], rescaled to sum d), w = w_scale·U[0.5, 1], and a point x near x_true."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=g, dtype=torch.float64)
    x_true = torch.randn(d, generator=g, dtype=torch.float64)
    signs = torch.randint(0, 2, (n,), generator=g).to(torch.float64) * 2 - 1
    s_true = signs * (1 + 2 * torch.rand(n, generator=g, dtype=torch.float64))
    b = A @ x_true - s_true
    sigma = (K.leverage(A, s_true) + noise * torch.rand(n, generator=g, dtype=torch.float64) / n).clamp(0, 1)
    sigma = sigma * d / sigma.sum()
    w = w_scale * (0.5 + 0.5 * torch.rand(n, generator=g, dtype=torch.float64))
    x = x_true + 0.1 * torch.randn(d, generator=g, dtype=torch.float64)
    return A, b, sigma, w, x


def direct_sigma(A, b, x):
    """σ_{*,i} = a_iᵀH⁻¹a_i/s_i², H = AᵀS⁻²A: the definition, written out for autograd."""
    s = A @ x - b
    H = A.T @ (A / (s * s).unsqueeze(1))
    return torch.einsum("id,de,ie->i", A, torch.linalg.inv(H), A) / (s * s)


def direct_loss(A, b, sigma, w, x):
    r = direct_sigma(A, b, x) - sigma
    Ax = A @ x
    return 0.5 * (r @ r) + 0.5 * ((w * w) @ (Ax * Ax))


def rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


shapes = st.tuples(st.integers(1, 6), st.integers(1, 9), st.integers(0, 10_000), st.sampled_from([0.0, 0.3]))


def dims(case):
    d, extra, seed, w = case
    return d + extra, d, seed, w


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_leverage_scores_sum_to_d_lie_in_the_unit_interval_and_match_the_definition(case):
    n, d, seed, _ = dims(case)
    A, b, _, _, x = instance(n, d, seed)
    s = K.residual(A, b, x)
    sig = K.leverage(A, s)
    assert abs(float(sig.sum()) - d) < 1e-10
    assert float(sig.min()) >= -1e-13 and float(sig.max()) <= 1 + 1e-13
    assert rel(sig, direct_sigma(A, b, x)) < 1e-8
    P = K.projector(A, s)
    assert torch.allclose(P @ P, P, atol=1e-10) and torch.allclose(P, P.T, atol=1e-12)
    H = K.barrier_hessian(A, s)
    As = K.scaled_rows(A, s)
    assert torch.allclose(P, As @ torch.linalg.solve(H, As.T), atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_lambda_is_psd_with_zero_row_sums(case):
    n, d, seed, _ = dims(case)
    A, b, _, _, x = instance(n, d, seed)
    st_ = K.state(A, K.residual(A, b, x))
    assert float((st_.Lam @ torch.ones(n, dtype=torch.float64)).abs().max()) < 1e-12
    assert float(torch.linalg.eigvalsh(st_.Lam).min()) > -1e-12
    assert torch.allclose(st_.Lam, K.lambda_matrix(st_.P))


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_sign_flips_and_scaling_of_s_leave_the_scores_unchanged(case):
    n, d, seed, _ = dims(case)
    A, b, _, _, x = instance(n, d, seed)
    s = K.residual(A, b, x)
    flip = torch.where(torch.arange(n) % 2 == 0, -1.0, 1.0).to(torch.float64)
    ref = K.leverage(A, s)
    assert rel(K.leverage(A, flip * s), ref) < 1e-10
    st_, st_f = K.state(A, s), K.state(A, flip * s)
    assert torch.allclose(st_.Lam, st_f.Lam, atol=1e-12)
    for c in (1e-100, -3.0, 1e100):   # σ_* depends on s only through the column space of S⁻¹A
        assert rel(K.leverage(A, c * s), ref) < 1e-10


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_jacobian_matches_autograd(case):
    n, d, seed, _ = dims(case)
    A, b, _, _, x = instance(n, d, seed)
    J = torch.autograd.functional.jacobian(lambda z: direct_sigma(A, b, z), x)
    assert rel(K.jacobian(A, K.residual(A, b, x)), J) < 1e-7


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_loss_gradient_hessian_and_hvp_match_autograd(case):
    n, d, seed, w = dims(case)
    A, b, sigma, wv, x = instance(n, d, seed, w_scale=w)
    L, g = K.loss_and_gradient(A, b, sigma, wv, x)
    assert abs(float(L - direct_loss(A, b, sigma, wv, x))) < 1e-10 * max(1.0, float(L))
    assert torch.allclose(L, K.loss(A, b, sigma, wv, x))
    ga = torch.autograd.functional.jacobian(lambda z: direct_loss(A, b, sigma, wv, z), x)
    Ha = torch.autograd.functional.hessian(lambda z: direct_loss(A, b, sigma, wv, z), x)
    assert float((g - ga).abs().max()) <= 1e-8 * max(1.0, float(ga.abs().max()))
    assert torch.allclose(K.gradient(A, b, sigma, wv, x), g)
    H = K.hessian(A, b, sigma, wv, x)
    assert float((H - Ha).abs().max()) <= 1e-7 * max(1.0, float(Ha.abs().max()))
    v = torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert torch.allclose(K.hvp(A, b, sigma, wv, x, v), H @ v, atol=1e-10 * max(1.0, float(H.abs().max())))


@settings(max_examples=20, deadline=None)
@given(shapes)
def test_the_three_parts_sum_to_the_hessian(case):
    n, d, seed, w = dims(case)
    A, b, sigma, wv, x = instance(n, d, seed, w_scale=w)
    G = K.gauss_newton_factor(A, b, x)
    assert torch.allclose(G, -K.jacobian(A, K.residual(A, b, x)))
    total = G.T @ G + K.regulariser_hessian(A, wv) + K.curvature(A, b, sigma, x)
    assert torch.allclose(total, K.hessian(A, b, sigma, wv, x), atol=1e-11)


@pytest.mark.parametrize("n,d,seed", [(12, 3, 0), (31, 5, 1), (60, 5, 2)])
def test_gradient_and_jacobian_match_central_differences(n, d, seed):
    """Central differences (h = 1e-6) of σ_* and L: max relative error < 1e-6 (docs/theory/e02.md, check E02.C1)."""
    A, b, sigma, w, x = instance(n, d, seed, w_scale=0.2)
    h = 1e-6
    J = K.jacobian(A, K.residual(A, b, x))
    g = K.gradient(A, b, sigma, w, x)
    for k in range(d):
        e = torch.zeros(d, dtype=torch.float64)
        e[k] = h
        fd_j = (K.leverage(A, K.residual(A, b, x + e)) - K.leverage(A, K.residual(A, b, x - e))) / (2 * h)
        fd_g = (K.loss(A, b, sigma, w, x + e) - K.loss(A, b, sigma, w, x - e)) / (2 * h)
        assert float((fd_j - J[:, k]).abs().max()) < 1e-6 * float(J.abs().max())
        assert abs(float(fd_g - g[k])) < 1e-6 * float(g.abs().max())


def test_hessian_matches_differences_of_the_gradient():
    A, b, sigma, w, x = instance(40, 4, 3, w_scale=0.2)
    H = K.hessian(A, b, sigma, w, x)
    h = 1e-5
    for k in range(4):
        e = torch.zeros(4, dtype=torch.float64)
        e[k] = h
        fd = (K.gradient(A, b, sigma, w, x + e) - K.gradient(A, b, sigma, w, x - e)) / (2 * h)
        assert float((fd - H[:, k]).abs().max()) < 1e-6 * float(H.abs().max())


def test_at_a_zero_residual_point_only_the_gauss_newton_term_survives():
    A, b, _, _, x = instance(60, 5, 4)
    sigma = K.leverage(A, K.residual(A, b, x))  # realisable target at x itself
    C = K.curvature(A, b, sigma, x)
    G = K.gauss_newton_factor(A, b, x)
    assert float(C.abs().max()) < 1e-12
    assert torch.allclose(K.hessian(A, b, sigma, None, x), G.T @ G, atol=1e-12)
    assert float(K.gradient(A, b, sigma, None, x).abs().max()) < 1e-13


def test_a_row_near_its_pole_takes_over():
    """s_i → 0: σ_{*,i} → 1 and the Jacobian's entries grow like 1/|s_i| at most (§E02.2, singularity)."""
    A, b, _, _, x = instance(30, 3, 5)
    s = K.residual(A, b, x)
    norms = []
    for eps in (1e-2, 1e-4, 1e-6):
        t = s.clone()
        t[0] = eps
        assert float(K.leverage(A, t)[0]) > 1 - 10 * eps
        norms.append(float(K.jacobian(A, t).abs().max()))
    assert all(n2 <= 1e3 * n1 for n1, n2 in zip(norms, norms[1:]))


@settings(max_examples=20, deadline=None)
@given(shapes)
def test_volumetric_gradient_is_the_gradient_of_half_log_det(case):
    n, d, seed, _ = dims(case)
    A, b, _, _, x = instance(n, d, seed)
    ga = torch.autograd.functional.jacobian(lambda z: 0.5 * torch.logdet(K.barrier_hessian(A, K.residual(A, b, z))), x)
    assert rel(K.volumetric_gradient(A, K.residual(A, b, x)), ga) < 1e-8


def test_same_signs():
    s = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    assert K.same_signs(s, torch.sign(s))
    assert not K.same_signs(s * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64), torch.sign(s))
    assert not K.same_signs(torch.tensor([0.0, -2.0, 3.0], dtype=torch.float64), torch.sign(s))


def test_float32_and_other_devices_follow_the_input():
    A, b, sigma, w, x = instance(20, 3, 6, w_scale=0.1)
    L, g = K.loss_and_gradient(A.float(), b.float(), sigma.float(), w.float(), x.float())
    assert g.dtype == torch.float32
    assert torch.allclose(g.double(), K.gradient(A, b, sigma, w, x), atol=1e-4)


@settings(max_examples=20, deadline=None)
@given(shapes)
def test_the_low_rank_products_match_the_dense_matrices(case):
    """ΛV and KV through F = Q∗Q equal the products with the n×n matrices Λ and
    K = 6 diag(Λr) − 4(R(P∘P) + (P∘P)R) + 8 P∘(PRP)."""
    n, d, seed, _ = dims(case)
    A, b, sigma, _, x = instance(n, d, seed)
    st_ = K.state(A, K.residual(A, b, x))
    r = st_.sigma - sigma
    P, PP, R = st_.P, st_.P * st_.P, torch.diag(r)
    dense = 6 * torch.diag(st_.Lam @ r) - 4 * (R @ PP + PP @ R) + 8 * P * (P @ R @ P)
    V = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert torch.allclose(st_.lam_times(V), st_.Lam @ V, atol=1e-12)
    assert torch.allclose(st_.lam_times(V[:, 0]), st_.Lam @ V[:, 0], atol=1e-12)
    assert torch.allclose(st_.curvature_times(r, V), dense @ V, atol=1e-11)
    assert torch.allclose(st_.curvature_times(r, V[:, 1]), dense @ V[:, 1], atol=1e-11)
