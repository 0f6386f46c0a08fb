"""kernels/sparse_attention.py against explicit small cases and the identities of docs/theory/e03.md §E03.2."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import sparse_attention as S


def test_softmax_runs_along_each_row_and_an_explicit_tail():
    L = torch.tensor([[0.0, math.log(2.0), math.log(3.0), math.log(4.0)],
                      [math.log(4.0), 0.0, 0.0, 0.0]], dtype=torch.float64)
    p = S.softmax_rows(L)
    torch.testing.assert_close(p[0], torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    torch.testing.assert_close(p.sum(dim=1), torch.ones(2, dtype=torch.float64))
    # row 0: top-2 are 0.4 and 0.3 → τ = 0.3; row 1: top-2 are 4/7 and one 1/7 → τ = 2/7
    torch.testing.assert_close(S.tail_mass(L, 2), torch.tensor([0.3, 2 / 7], dtype=torch.float64))
    T = S.tail_profile(L)
    torch.testing.assert_close(T[0], torch.tensor([1.0, 0.6, 0.3, 0.1, 0.0], dtype=torch.float64))
    pt = S.truncated_softmax(L, 2)
    torch.testing.assert_close(pt[0], torch.tensor([0.0, 0.0, 3 / 7, 4 / 7], dtype=torch.float64))
    assert S.k_epsilon(L, 0.15).tolist() == [3, 3] and S.k_epsilon(L, 0.35).tolist() == [2, 2]


def test_effective_support_and_the_adaptive_window():
    assert S.effective_support(torch.zeros(1, 37, dtype=torch.float64)).item() == pytest.approx(37)
    one_hot = torch.tensor([[0.0, 800.0, 0.0]], dtype=torch.float64)
    assert S.effective_support(one_hot).item() == pytest.approx(1.0)
    assert S.adaptive_window(1024, 1.0, 0.5) == 32 and S.adaptive_window(1000, 1.0, 0.5) == 32
    assert S.adaptive_window(16, 0.01, 0.5) == 1 and S.adaptive_window(16, 100.0, 0.5) == 16


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 97), st.integers(0, 10_000), st.floats(0.0, 6.0), st.data())
def test_l1_identity_and_output_bound_on_generated_rows(rows, n, seed, sigma, data):
    k = data.draw(st.integers(1, n))
    g = torch.Generator().manual_seed(seed)
    L = S.gaussian_logits(rows, n, sigma, g)
    V = torch.randn(n, 5, generator=g, dtype=torch.float64)
    p, pt, tau = S.softmax_rows(L), S.truncated_softmax(L, k), S.tail_mass(L, k)
    torch.testing.assert_close((p - pt).abs().sum(dim=1), 2 * tau, rtol=0, atol=1e-13)
    torch.testing.assert_close(pt.sum(dim=1), torch.ones(rows, dtype=torch.float64))
    assert ((pt > 0).sum(dim=1) <= k).all()
    err = torch.linalg.vector_norm((p - pt) @ V, dim=1)
    assert (err <= 2 * tau * torch.linalg.vector_norm(V, dim=1).max() * (1 + 1e-12) + 1e-15).all()
    # the tail outside the top k is the sum of the n − k smallest probabilities
    ps = p.sort(dim=1).values
    torch.testing.assert_close(tau, ps[:, : n - k].sum(dim=1), rtol=1e-12, atol=1e-15)


def test_keeping_every_entry_is_exact_and_tiny_tails_are_not_lost():
    g = torch.Generator().manual_seed(1)
    L = S.gaussian_logits(3, 50, 2.0, g)
    torch.testing.assert_close(S.truncated_softmax(L, 50), S.softmax_rows(L))
    assert (S.tail_mass(L, 50) == 0).all()
    L = torch.tensor([[0.0, -40.0, -45.0]], dtype=torch.float64)
    assert S.tail_mass(L, 1).item() == pytest.approx(math.exp(-40) + math.exp(-45), rel=1e-12)


def test_logits_at_the_edge_of_overflow():
    L = torch.tensor([[700.0, 699.0, -700.0, 0.0]], dtype=torch.float64)
    T = S.tail_profile(L)
    assert torch.isfinite(T).all()
    assert T[0, 1].item() == pytest.approx(1 / (1 + math.e), rel=1e-12)
    assert torch.isfinite(S.truncated_softmax(L, 1)).all() and S.truncated_softmax(L, 1)[0, 0] == 1.0


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 23), st.integers(2, 61), st.integers(1, 5), st.integers(0, 10_000), st.integers(1, 9),
       st.floats(0.3, 3.0))
def test_blocked_attention_equals_the_dense_one(m, n, d, seed, block, scale):
    g = torch.Generator().manual_seed(seed)
    Q, K, V = (torch.randn(a, b, generator=g, dtype=torch.float64) for a, b in ((m, d), (n, d), (n, 3)))
    dense = torch.softmax(Q @ K.T / scale, dim=1) @ V
    torch.testing.assert_close(S.attention(Q, K, V, scale, block=block), dense, rtol=1e-12, atol=1e-13)
    k = 1 + seed % n
    out, tau = S.truncated_attention(Q, K, V, k, scale, block=block)
    L = Q @ K.T / scale
    torch.testing.assert_close(out, S.truncated_softmax(L, k) @ V, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(tau, S.tail_mass(L, k), rtol=1e-12, atol=1e-15)


def test_zero_kept_entries_are_refused_and_float32_works():
    with pytest.raises(ValueError):
        S.truncated_softmax(torch.zeros(1, 4), 0)
    L = S.gaussian_logits(2, 33, 1.0, torch.Generator().manual_seed(0), dtype=torch.float32)
    assert S.tail_profile(L).dtype == torch.float32 and S.k_epsilon(L, 0.1).dtype == torch.int64
