"""kernels/matrix.py: sparse products agree with dense ones, including empty rows and row scaling."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import matrix as MX, sketch


def sparse_pair(n: int, d: int, density: float, seed: int):
    """A dense matrix with about density·n·d nonzeros (many empty rows when small) and its COO twin."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=g, dtype=torch.float64)
    A[torch.rand(n, d, generator=g, dtype=torch.float64) > density] = 0.0
    A[0, 0] = 1.5  # never all zero
    return A, A.to_sparse().coalesce()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 80), st.integers(1, 7), st.sampled_from([0.02, 0.2, 0.9]), st.integers(0, 10_000))
def test_products_agree_with_dense(n, d, density, seed):
    A, S = sparse_pair(n, d, density, seed)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(d, generator=g, dtype=torch.float64)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    Y = torch.randn(n, 3, generator=g, dtype=torch.float64)
    D = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
    Z = torch.randn(d, 4, generator=g, dtype=torch.float64)
    rows = torch.unique(torch.randint(n, (min(n, 5),), generator=g))
    torch.testing.assert_close(MX.matvec(S, x), A @ x)
    torch.testing.assert_close(MX.rmatvec(S, y), A.T @ y)
    torch.testing.assert_close(MX.rmatmat(S, Y), A.T @ Y)
    torch.testing.assert_close(MX.scaled_gram(S, D), A.T @ (D.unsqueeze(1) * A))
    torch.testing.assert_close(MX.row_block(S, rows), A[rows])
    want = ((D.sqrt().unsqueeze(1) * A) @ Z).pow(2).sum(dim=1)
    torch.testing.assert_close(MX.matmat_row_norms2(S, Z, D.sqrt()), want)
    torch.testing.assert_close(MX.matmat_row_norms2(A, Z, D.sqrt()), want)


def test_an_uncoalesced_sparse_matrix_is_handled():
    A, S = sparse_pair(30, 4, 0.3, 1)
    i, j = S.indices()
    twice = torch.sparse_coo_tensor(torch.cat([torch.stack([i, j])] * 2, dim=1), torch.cat([S.values() / 2] * 2),
                                    S.shape, check_invariants=True)
    x = torch.arange(4, dtype=torch.float64)
    torch.testing.assert_close(MX.matvec(twice, x), A @ x)


def test_row_scaled_countsketch_is_the_countsketch_of_the_scaled_matrix():
    A, S = sparse_pair(300, 5, 0.3, 2)
    r = torch.linspace(0.5, 2.0, 300, dtype=torch.float64)
    want = sketch.countsketch(r.unsqueeze(1) * A, 40, torch.Generator().manual_seed(3))
    torch.testing.assert_close(sketch.countsketch(A, 40, torch.Generator().manual_seed(3), row_scale=r), want)
    torch.testing.assert_close(sketch.countsketch(S, 40, torch.Generator().manual_seed(3), row_scale=r), want)


@pytest.mark.parametrize("sparse", [False, True])
def test_row_scaled_approximate_scores_track_the_exact_scores_of_the_scaled_matrix(sparse):
    A, S = sparse_pair(6000, 6, 0.5, 4)
    r = torch.linspace(0.2, 3.0, 6000, dtype=torch.float64)
    exact = sketch.leverage_scores(r.unsqueeze(1) * A)
    approx = sketch.approximate_leverage_scores(S if sparse else A, torch.Generator().manual_seed(0), row_scale=r)
    nz = exact > 1e-12
    ratio = approx[nz] / exact[nz]
    assert float(ratio.min()) > 0.25 and float(ratio.max()) < 4.0
    assert int((~nz).sum()) > 0 and float(approx[~nz].abs().sum()) < 1e-12  # empty rows have no leverage
