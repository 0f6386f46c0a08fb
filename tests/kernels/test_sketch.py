"""kernels/sketch.py: leverage scores, CountSketch, row sampling (docs/theory/p1.md §P1.5)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import sketch


def matrix(n, k, seed, heavy=0):
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(n, k, generator=g, dtype=torch.float64)
    if heavy:
        M[:heavy] *= 30.0
    return M


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 60), st.integers(1, 5), st.integers(0, 1000))
def test_exact_scores_are_projection_diagonals(n, k, seed):
    M = matrix(max(n, k), k, seed)
    tau = sketch.leverage_scores(M)
    P = M @ torch.linalg.pinv(M)
    torch.testing.assert_close(tau, torch.diagonal(P), rtol=1e-9, atol=1e-11)
    assert math.isclose(float(tau.sum()), k, rel_tol=1e-10)
    assert float(tau.min()) >= -1e-12 and float(tau.max()) <= 1 + 1e-12


def test_svd_scores_handle_rank_deficiency():
    M = matrix(30, 3, 0)
    M = torch.cat([M, M[:, :1] * 2.0], dim=1)  # rank 3, four columns
    tau = sketch.leverage_scores_svd(M)
    assert math.isclose(float(tau.sum()), 3.0, rel_tol=1e-9)


def test_countsketch_dense_and_sparse_agree():
    M = matrix(200, 4, 1)
    M[M.abs() < 1.0] = 0.0
    a = sketch.countsketch(M, 40, torch.Generator().manual_seed(5))
    b = sketch.countsketch(M.to_sparse(), 40, torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    # a CountSketch preserves the Gram matrix in expectation; with 40 buckets it is close
    assert float(torch.linalg.matrix_norm(a.T @ a - M.T @ M) / torch.linalg.matrix_norm(M.T @ M)) < 0.5


@pytest.mark.parametrize("heavy", [0, 10])
def test_approximate_scores_are_within_a_constant_factor(heavy):
    M = matrix(5000, 6, 2, heavy=heavy)
    exact = sketch.leverage_scores(M)
    approx = sketch.approximate_leverage_scores(M, torch.Generator().manual_seed(0))
    ratio = approx / exact
    assert float(ratio.min()) > 0.25 and float(ratio.max()) < 4.0
    if heavy:  # the heavy rows carry most of the leverage in both
        assert float(approx[:heavy].sum()) > 0.5 * float(approx.sum())


def test_sampled_diagonal_is_unbiased_and_sparse():
    D = torch.linspace(0.5, 2.0, 50, dtype=torch.float64)
    p = torch.linspace(1.0, 3.0, 50, dtype=torch.float64)
    p /= p.sum()
    g = torch.Generator().manual_seed(1)
    acc = torch.zeros(50, dtype=torch.float64)
    trials = 4000
    for _ in range(trials):
        smp = sketch.sampled_diagonal(D, p, 20, g)
        assert smp.rows.numel() <= 20
        acc.index_add_(0, smp.rows, smp.weights)
    torch.testing.assert_close(acc / trials, D, rtol=0.1, atol=0.0)


def test_leverage_sampling_gives_a_spectral_approximation_and_uniform_does_not():
    A = matrix(20000, 5, 3, heavy=20)
    H = A.T @ A
    s = sketch.sample_size(5, 0.25, 0.01)
    g = torch.Generator().manual_seed(2)
    ones = torch.ones(A.shape[0], dtype=torch.float64)
    lev = sketch.leverage_scores(A)
    for p, ok in ((lev / lev.sum(), True), (ones / ones.sum(), False)):
        smp = sketch.sampled_diagonal(ones, p, s, g)
        rows = A[smp.rows]
        dev = sketch.spectral_deviation(H, rows.T @ (smp.weights.unsqueeze(1) * rows))
        assert (dev <= 0.25) is ok, dev


def test_sample_size_formula():
    assert sketch.sample_size(10, 0.1, 0.01) == math.ceil(10 * math.log(1000) / 0.01)
