"""kernels/hopfield.py against explicit small cases, autograd and the polynomial kernel (docs/theory/e04.md)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import hopfield as H
from kernels import polynomial


def draw(d: int, M: int, L: int, seed: int, B: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    Xi = B * (2 * torch.rand(d, M, generator=g, dtype=torch.float64) - 1)
    X = B * (2 * torch.rand(d, L, generator=g, dtype=torch.float64) - 1)
    return Xi, X


def by_hand(Xi, X, beta):
    """Z[:, l] = Σ_μ ξ_μ exp(β ξ_μ·x_l) / Σ_ν exp(β ξ_ν·x_l), one query at a time, one memory at a time."""
    d, M = Xi.shape
    cols = []
    for l in range(X.shape[1]):
        w = [math.exp(beta * float(Xi[:, m] @ X[:, l])) for m in range(M)]
        cols.append(sum(w[m] * Xi[:, m] for m in range(M)) / sum(w))
    return torch.stack(cols, dim=1)


def test_retrieval_softmax_runs_over_the_memories_of_each_query():
    """M = 3 memories, L = 2 queries (M ≠ L, so the wrong axis does not even have the right shape to sum)."""
    Xi = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 1.0]], dtype=torch.float64)
    X = torch.tensor([[0.5, -1.0], [1.0, 0.25]], dtype=torch.float64)
    Z = H.retrieve(Xi, X, 0.7)
    torch.testing.assert_close(Z, by_hand(Xi, X, 0.7), rtol=1e-14, atol=1e-15)
    # the explicit value of query 0: logits 0.7·(0.5, 2, 0.5)
    w = torch.softmax(torch.tensor([0.35, 1.4, 0.35], dtype=torch.float64), 0)
    torch.testing.assert_close(Z[:, 0], Xi @ w, rtol=1e-14, atol=1e-15)
    wrong = Xi @ torch.softmax(0.7 * (Xi.T @ X), dim=1)  # softmax over the queries
    assert (wrong - Z).abs().max() > 0.1


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.integers(1, 33), st.integers(1, 29), st.integers(0, 10_000), st.floats(0.05, 3.0),
       st.integers(1, 9))
def test_retrieve_matches_the_explicit_sum_on_odd_shapes_and_any_block(d, M, L, seed, beta, block):
    Xi, X = draw(d, M, L, seed)
    ref = by_hand(Xi, X, beta)
    torch.testing.assert_close(H.retrieve(Xi, X, beta), ref, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(H.retrieve(Xi, X, beta, block=block), ref, rtol=1e-12, atol=1e-13)


def test_retrieval_at_the_edge_of_overflow_is_finite_and_picks_the_nearest_pattern():
    Xi = torch.eye(3, dtype=torch.float64) * 10.0
    X = torch.tensor([[9.0, 0.0], [1.0, 0.0], [0.0, 7.0]], dtype=torch.float64)
    Z = H.retrieve(Xi, X, 7.78)  # logits up to 700.2: exp overflows without the shift
    assert torch.isfinite(Z).all()
    torch.testing.assert_close(Z, Xi[:, [0, 2]], rtol=0, atol=1e-12)
    assert H.max_logit(Xi, X, 7.78) == pytest.approx(7.78 * 90)


def test_energy_gradient_is_x_minus_T_and_the_update_never_raises_the_energy():
    Xi, X = draw(5, 17, 6, 3, B=1.5)
    beta = 1.7
    Xr = X.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(H.energy(Xr, Xi, beta).sum(), Xr)
    torch.testing.assert_close(grad, X - H.retrieve(Xi, X, beta), rtol=1e-11, atol=1e-12)
    E = H.energy(X, Xi, beta)
    for _ in range(5):
        X = H.retrieve(Xi, X, beta)
        E_next = H.energy(X, Xi, beta)
        assert (E_next <= E + 1e-12).all()
        E = E_next
    torch.testing.assert_close(H.retrieve_steps(Xi, draw(5, 17, 6, 3, B=1.5)[1], beta, 5), X, rtol=1e-13, atol=1e-14)


def test_separation_and_the_ramsauer_bound_on_an_explicit_case():
    Xi = torch.tensor([[2.0, 0.0, 1.0], [0.0, 2.0, 1.0]], dtype=torch.float64)
    # ξ1·ξ1 = 4, ξ1·ξ2 = 0, ξ1·ξ3 = 2 → Δ1 = 2; ξ2 alike; ξ3·ξ3 = 2, ξ3·ξ1 = 2 → Δ3 = 0
    torch.testing.assert_close(H.separation(Xi), torch.tensor([2.0, 2.0, 0.0], dtype=torch.float64))
    m = 2.0
    expected = 2 * 2 * math.exp(-3.0 * (2.0 - 2 * 0.1 * m)) * m
    assert float(H.retrieval_error_bound(Xi, 3.0, 0.1)[0]) == pytest.approx(expected)


def test_the_ramsauer_bound_holds_for_well_separated_patterns():
    g = torch.Generator().manual_seed(5)
    Xi = 3.0 * torch.eye(6, dtype=torch.float64)[:, :5]
    e = torch.randn(6, 5, generator=g, dtype=torch.float64)
    r = 0.3
    X = Xi + r * e / torch.linalg.vector_norm(e, dim=0)
    for beta in (0.5, 1.0, 2.0):
        err = torch.linalg.vector_norm(H.retrieve(Xi, X, beta) - Xi, dim=0)
        assert (err <= H.retrieval_error_bound(Xi, beta, r) * (1 + 1e-12)).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(2, 40), st.integers(1, 31), st.integers(0, 10_000), st.integers(1, 6),
       st.floats(0.2, 2.0), st.integers(1, 7))
def test_lowrank_retrieval_is_the_polynomial_attention_with_memories_as_keys(d, M, L, seed, g, beta, block):
    """Z̃ᵀ equals AS23's low-rank attention with queries Xᵀ, keys and values Ξᵀ, scale 1/β (the same
    polynomial with Φ on the other side), whatever the block."""
    Xi, X = draw(d, M, L, seed, B=0.6)
    ref = polynomial.lowrank_attention(X.T, Xi.T, Xi.T, g, 1.0 / beta).T
    torch.testing.assert_close(H.lowrank_retrieve(Xi, X, beta, g), ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.lowrank_retrieve(Xi, X, beta, g, block=block), ref, rtol=1e-10, atol=1e-12)


def test_lowrank_retrieval_meets_the_error_propagation_bound():
    """|P(s) − e^s| ≤ ε e^s entrywise ⇒ ‖Z̃ − Z‖_∞ ≤ 2ε/(1 − ε) max|Ξ| (docs/theory/e04.md §E04.3)."""
    Xi, X = draw(4, 300, 200, 11, B=0.6)
    S = Xi.T @ X
    for g in (4, 6, 8):
        c = polynomial.taylor_coefficients(g)
        P = sum(float(c[l]) * S**l for l in range(g + 1))
        eps = float(((P - S.exp()).abs() / S.exp()).max())
        err = float((H.lowrank_retrieve(Xi, X, 1.0, g) - H.retrieve(Xi, X, 1.0)).abs().max())
        assert eps < 1 and err <= 2 * eps / (1 - eps) * float(Xi.abs().max()) * (1 + 1e-9)
    assert err < 1e-4


def test_dense_chebyshev_evaluation_is_the_same_polynomial_as_the_features():
    Xi, X = draw(4, 257, 129, 2, B=1.1)
    R = H.max_logit(Xi, X, 1.0)
    for g in (3, 7, 11):
        feat = H.lowrank_retrieve(Xi, X, 1.0, g, polynomial.chebyshev_coefficients(g, R))
        dense = H.polynomial_retrieve(Xi, X, 1.0, g, R, block=50)
        torch.testing.assert_close(feat, dense, rtol=1e-8, atol=1e-9)
    exact = H.retrieve(Xi, X, 1.0)
    assert float((dense - exact).abs().max()) < 1e-6


def test_multi_step_lowrank_reuses_the_memory_side():
    Xi, X = draw(3, 64, 20, 4, B=0.7)
    mem = H.memory_features(Xi, 1.3, 5)
    assert mem.XiU1.shape == (3, polynomial.rank(3, 5)) and mem.U1_sum.shape == (polynomial.rank(3, 5),)
    Y = X
    for _ in range(3):
        Y = H.lowrank_retrieve(Xi, Y, 1.3, 5)
    torch.testing.assert_close(H.lowrank_retrieve_steps(Xi, X, 1.3, 5, 3), Y, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(Y, H.retrieve_steps(Xi, X, 1.3, 3), rtol=0, atol=1e-5)


def test_float32_and_tiny_shapes():
    Xi, X = draw(2, 1, 1, 0)
    torch.testing.assert_close(H.retrieve(Xi, X, 1.0), Xi)  # one memory: retrieval returns it
    Xi32, X32 = (t.float() for t in draw(3, 9, 5, 1, B=0.5))
    out = H.lowrank_retrieve(Xi32, X32, 1.0, 6)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, H.retrieve(Xi32, X32, 1.0), rtol=1e-4, atol=1e-5)
