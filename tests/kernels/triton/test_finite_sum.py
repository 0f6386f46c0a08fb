"""The Triton batched SPSA loss against the torch reference (kernels/finite_sum.py), under Triton's
interpreter on CPU (TRITON_INTERPRET=1, set by tests/conftest.py before triton is imported)."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from kernels import finite_sum as FS
from tests.conftest import skip_unless_ci

if importlib.util.find_spec("triton") is None:
    skip_unless_ci("triton is not installed (pip install 'softmax-lab[gpu]')")

from kernels.triton import finite_sum as TFS  # noqa: E402

TOL = {torch.float64: dict(rtol=1e-12, atol=1e-14), torch.float32: dict(rtol=2e-5, atol=1e-6)}


def instance(m, N, d, K, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, N, d, generator=g, dtype=dtype) / d ** 0.5
    b = torch.softmax(torch.randn(m, N, generator=g, dtype=dtype), dim=-1)
    w = torch.rand(m, N, generator=g, dtype=dtype)
    X = 2 * torch.randn(d, K, generator=g, dtype=dtype)
    return A, b, w, X


# (m, N, d, K): a single row and column, sizes below, at and across the default tiles (64 rows, 32 inner, 32 columns),
# odd sizes everywhere, several instances
SHAPES = [(1, 1, 1, 1), (1, 5, 3, 2), (2, 37, 7, 5), (1, 64, 32, 3), (3, 130, 41, 4), (1, 257, 65, 2)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("centred", [False, True], ids=["plain", "centred"])
def test_matches_the_torch_reference(shape, dtype, centred):
    A, b, w, X = instance(*shape, dtype)
    centre = torch.randn(shape[2], generator=torch.Generator().manual_seed(9), dtype=dtype) if centred else None
    torch.testing.assert_close(TFS.column_losses(A, b, w, X, centre), FS.column_losses(A, b, w, X, centre),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_several_tiles_in_every_dimension(dtype):
    """16-wide tiles: 5 row tiles, 3 inner tiles and 3 column blocks, each with a ragged last tile."""
    A, b, w, X = instance(2, 70, 37, 40, dtype, seed=3)
    centre = torch.randn(37, generator=torch.Generator().manual_seed(4), dtype=dtype)
    got = TFS.column_losses(A, b, w, X, centre, block_n=16, block_k=16, block_d=16)
    torch.testing.assert_close(got, FS.column_losses(A, b, w, X, centre), **TOL[dtype])


def test_strided_inputs_give_the_same_losses():
    A, b, w, X = instance(2, 40, 9, 6, torch.float64)
    At = A.transpose(1, 2).contiguous().transpose(1, 2)  # the same values, column-major rows
    XT = X.T.contiguous().T                              # the layout kernels/spsa.py builds
    torch.testing.assert_close(TFS.column_losses(At, b, w, XT[:, ::2]), FS.column_losses(A, b, w, X[:, ::2]),
                               **TOL[torch.float64])


@pytest.mark.parametrize("big", [700.0, 1e4])
def test_finite_for_huge_logits(big):
    A = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
    X = torch.tensor([[big, -big, 1.0], [-big, big, 0.5]], dtype=torch.float64)
    b = torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)
    w = torch.full((1, 3), 1e-3, dtype=torch.float64)
    got = TFS.column_losses(A, b, w, X)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, FS.column_losses(A, b, w, X), rtol=1e-12, atol=0.0)


def test_a_residual_near_zero_is_not_lost_to_cancellation():
    """At b = softmax(A x) and w = 0 the loss is ½‖f - b‖² ≈ 0: summing (f - b)² keeps it at round-off
    squared (~1e-33), where the one-pass expansion Σf² - 2Σfb + Σb² would leave ~1e-17."""
    A, _, _, X = instance(1, 300, 8, 3, torch.float64)
    b = torch.softmax(A[0] @ X[:, 0], dim=0).unsqueeze(0)
    w = torch.zeros(1, 300, dtype=torch.float64)
    got = TFS.column_losses(A, b, w, X)
    assert 0.0 <= float(got[0]) < 1e-28
    torch.testing.assert_close(got[1:], FS.column_losses(A, b, w, X)[1:], rtol=1e-12, atol=0.0)


def test_mismatched_dtypes_and_shapes_are_refused():
    A, b, w, X = instance(1, 10, 3, 2, torch.float64)
    with pytest.raises(ValueError, match="dtype"):
        TFS.column_losses(A, b, w, X.float())
    with pytest.raises(ValueError, match="shapes"):
        TFS.column_losses(A, b, w, X[:2])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("shape", [(1, 5, 3, 2), (2, 70, 37, 40), (1, 257, 65, 2)], ids=str)
def test_one_pass_matches_to_the_round_off_of_its_expansion(shape, dtype):
    """passes=1 expands ‖f - b‖² = Σf² - 2Σfb + Σb²: its error is the round-off of Σf² + Σb² (≤ 2 per
    instance), not of the residual, so the tolerance is absolute at that scale."""
    A, b, w, X = instance(*shape, dtype, seed=8)
    centre = torch.randn(shape[2], generator=torch.Generator().manual_seed(2), dtype=dtype)
    got = TFS.column_losses(A, b, w, X, centre, block_n=16, block_k=16, block_d=16, passes=1)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(got, FS.column_losses(A, b, w, X, centre), rtol=TOL[dtype]["rtol"],
                               atol=64 * eps * 2.0)


def test_one_pass_loses_a_residual_near_zero_where_two_passes_keep_it():
    A, _, _, X = instance(1, 300, 8, 3, torch.float64)
    b = torch.softmax(A[0] @ X[:, 0], dim=0).unsqueeze(0)
    w = torch.zeros(1, 300, dtype=torch.float64)
    two = float(TFS.column_losses(A, b, w, X, passes=2)[0])
    one = float(TFS.column_losses(A, b, w, X, passes=1)[0])
    assert two < 1e-28
    assert 0.0 <= one < 1e-15  # the round-off of Σf² + Σb², as documented
    assert abs(one - two) > 0.5 * two  # and the residual itself is lost (here the clamp at 0 leaves 0)


def test_passes_other_than_one_or_two_are_refused():
    A, b, w, X = instance(1, 10, 3, 2, torch.float64)
    with pytest.raises(ValueError, match="passes"):
        TFS.column_losses(A, b, w, X, passes=3)
