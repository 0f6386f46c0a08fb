"""kernels/attention_gradient.py against autograd, finite differences and the chain written out with n×n matrices
(docs/theory/e07.md §E07.2–E07.3)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import attention_gradient as K
from kernels.polynomial import coefficients, phi, psi, rank


def instance(n: int, d: int, seed: int, B: float = 1.0, dtype=torch.float64):
    """A1, A2, A3, E uniform in [−B, B], Y and X uniform in [−1, 1]."""
    g = torch.Generator().manual_seed(seed)

    def u(*shape, r=1.0):
        return (r * (2 * torch.rand(*shape, generator=g, dtype=torch.float64) - 1)).to(dtype)

    return u(n, d, r=B), u(n, d, r=B), u(n, d, r=B), u(n, d, r=B), u(d, d), u(d, d)


def naive_loss(A1, A2, A3, E, Y, X, scale):
    """L(X) written directly, D⁻¹exp(·) spelled out (for autograd at moderate logits)."""
    S = torch.exp(A1 @ X @ A2.T / scale)
    f = S / S.sum(dim=1, keepdim=True)
    return 0.5 * torch.sum((f @ A3 @ Y - E) ** 2)


def rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


def explicit_chain(A1, A2, A3, E, Y, X, g, scale, coef=None, indices="fixed"):
    """The chain's gradient with f̃ = U1V1ᵀ formed as an n×n matrix: the exact formula of §E07.2 with f̃ in place of f
    (``paper_D3``/``paper``: q̃ transposed, Lemma D.3 as printed; ``paper_D5``/``paper``: f̃ diag(r̃), Lemma D.5)."""
    s = math.sqrt(scale)
    P, V1 = phi(A1 @ X / s, g, coef), psi(A2 / s, g)
    f = (P @ V1.T) / (P @ V1.sum(dim=0)).unsqueeze(1)
    h = A3 @ Y
    c = f @ h - E
    q = c @ h.T if indices in ("fixed", "paper_D5") else h @ c.T
    fq = f * q
    r = fq.sum(dim=1)
    p2 = r[:, None] * f if indices in ("fixed", "paper_D3") else f * r[None, :]
    return A1.T @ (fq - p2) @ A2 / scale


shapes = st.tuples(st.integers(1, 12), st.integers(1, 4), st.integers(0, 10_000), st.sampled_from(["d", "one"]))


@settings(max_examples=25, deadline=None)
@given(shapes)
def test_exact_gradient_matches_autograd(case):
    n, d, seed, which = case
    scale = float(d) if which == "d" else 1.0
    A1, A2, A3, E, Y, X = instance(n, d, seed)
    L, g = K.loss_and_gradient(A1, A2, A3, E, Y, X, scale)
    Xr = X.clone().requires_grad_(True)
    ref = naive_loss(A1, A2, A3, E, Y, Xr, scale)
    (ga,) = torch.autograd.grad(ref, Xr)
    assert abs(float(L) - float(ref.detach())) <= 1e-12 * max(1.0, abs(float(ref.detach())))
    assert torch.allclose(g, ga, rtol=1e-10, atol=1e-13)


def test_exact_gradient_matches_central_differences_with_and_without_the_1_over_d():
    A1, A2, A3, E, Y, X = instance(300, 2, 1)
    h = 1e-5
    for scale in (2.0, 1.0):
        g = K.gradient(A1, A2, A3, E, Y, X, scale)
        fd = torch.zeros_like(X)
        for i in range(2):
            for j in range(2):
                dX = torch.zeros_like(X)
                dX[i, j] = h
                fd[i, j] = (K.loss(A1, A2, A3, E, Y, X + dX, scale) - K.loss(A1, A2, A3, E, Y, X - dX, scale)) / (2 * h)
        assert float(torch.linalg.matrix_norm(g - fd) / torch.linalg.matrix_norm(g)) <= 1e-7


@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_row_blocks_give_the_same_loss_and_gradient(block):
    A1, A2, A3, E, Y, X = instance(131, 3, 2)
    L, g = K.loss_and_gradient(A1, A2, A3, E, Y, X, 3.0)
    Lb, gb = K.loss_and_gradient(A1, A2, A3, E, Y, X, 3.0, block_rows=block)
    assert torch.allclose(L, Lb, rtol=1e-13) and torch.allclose(g, gb, rtol=1e-12, atol=1e-15)


def test_logits_at_the_edge_of_overflow_stay_finite_and_exact():
    """Logits near 700 (exp overflows at 709.8 in float64): the stable softmax keeps L and ∇L finite and equal to a
    reference computed with the row maximum subtracted by hand."""
    A1, A2, A3, E, Y, X = instance(40, 2, 3)
    X = X * (700.0 / float((A1 @ X @ A2.T).max()))  # the largest logit is 700
    L, g = K.loss_and_gradient(A1, A2, A3, E, Y, X, 1.0)
    assert math.isfinite(float(L)) and torch.isfinite(g).all()

    def shifted(Xv):
        U = A1 @ Xv @ A2.T
        S = torch.exp(U - U.max(dim=1, keepdim=True).values.detach())
        return 0.5 * torch.sum((S / S.sum(dim=1, keepdim=True) @ A3 @ Y - E) ** 2)

    Xr = X.clone().requires_grad_(True)
    (ga,) = torch.autograd.grad(shifted(Xr), Xr)
    assert torch.allclose(g, ga, rtol=1e-9, atol=1e-12)
    assert not torch.isfinite(naive_loss(A1, A2, A3, E, Y, X * 1.02, 1.0))  # the unshifted formula does overflow


@settings(max_examples=20, deadline=None)
@given(st.tuples(st.integers(1, 15), st.integers(1, 3), st.integers(0, 6), st.integers(0, 10_000),
                 st.sampled_from(K.INDICES), st.floats(0.2, 2.0)))
def test_the_chain_is_the_exact_formula_applied_to_its_low_rank_f(case):
    """Whatever the polynomial's accuracy, the chain computes exactly the gradient formula with f̃ = U1V1ᵀ in place
    of f (with each index convention): steps 2–5 of §E07.3 are identities, only step 1 approximates."""
    n, d, g, seed, indices, B = case
    A1, A2, A3, E, Y, X = instance(n, d, seed, B)
    got = K.lowrank_gradient(A1, A2, A3, E, Y, X, g, float(d), indices=indices)
    want = explicit_chain(A1, A2, A3, E, Y, X, g, float(d), indices=indices)
    assert torch.allclose(got, want, rtol=1e-9, atol=1e-12 * float(want.abs().max()) + 1e-14)


def test_memory_light_step_5_equals_the_dense_one_and_chebyshev_coefficients_pass_through():
    A1, A2, A3, E, Y, X = instance(77, 3, 4, 1.5)
    c = coefficients(5, "chebyshev", K.logit_radius(A1, A2, X, 3.0))
    dense = K.lowrank_gradient(A1, A2, A3, E, Y, X, 5, 3.0, coef=c)
    light = K.lowrank_gradient(A1, A2, A3, E, Y, X, 5, 3.0, coef=c, memory_light=True)
    assert torch.allclose(dense, light, rtol=1e-12, atol=1e-15)
    assert torch.allclose(dense, explicit_chain(A1, A2, A3, E, Y, X, 5, 3.0, coef=c), rtol=1e-9, atol=1e-13)


def test_the_fixed_chain_converges_to_the_exact_gradient_and_the_paper_indices_do_not():
    A1, A2, A3, E, Y, X = instance(300, 2, 5, 0.3)
    X = torch.eye(2, dtype=torch.float64)
    exact = K.gradient(A1, A2, A3, E, Y, X, 2.0)
    errs = [rel(K.lowrank_gradient(A1, A2, A3, E, Y, X, g, 2.0), exact) for g in (2, 4, 6)]
    assert errs[0] > errs[1] > errs[2] and errs[2] <= 1e-10
    for indices in ("paper", "paper_D3", "paper_D5"):
        assert rel(K.lowrank_gradient(A1, A2, A3, E, Y, X, 6, 2.0, indices=indices), exact) >= 1e-3, indices


def test_factors_ranks_and_the_row_wise_kronecker_product():
    A1, A2, A3, E, Y, X = instance(9, 3, 6)
    F = K.lowrank_factors(A1, A2, A3, E, Y, X, 3, 3.0)
    k = K.ranks(3, 3)
    assert k == {"k1": rank(3, 3), "k2": rank(3, 3) + 3, "k3": rank(3, 3) * (rank(3, 3) + 3)}
    assert F.U1.shape == (9, k["k1"]) and F.U2.shape == (9, k["k2"]) and F.V2.shape == (9, k["k2"])
    assert torch.allclose((F.U1 @ F.V1.T).sum(dim=1), torch.ones(9, dtype=torch.float64))  # f̃ is row-normalised
    U3 = K.rowwise_kron(F.U1, F.U2)
    assert U3.shape == (9, k["k3"])
    a, b = 2, 5
    assert torch.equal(U3[:, a * k["k2"] + b], F.U1[:, a] * F.U2[:, b])
    q = (F.U1 @ F.V1.T) * (F.U2 @ F.V2.T)
    assert torch.allclose(U3 @ K.rowwise_kron(F.V1, F.V2).T, q, rtol=1e-12, atol=1e-14)
    assert torch.allclose(F.r, q.sum(dim=1), rtol=1e-12, atol=1e-14)


def test_lowrank_loss_is_the_loss_of_the_low_rank_attention_and_the_logit_radius_bounds_every_logit():
    A1, A2, A3, E, Y, X = instance(50, 2, 7, 1.2)
    s = math.sqrt(2.0)
    P, V1 = phi(A1 @ X / s, 4), psi(A2 / s, 4)
    f = (P @ V1.T) / (P @ V1.sum(dim=0)).unsqueeze(1)
    want = 0.5 * torch.sum((f @ A3 @ Y - E) ** 2)
    assert torch.allclose(K.lowrank_loss(A1, A2, A3, E, Y, X, 4, 2.0), want, rtol=1e-12)
    assert float((A1 @ X @ A2.T / 2.0).abs().max()) <= K.logit_radius(A1, A2, X, 2.0) * (1 + 1e-12)
    assert K.a1x_norm(A1, X) == float((A1 @ X).abs().max())


def test_float32_and_unknown_indices():
    A1, A2, A3, E, Y, X = instance(20, 2, 8, 0.5, dtype=torch.float32)
    g = K.lowrank_gradient(A1, A2, A3, E, Y, X, 4, 2.0)
    assert g.dtype == torch.float32 and rel(g, K.gradient(A1, A2, A3, E, Y, X, 2.0)) <= 1e-3
    with pytest.raises(ValueError, match="unknown indices"):
        K.lowrank_gradient(A1, A2, A3, E, Y, X, 4, 2.0, indices="transposed")
