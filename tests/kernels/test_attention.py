"""kernels/attention.py against loops, finite differences and torch.autograd (docs/theory/p3.md §P3.1, P3.2, P3.6)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from kernels import attention as K


def instance(n: int, d: int, seed: int, scale: float = 1.0, dtype=torch.float64, with_w: bool = True):
    """A_i = scale·N(0,1)/√d (P3.6), X, Y ~ N(0,1), B ~ N(0,1), w ∈ [0.5, 1.5]^{n×n}."""
    g = torch.Generator().manual_seed(seed)
    A1, A2, A3 = (scale * torch.randn(n, d, generator=g, dtype=dtype) / math.sqrt(d) for _ in range(3))
    B = torch.randn(n, d, generator=g, dtype=dtype)
    X = torch.randn(d, d, generator=g, dtype=dtype)
    Y = torch.randn(d, d, generator=g, dtype=dtype)
    w = 0.5 + torch.rand(n, n, generator=g, dtype=dtype) if with_w else None
    return A1, A2, A3, B, X, Y, w


def naive_loss(A1, A2, A3, B, X, Y, w=None, lam_y=0.0):
    """The objective of P3.1 written directly, for autograd (torch.softmax is itself stable)."""
    U = A1 @ X @ A2.T
    value = torch.sum((torch.softmax(U, dim=1) @ A3 @ Y - B) ** 2)
    if w is not None:
        value = value + 0.5 * torch.sum((w * U) ** 2)
    return value + 0.5 * lam_y * torch.sum(Y**2)


def rel(a: Tensor, b: Tensor) -> float:
    """‖a - b‖ / ‖b‖ (Frobenius)."""
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


cases = st.tuples(st.integers(2, 9), st.integers(1, 4), st.integers(0, 10_000), st.floats(0.1, 3.0),
                  st.booleans(), st.sampled_from([0.0, 0.5]))


# --------------------------------------------------------------------------- C3.1 vectorisation


def test_vec_r_round_trip_and_index_convention():
    X = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    x = K.vec_r(X)
    assert x.shape == (12,)
    for k in range(3):
        for ell in range(4):
            assert x[k * 4 + ell] == X[k, ell]
    assert torch.equal(K.unvec_r(x, 4), X)
    z = torch.randn(9, dtype=torch.float64)
    assert torch.equal(K.vec_r(K.unvec_r(z, 3)), z)


def test_block_identity_is_row_major():
    """Block j0 of A1 ⊗ A2 times vec_r(X) is row j0 of A1 X A2ᵀ (C3.1); fails if vec_r were column-major."""
    A1, A2, _, _, X, _, _ = instance(6, 3, 11)
    n = A1.shape[0]
    Acal = torch.kron(A1, A2)
    U = K.scores(A1, A2, X)
    U_col = A1 @ X.T @ A2.T
    assert rel(U, U_col) > 1e-2  # X is not symmetric: the two conventions differ
    for j in range(n):
        block = Acal[j * n:(j + 1) * n]
        assert float((block @ K.vec_r(X) - U[j]).abs().max()) <= 1e-12
        assert float((block @ X.T.reshape(-1) - U_col[j]).abs().max()) <= 1e-12  # vec_c(X) = vec_r(Xᵀ)
    assert float((Acal @ K.vec_r(X) - K.vec_r(U)).abs().max()) <= 1e-12


def test_attention_is_the_row_softmax():
    A1, A2, _, _, X, _, _ = instance(7, 3, 1)
    S = K.attention(A1, A2, X)
    torch.testing.assert_close(S, torch.softmax(A1 @ X @ A2.T, dim=1), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(S.sum(dim=1), torch.ones(7, dtype=S.dtype), rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------- C3.2 loss


@pytest.mark.parametrize("with_w, lam_y", [(False, 0.0), (True, 0.7)])
def test_loss_equals_the_double_sum(with_w, lam_y):
    A1, A2, A3, B, X, Y, w = instance(5, 3, 2, with_w=with_w)
    n, d = B.shape
    Acal = torch.kron(A1, A2)
    x = K.vec_r(X)
    ref = 0.0
    for j0 in range(n):
        u = Acal[j0 * n:(j0 + 1) * n] @ x
        f = torch.exp(u) / torch.exp(u).sum()
        for i0 in range(d):
            ref += float(f @ (A3 @ Y[:, i0]) - B[j0, i0]) ** 2
        if w is not None:
            ref += 0.5 * sum(float(w[j0, p] * u[p]) ** 2 for p in range(n))
    ref += 0.5 * lam_y * sum(float(Y[k, ell]) ** 2 for k in range(d) for ell in range(d))
    value = K.loss(A1, A2, A3, B, X, Y, w, lam_y)
    assert value.ndim == 0
    assert abs(float(value) - ref) <= 1e-12 * abs(ref)


# --------------------------------------------------------------------------- C3.3 gradients


@settings(max_examples=40, deadline=None)
@given(cases)
def test_gradients_match_autograd(case):
    n, d, seed, scale, with_w, lam_y = case
    A1, A2, A3, B, X, Y, w = instance(n, d, seed, scale, with_w=with_w)
    Xr, Yr = X.clone().requires_grad_(True), Y.clone().requires_grad_(True)
    ref = naive_loss(A1, A2, A3, B, Xr, Yr, w, lam_y)
    gX_ref, gY_ref = torch.autograd.grad(ref, (Xr, Yr))
    value, gX, gY = K.loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y)
    torch.testing.assert_close(value, ref.detach(), rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(gX, gX_ref, rtol=1e-10, atol=1e-11)
    torch.testing.assert_close(gY, gY_ref, rtol=1e-10, atol=1e-11)
    assert torch.equal(K.loss(A1, A2, A3, B, X, Y, w, lam_y), value)
    assert torch.equal(K.gradient_x(A1, A2, A3, B, X, Y, w, lam_y), gX)
    assert torch.equal(K.gradient_y(A1, A2, A3, B, X, Y, w, lam_y), gY)


@pytest.mark.parametrize("with_w", [False, True])
def test_gradient_x_central_differences(with_w):
    """C3.3: central differences in x = vec_r(X), h = 1e-6, n = 5, d = 3."""
    A1, A2, A3, B, X, Y, w = instance(5, 3, 3, with_w=with_w)
    d, h = 3, 1e-6
    x = K.vec_r(X)
    fd = torch.empty_like(x)
    for i in range(d * d):
        e = torch.zeros_like(x)
        e[i] = h
        lp = K.loss(A1, A2, A3, B, K.unvec_r(x + e, d), Y, w)
        lm = K.loss(A1, A2, A3, B, K.unvec_r(x - e, d), Y, w)
        fd[i] = (lp - lm) / (2 * h)
    assert rel(fd, K.vec_r(K.gradient_x(A1, A2, A3, B, X, Y, w))) <= 1e-6


# --------------------------------------------------------------------------- C3.4 Hessian in x


@settings(max_examples=25, deadline=None)
@given(cases)
def test_hessian_x_kronecker_form(case):
    n, d, seed, scale, with_w, _ = case
    A1, A2, A3, B, X, Y, w = instance(n, d, seed, scale, with_w=with_w)
    H_ref = torch.autograd.functional.hessian(
        lambda x: naive_loss(A1, A2, A3, B, K.unvec_r(x, d), Y, w), K.vec_r(X))
    H = K.hessian_x(A1, A2, A3, B, X, Y, w)
    assert H.shape == (d * d, d * d)
    Kb = K.hessian_x_blocks(A1, A2, A3, B, X, Y, w)
    # round-off is relative to the size of the terms summed (‖A1‖²‖A2‖²(‖V‖² + ‖G‖) bounds each of
    # them, P3.2), not to their sum, which cancels when the softmax saturates
    V = A3 @ Y
    G = (K.attention(A1, A2, X) @ V - B) @ V.T
    nrm = lambda M: float(torch.linalg.matrix_norm(M, ord=2))  # noqa: E731
    scale = nrm(A1) ** 2 * nrm(A2) ** 2 * (nrm(V) ** 2 + nrm(G) + (0.0 if w is None else float((w * w).max())))
    assert float(torch.linalg.norm(H - H_ref)) <= 1e-9 * scale
    assert float(torch.linalg.norm(H - K.hessian_x_explicit(A1, A2, A3, B, X, Y, w))) <= 1e-12 * scale
    assert Kb.shape == (n, d, d)
    torch.testing.assert_close(K.kron_sum(A1, Kb), H, rtol=0, atol=0)
    Vdir = torch.linspace(-1, 1, d * d, dtype=X.dtype).reshape(d, d)
    hv = K.hvp_x(A1, A2, A3, B, X, Y, Vdir, w)
    assert hv.shape == (d, d)
    assert rel(K.vec_r(hv), H @ K.vec_r(Vdir)) <= 1e-11


def test_kron_sum_subsample_and_blocks_are_the_block_terms():
    """K_j = A2ᵀ(H^{(u)}_j + diag(w_j²))A2, and weighted row subsets give the sketched sum (P3.5)."""
    A1, A2, A3, B, X, Y, w = instance(8, 3, 5)
    Kb = K.hessian_x_blocks(A1, A2, A3, B, X, Y, w)
    Hu = K.unit_hessians(A1, A2, A3, B, X, Y)
    ref = A2.T @ (Hu + torch.diag_embed(w * w)) @ A2
    torch.testing.assert_close(Kb, ref, rtol=1e-12, atol=1e-13)
    idx = torch.tensor([0, 3, 3, 6])
    s = torch.tensor([0.5, 2.0, 1.0, 4.0], dtype=torch.float64)
    sketched = K.kron_sum(A1[idx], Kb[idx], s)
    dense = sum(float(s[k]) * torch.kron(torch.outer(A1[j], A1[j]), Kb[j]) for k, j in enumerate(idx.tolist()))
    torch.testing.assert_close(sketched, dense, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(K.kron_sum(A1, Kb, torch.ones(8, dtype=torch.float64)), K.kron_sum(A1, Kb),
                               rtol=1e-14, atol=0)


# --------------------------------------------------------------------------- unit Hessians and E


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unit_hessians_decomposition_and_autograd(seed):
    """H^{(u)} = 2JVVᵀJ + 2diag(f∘g - ⟨f,g⟩f) + 2(2⟨f,g⟩ffᵀ - (f∘g)fᵀ - f(f∘g)ᵀ) (P3.2).

    Also checks H^{(u)}_j against autograd of ‖Vᵀ softmax(u) - b_j‖² at u = U_{j,*}.
    """
    A1, A2, A3, B, X, Y, _ = instance(7, 2, seed, scale=1.5)
    S = K.attention(A1, A2, X)
    V = A3 @ Y
    G = (S @ V - B) @ V.T
    Hu = K.unit_hessians(A1, A2, A3, B, X, Y)
    assert Hu.shape == (7, 7, 7)
    U = K.scores(A1, A2, X)
    for j in range(7):
        f, g = S[j], G[j]
        J = torch.diag(f) - torch.outer(f, f)
        psd = 2 * J @ V @ V.T @ J
        diag = 2 * torch.diag(f * g - (f @ g) * f)
        fgf = torch.outer(f * g, f)
        rank2 = 2 * (2 * (f @ g) * torch.outer(f, f) - fgf - fgf.T)
        torch.testing.assert_close(Hu[j], psd + diag + rank2, rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(K.e_matrix(f, g), (diag + rank2) / 2, rtol=1e-12, atol=1e-14)
        sv = torch.linalg.svdvals(rank2)
        assert float(sv[2]) <= 1e-12 * float(sv[0])
        ev = torch.linalg.eigvalsh(psd)
        assert float(ev[0]) >= -1e-12 and int((ev > 1e-10 * float(ev[-1])).sum()) <= 2  # rank ≤ d
        ref = torch.autograd.functional.hessian(lambda u, b=B[j]: torch.sum((torch.softmax(u, 0) @ V - b) ** 2), U[j])
        torch.testing.assert_close(Hu[j], ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(K.e_matrix(S, G)[4], K.e_matrix(S[4], G[4]), rtol=0, atol=0)


def test_e_matrix_norm_bound():
    """‖E(f,g)‖ ≤ osc(g)/(3√3) on random draws (P3.2, Bound [V]); attained at n = 2."""
    gen = torch.Generator().manual_seed(7)
    c = 1 / (3 * math.sqrt(3))
    for n in (2, 3, 5, 9):
        for conc in (0.1, 1.0, 10.0):
            f = torch.distributions.Dirichlet(torch.full((n,), conc, dtype=torch.float64)).sample((400,))
            g = 3 * torch.randn(400, n, generator=gen, dtype=torch.float64)
            g[:100] = torch.sign(g[:100])
            norms = torch.linalg.matrix_norm(K.e_matrix(f, g), ord=2)
            osc = g.amax(-1) - g.amin(-1)
            assert bool((norms <= c * osc * (1 + 1e-12) + 1e-15).all())
    p = torch.linspace(0.001, 0.999, 999, dtype=torch.float64)
    f2 = torch.stack([p, 1 - p], dim=1)
    g2 = torch.tensor([1.0, 0.0], dtype=torch.float64).expand(999, 2)
    assert float(torch.linalg.matrix_norm(K.e_matrix(f2, g2), ord=2).max()) >= c * (1 - 1e-5)


# --------------------------------------------------------------------------- Y


@pytest.mark.parametrize("lam_y", [0.0, 0.4])
def test_hessian_y_matches_autograd_in_row_major_vec(lam_y):
    A1, A2, A3, B, X, Y, w = instance(6, 3, 4)
    d = 3
    H_ref = torch.autograd.functional.hessian(
        lambda y: naive_loss(A1, A2, A3, B, X, K.unvec_r(y, d), w, lam_y), K.vec_r(Y))
    H = K.hessian_y(A1, A2, A3, X, lam_y)
    assert rel(H, H_ref) <= 1e-12
    M = K.attention(A1, A2, X) @ A3
    eye = torch.eye(d, dtype=M.dtype)
    assert rel(torch.kron(eye, 2 * M.T @ M + lam_y * eye), H_ref) > 1e-3  # the vec_c form is another matrix


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_y_step(seed):
    A1, A2, A3, B, X, Y, w = instance(12, 3, seed)
    M = K.attention(A1, A2, X) @ A3
    assert int(torch.linalg.matrix_rank(M)) == 3
    for lam_y in (0.0, 0.3):
        Ys = K.y_step(A1, A2, A3, B, X, lam_y)
        gY = K.gradient_y(A1, A2, A3, B, X, Ys, w, lam_y)
        assert float(torch.linalg.norm(gY)) <= 1e-10
        base = K.loss(A1, A2, A3, B, X, Ys, w, lam_y)
        g = torch.Generator().manual_seed(seed)
        for step in torch.logspace(-4, 0, 20, dtype=Ys.dtype):
            Yr = Ys + step * torch.randn(3, 3, generator=g, dtype=Ys.dtype)
            assert base <= K.loss(A1, A2, A3, B, X, Yr, w, lam_y)
        assert base <= K.loss(A1, A2, A3, B, X, Y, w, lam_y)
    torch.testing.assert_close(K.y_step(A1, A2, A3, B, X), torch.linalg.lstsq(M, B).solution,
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError):
        K.y_step(A1, A2, A3, B, X, -1.0)


# --------------------------------------------------------------------------- stability and dtype


@pytest.mark.parametrize("scale", [100.0, 1e4])
def test_stable_for_huge_scores(scale):
    A1, A2, A3, B, X, Y, w = instance(6, 3, 8)
    A1, A2 = scale * A1, scale * A2
    assert float(K.scores(A1, A2, X).abs().max()) > 700  # exp would overflow without the shift
    value, gX, gY = K.loss_and_gradients(A1, A2, A3, B, X, Y, w, 0.1)
    assert torch.isfinite(value) and torch.isfinite(gX).all() and torch.isfinite(gY).all()
    assert torch.isfinite(K.attention(A1, A2, X)).all()
    assert torch.isfinite(K.hessian_x(A1, A2, A3, B, X, Y)).all()
    assert torch.isfinite(K.hvp_x(A1, A2, A3, B, X, Y, X)).all()
    assert torch.isfinite(K.y_step(A1, A2, A3, B, X, 0.1)).all()


def test_float32_preserved_and_close_to_float64():
    args64 = instance(10, 3, 9)
    args32 = tuple(t.float() for t in args64)
    A1, A2, A3, B, X, Y, w = args32
    value, gX, gY = K.loss_and_gradients(A1, A2, A3, B, X, Y, w, 0.2)
    outs = [value, gX, gY, K.hessian_x(A1, A2, A3, B, X, Y, w), K.hvp_x(A1, A2, A3, B, X, Y, Y, w),
            K.hessian_y(A1, A2, A3, X, 0.2), K.y_step(A1, A2, A3, B, X, 0.2), K.y_step(A1, A2, A3, B, X),
            K.unit_hessians(A1, A2, A3, B, X, Y)]
    assert all(o.dtype == torch.float32 for o in outs)
    A1, A2, A3, B, X, Y, w = args64
    torch.testing.assert_close(gX.double(), K.gradient_x(A1, A2, A3, B, X, Y, w, 0.2), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(outs[3].double(), K.hessian_x(A1, A2, A3, B, X, Y, w), rtol=1e-4, atol=1e-4)
