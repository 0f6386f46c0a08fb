"""kernels/kronecker.py against the explicitly formed Kronecker product (docs/theory/e06.md §E06.2–§E06.5)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import kronecker as K
from kernels import sketch


def factor(n, d, seed, heavy=0, scale=30.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=g, dtype=torch.float64)
    A[:heavy] *= scale
    return A.to(dtype)


def pair(n1, d1, n2, d2, seed, heavy=0):
    return factor(n1, d1, seed, heavy), factor(n2, d2, seed + 7919, heavy)


shapes = st.tuples(st.integers(3, 13), st.integers(1, 3), st.integers(3, 11), st.integers(1, 3), st.integers(0, 10_000))


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_rows_scores_gram_and_products_match_the_formed_product(shape):
    n1, d1, n2, d2, seed = shape
    A1, A2 = pair(max(n1, d1), d1, max(n2, d2), d2, seed)
    F = K.KroneckerFactor(A1, A2)
    A = torch.kron(A1, A2)
    assert F.shape == tuple(A.shape)
    idx = torch.arange(A.shape[0])
    torch.testing.assert_close(F.rows(idx), A, rtol=0, atol=0)  # row (i, j) at i·n2 + j, row-major
    torch.testing.assert_close(F.leverage_scores(), sketch.leverage_scores(A), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(F.gram(), A.T @ A, rtol=1e-10, atol=1e-10)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(A.shape[1], generator=g, dtype=torch.float64)
    b = torch.randn(A.shape[0], generator=g, dtype=torch.float64)
    torch.testing.assert_close(F.matvec(x), A @ x, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(F.rmatvec(b), A.T @ b, rtol=1e-10, atol=1e-10)
    X, B = x.reshape(d1, d2), b.reshape(A1.shape[0], A2.shape[0])
    torch.testing.assert_close(F.matvec(x), (A1 @ X @ A2.T).reshape(-1))  # the tensor trick
    torch.testing.assert_close(F.rmatvec(b), (A1.T @ B @ A2).reshape(-1))


def test_column_major_reading_is_the_transposed_model():
    """(A1 ⊗ A2)vec_c(X) = vec_c(A2 X A1ᵀ): with vec_c the product reads X transposed, so the row-major
    convention is the one that matches A1 X A2ᵀ."""
    A1, A2 = pair(5, 3, 4, 3, 1)
    X = torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    A = torch.kron(A1, A2)
    vec_c = X.T.reshape(-1)
    assert float((A @ vec_c - (A1 @ X @ A2.T).reshape(-1)).abs().max()) > 1e-3
    torch.testing.assert_close(A @ vec_c, (A1 @ X.T @ A2.T).reshape(-1))


def test_pair_index_round_trip():
    i, j = torch.tensor([0, 3, 6, 6]), torch.tensor([0, 4, 0, 4])
    idx = K.pair_index(i, j, 5)
    assert idx.tolist() == [0, 19, 30, 34]
    ri, rj = K.split_index(idx, 5)
    assert ri.tolist() == i.tolist() and rj.tolist() == j.tolist()


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 40), st.integers(2, 40), st.integers(1, 400), st.integers(0, 1000))
def test_sample_pairs_weights_and_merging(n1, n2, s, seed):
    g = torch.Generator().manual_seed(seed)
    p1 = torch.rand(n1, generator=g, dtype=torch.float64) + 0.01
    p2 = torch.rand(n2, generator=g, dtype=torch.float64) + 0.01
    p1, p2 = p1 / p1.sum(), p2 / p2.sum()
    S = K.sample_pairs(p1, p2, s, torch.Generator().manual_seed(seed))
    assert S.rows.unique().numel() == S.rows.numel() and int(S.rows.max()) < n1 * n2
    i, j = K.split_index(S.rows, n2)
    counts = S.weights * s * p1[i] * p2[j]  # weights = count/(s p_ij)
    torch.testing.assert_close(counts, counts.round())
    assert int(counts.sum().round()) == s


def test_draw_follows_the_distribution():
    p = torch.tensor([0.5, 0.0, 0.3, 0.2], dtype=torch.float64)
    idx = K.draw(p, 200_000, torch.Generator().manual_seed(0))
    freq = torch.bincount(idx, minlength=4).double() / idx.numel()
    assert int(freq[1]) == 0
    torch.testing.assert_close(freq, p, atol=5e-3, rtol=0)


def test_sampled_gram_is_unbiased_and_matches_the_dense_sampler():
    A1, A2 = pair(12, 2, 9, 2, 3, heavy=2)
    F = K.KroneckerFactor(A1, A2)
    G = F.gram()
    g = torch.Generator().manual_seed(0)
    S = F.sample(50, g)
    dense = sketch.sampled_gram(sketch.DenseFactor(torch.kron(A1, A2)), S)
    torch.testing.assert_close(K.sampled_gram(F, S), dense)
    mean = sum(K.sampled_gram(F, F.sample(50, g)) for _ in range(4000)) / 4000
    assert float(torch.linalg.matrix_norm(mean - G) / torch.linalg.matrix_norm(G)) < 0.03


def test_spectral_error_matches_the_dense_deviation():
    A1, A2 = pair(30, 3, 25, 2, 4, heavy=3)
    F = K.KroneckerFactor(A1, A2)
    for scores in K.SCORES:
        S = F.sample(300, torch.Generator().manual_seed(1), scores)
        assert math.isclose(K.spectral_error(F, S), sketch.spectral_deviation(F.gram(), K.sampled_gram(F, S)),
                            rel_tol=1e-8, abs_tol=1e-10)


def test_leverage_sampling_beats_uniform_on_coherent_factors():
    A1, A2 = pair(200, 3, 200, 3, 5, heavy=3)
    F = K.KroneckerFactor(A1, A2)
    g = torch.Generator().manual_seed(2)
    lev = sorted(K.spectral_error(F, F.sample(2000, g)) for _ in range(5))[2]
    uni = sorted(K.spectral_error(F, F.sample(2000, g, "uniform")) for _ in range(5))[2]
    assert lev < 0.3 < 0.9 < uni


def test_sampler_never_forms_the_product_at_large_n():
    n = 1_000_000
    A1, A2 = factor(n, 2, 0, heavy=2), factor(n, 2, 1, heavy=2)
    F = K.KroneckerFactor(A1, A2)
    S = F.sample(4000, torch.Generator().manual_seed(0))
    assert int(S.rows.max()) < n * n and S.rows.dtype == torch.int64
    assert K.spectral_error(F, S) < 0.5
    assert F.rows_read == 2 * n


def test_scores_are_scale_free_near_overflow_and_handle_rank_deficiency():
    A1, A2 = pair(20, 3, 15, 2, 6, heavy=2)
    F = K.KroneckerFactor(A1, A2)
    big = K.KroneckerFactor(A1 * 1e150, A2 * 1e-150)
    torch.testing.assert_close(big.leverage_scores(), F.leverage_scores(), rtol=1e-9, atol=1e-14)
    deficient = torch.cat([A1, A1[:, :1] * 2.0], dim=1)  # rank 3 of 4 columns
    R = K.KroneckerFactor(deficient, A2)
    assert math.isclose(float(R.leverage_scores().sum()), 3 * 2, rel_tol=1e-8)
    torch.testing.assert_close(R.leverage_scores(), sketch.leverage_scores_svd(torch.kron(deficient, A2)),
                               rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes(dtype):
    A1, A2 = factor(17, 3, 0, dtype=dtype), factor(13, 2, 1, dtype=dtype)
    F = K.KroneckerFactor(A1, A2)
    S = F.sample(100, torch.Generator().manual_seed(0))
    assert F.rows(S.rows).dtype == dtype and S.weights.dtype == dtype and K.sampled_gram(F, S).dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(F.leverage_scores(), sketch.leverage_scores(torch.kron(A1, A2)), rtol=tol, atol=tol)


@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_direct_solve_matches_the_formed_least_squares(lam):
    A1, A2 = pair(11, 3, 7, 2, 8, heavy=1)
    B = torch.randn(11, 7, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    A = torch.kron(A1, A2)
    H = A.T @ A + lam * torch.eye(6, dtype=torch.float64)
    expected = torch.linalg.solve(H, A.T @ B.reshape(-1))
    torch.testing.assert_close(K.direct_solve(A1, A2, B, lam), expected, rtol=1e-9, atol=1e-11)
    if lam == 0:  # X* = A1⁺ B (A2⁺)ᵀ
        X = torch.linalg.pinv(A1) @ B @ torch.linalg.pinv(A2).T
        torch.testing.assert_close(K.direct_solve(A1, A2, B), X.reshape(-1), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_sketched_solve_is_the_weighted_least_squares_of_the_sampled_rows(lam):
    A1, A2 = pair(14, 2, 10, 3, 10, heavy=2)
    B = torch.randn(14, 10, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    F = K.KroneckerFactor(A1, A2)
    S = F.sample(120, torch.Generator().manual_seed(12))
    A = torch.kron(A1, A2)[S.rows]
    w = S.weights
    expected = torch.linalg.solve(A.T @ (w[:, None] * A) + lam * torch.eye(6, dtype=torch.float64),
                                  A.T @ (w * B.reshape(-1)[S.rows]))
    torch.testing.assert_close(K.sketched_solve(F, B, S, lam), expected, rtol=1e-9, atol=1e-11)
    full = K.sketched_solve(F, B, type(S)(torch.arange(140), torch.ones(140, dtype=torch.float64)), lam)
    torch.testing.assert_close(full, K.direct_solve(A1, A2, B, lam), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("heavy", [0, 4])
def test_repeated_halving_overestimates_the_scores_and_spectrally_approximates(heavy):
    A = factor(1000, 4, 13, heavy=heavy)
    tau = K.factor_scores(A)
    g = torch.Generator().manual_seed(0)
    h = K.repeated_halving(A, g)
    assert h.depth >= 2 and h.scores.shape == (1000,)
    assert float((h.scores / tau).min()) > 0.5          # generalised scores w.r.t. a half: τ̃ ≳ τ
    assert float(h.scores.sum()) < 4 * 4                  # Σ τ̃ = O(d) (≤ 2d for the exact half)
    assert h.rows_read < 2 * 1000                          # n + n/2 + … rows read
    S = sketch.RowSample(h.rows, h.weights)
    assert sketch.spectral_deviation(A.T @ A, sketch.sampled_gram(sketch.DenseFactor(A), S)) < 0.6
    assert h.rows.numel() < 1000


def test_repeated_halving_base_case_is_exact():
    A = factor(20, 3, 14, heavy=1)
    h = K.repeated_halving(A, torch.Generator().manual_seed(0))
    assert h.depth == 0 and h.rows.tolist() == list(range(20)) and h.rows_read == 20
    torch.testing.assert_close(h.scores, K.factor_scores(A))


def test_halving_sample_gives_a_spectral_approximation_of_the_product():
    A1, A2 = pair(400, 3, 400, 3, 15, heavy=3)
    F = K.KroneckerFactor(A1, A2)
    g = torch.Generator().manual_seed(1)
    S, h1, h2 = K.halving_sample(A1, A2, 4000, g)
    assert K.spectral_error(F, S) < 0.5
    assert h1.rows_read < 800 and h2.rows_read < 800
