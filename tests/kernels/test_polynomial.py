"""kernels/polynomial.py: monomial feature maps Φ, Ψ for exp(⟨q, k⟩) and low-rank attention (docs/theory/polynomial.md)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import polynomial as P


def uniform(n, d, B, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g, dtype=dtype) * 2 - 1) * B


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 7))
def test_monomial_table_lists_each_multi_index_once(d, g):
    m = P.monomials(d, g)
    assert len(m.degree) == P.rank(d, g) == math.comb(d + g, g)
    E = m.exponents
    assert len({tuple(e) for e in E.tolist()}) == len(E)              # no multiset twice
    assert torch.equal(E.sum(1), m.degree) and int(m.degree.max()) == g
    assert torch.all(m.degree[1:] >= m.degree[:-1])                   # degree order
    # column j = column parent[j] times variable var[j]
    for j in range(1, len(E)):
        e = E[m.parent[j]].clone()
        e[m.var[j]] += 1
        assert torch.equal(e, E[j])
    # multinomial(α) = |α|!/∏α_i!, and Σ_{|α|=l} multinomial(α) = d^l
    for l in range(g + 1):
        assert math.isclose(float(m.multinomial[m.degree == l].sum()), d**l)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(0, 6), st.integers(1, 9), st.integers(1, 9), st.integers(0, 10_000))
def test_features_reproduce_the_polynomial_of_the_inner_product(d, g, n, m, seed):
    """Φ(Q)Ψ(K)ᵀ = Σ_l c_l (QKᵀ)^l exactly, for Taylor and for arbitrary coefficients."""
    Q, K = uniform(n, d, 1.3, seed), uniform(m, d, 1.3, seed + 1)
    S = Q @ K.T
    for c in (P.taylor_coefficients(g), torch.linspace(-1.0, 2.0, g + 1, dtype=torch.float64)):
        direct = sum(c[l] * S**l for l in range(g + 1))
        torch.testing.assert_close(P.phi(Q, g, c) @ P.psi(K, g).T, direct, rtol=1e-12, atol=1e-12)


def test_explicit_small_case():
    """d = 2, g = 2: Ψ(k) = (1, k1, k2, k1², k1k2, k2²), Φ(q) = (1, q1, q2, q1²/2, q1q2, q2²/2)."""
    q = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    k = torch.tensor([[5.0, 7.0]], dtype=torch.float64)
    torch.testing.assert_close(P.psi(k, 2), torch.tensor([[1, 5, 7, 25, 35, 49]], dtype=torch.float64))
    torch.testing.assert_close(P.phi(q, 2), torch.tensor([[1, 2, 3, 2, 6, 4.5]], dtype=torch.float64))
    s = 2 * 5 + 3 * 7
    assert float(P.phi(q, 2) @ P.psi(k, 2).T) == 1 + s + s * s / 2


def test_symmetric_monomials_are_far_fewer_than_tensor_powers():
    assert P.rank(3, 8) == 165 and sum(3**l for l in range(9)) == 9841


@pytest.mark.parametrize("B,g,reference", [(0.5, 2, 1e-5), (0.5, 4, 2e-8), (0.5, 6, 2e-11),
                                           (1.0, 4, 1e-5), (1.0, 8, 1e-9), (2.0, 8, 9e-5)])
def test_lowrank_attention_error_matches_the_reference_order(B, g, reference):
    """n = 400, d = 3, U[−B, B] entries, Taylor degree g (docs/theory/polynomial.md, reference table):
    the maximum output error is within a factor 10 of the reference value."""
    n, d = 400, 3
    Q, K, V = uniform(n, d, B, 1), uniform(n, d, B, 2), uniform(n, d, 1.0, 3)
    err = float((P.lowrank_attention(Q, K, V, g, scale=d) - P.attention(Q, K, V, scale=d)).abs().max())
    assert reference / 10 <= err <= reference * 10


def test_error_decays_geometrically_in_the_degree_and_obeys_the_propagation_bound():
    n, d, B = 300, 3, 1.0
    Q, K, V = uniform(n, d, B, 4), uniform(n, d, B, 5), uniform(n, d, 1.0, 6)
    S = Q @ K.T / d
    errs = []
    for g in (2, 4, 6, 8):
        approx = sum(S**l / math.factorial(l) for l in range(g + 1))
        eps = float(((approx - S.exp()) / S.exp()).abs().max())           # entrywise relative error of Ã
        err = float((P.lowrank_attention(Q, K, V, g, scale=d) - P.attention(Q, K, V, scale=d)).abs().max())
        assert err <= 2 * eps / (1 - eps) * float(V.abs().max())          # ‖T̃ − T‖∞ ≤ 2ε/(1−ε)‖V‖∞
        errs.append(err)
    assert all(b < a / 10 for a, b in zip(errs, errs[1:]))


def test_chebyshev_beats_taylor_on_a_wide_interval():
    """On [−r, r] with r = B²·(d/d) = 4, the Chebyshev interpolant of exp is far closer than Taylor's."""
    r, g = 4.0, 8
    s = torch.linspace(-r, r, 2001, dtype=torch.float64)

    def rel_err(kind):
        c = P.coefficients(g, kind, r)
        return float(((sum(c[l] * s**l for l in range(g + 1)) - s.exp()) / s.exp()).abs().max())

    assert rel_err("chebyshev") < rel_err("taylor") / 10
    cheb = np.polynomial.Chebyshev.interpolate(np.exp, g, domain=[-r, r])
    torch.testing.assert_close(sum(P.chebyshev_coefficients(g, r)[l] * s**l for l in range(g + 1)),
                               torch.from_numpy(cheb(s.numpy())), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="unknown coefficients 'legendre'"):
        P.coefficients(g, "legendre")


def test_exact_attention_is_stable_at_the_edge_of_overflow():
    """Logits about 700 (exp overflows float64 past 709.8): the softmax is shifted, the rows still sum to 1."""
    Q = torch.tensor([[30.0, 0.0], [0.0, 30.0]], dtype=torch.float64)
    K = torch.tensor([[26.0, 0.0], [0.0, 26.5], [1.0, 1.0]], dtype=torch.float64)
    V = torch.eye(3, dtype=torch.float64)
    T = P.attention(Q, K, V, scale=1.0)
    assert torch.isfinite(T).all()
    torch.testing.assert_close(T.sum(1), torch.ones(2, dtype=torch.float64))
    assert float(T[0, 0]) > 0.999 and float(T[1, 1]) > 0.999


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_kept_and_odd_sizes_work(dtype):
    Q, K, V = uniform(7, 3, 0.5, 7, dtype), uniform(13, 3, 0.5, 8, dtype), uniform(13, 5, 1.0, 9, dtype)
    T = P.lowrank_attention(Q, K, V, 4, scale=3)
    assert T.dtype == dtype and T.shape == (7, 5)
    torch.testing.assert_close(T, P.attention(Q, K, V, scale=3), rtol=1e-4, atol=1e-5)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="d ≥ 1 and g ≥ 0"):
        P.monomials(0, 2)
