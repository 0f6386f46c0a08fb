"""The fused Triton softmax pieces of the P1 gradient and Hessian-vector product, and their batched
forms over instances, against the torch references (kernels/softmax.py, kernels/finite_sum.py),
under Triton's interpreter on CPU (TRITON_INTERPRET=1, set by tests/conftest.py)."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from kernels import finite_sum as FS
from kernels import softmax as K
from tests.conftest import skip_unless_ci

if importlib.util.find_spec("triton") is None:
    skip_unless_ci("triton is not installed (pip install 'softmax-lab[gpu]')")

from kernels.triton import finite_sum as TFS  # noqa: E402
from kernels.triton import softmax as TK  # noqa: E402

TOL = {torch.float64: dict(rtol=1e-12, atol=1e-13), torch.float32: dict(rtol=2e-5, atol=1e-5)}
DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])


def p1_instance(n, d, dtype, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    A = scale * torch.randn(n, d, generator=g, dtype=dtype) / d ** 0.5
    b = torch.softmax(torch.randn(n, generator=g, dtype=dtype), dim=0)
    w = torch.rand(n, generator=g, dtype=dtype)
    x, v = torch.randn(d, generator=g, dtype=dtype), torch.randn(d, generator=g, dtype=dtype)
    return A, b, w, x, v


# (n, d): one row, a few, one tile less and more one entry (1024), several tiles with a ragged end
SHAPES = [(1, 1), (5, 3), (1023, 4), (1025, 2), (2500, 9)]


@DTYPES
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_p1_loss_gradient_and_hvp_match_the_torch_reference(shape, dtype):
    A, b, w, x, v = p1_instance(*shape, dtype)
    L, g = TK.loss_and_gradient(A, b, w, x)
    L0, g0 = K.loss_and_gradient(A, b, w, x)
    torch.testing.assert_close(L, L0, **TOL[dtype])
    torch.testing.assert_close(g, g0, **TOL[dtype])
    torch.testing.assert_close(TK.loss(A, b, w, x), L0, **TOL[dtype])
    torch.testing.assert_close(TK.gradient(A, b, w, x), g0, **TOL[dtype])
    torch.testing.assert_close(TK.hessian_vector_product(A, b, w, x, v),
                               K.hessian_vector_product(A, b, w, x, v), **TOL[dtype])


def test_small_tiles_spread_one_instance_over_many_programs():
    """16-entry tiles: 63 programs per launch, and the tiles' maxima differ by far more than e^700."""
    g = torch.Generator().manual_seed(5)
    U = torch.cat([torch.linspace(-900, 900, 1000, dtype=torch.float64), torch.randn(3, generator=g,
                                                                                      dtype=torch.float64)])[None]
    b = torch.softmax(torch.randn(1, U.shape[1], generator=g, dtype=torch.float64), dim=1)
    w = torch.rand(1, U.shape[1], generator=g, dtype=torch.float64)
    a = torch.randn(1, U.shape[1], generator=g, dtype=torch.float64)
    per, Y = TK.residual_weights(U, b, w, block=16)
    assert torch.equal(TK.residual_losses(U, b, w, block=16), per)
    f = torch.softmax(U[0], 0)
    c = f - b[0]
    torch.testing.assert_close(per[0], 0.5 * (c @ c) + 0.5 * ((w[0] * U[0]) @ (w[0] * U[0])), rtol=1e-12, atol=0)
    torch.testing.assert_close(Y[0], f * c - (f @ c) * f + w[0] ** 2 * U[0], rtol=1e-12, atol=1e-300)
    q = (2 * f - b[0]) * f
    D = q - ((f - b[0]) @ f) * f + w[0] ** 2
    z = D * a[0] + (((3 * f - 2 * b[0]) @ f) * (f @ a[0]) - q @ a[0]) * f - (f @ a[0]) * q
    torch.testing.assert_close(TK.hvp_weights(U, a, b, w, block=16)[0], z, rtol=1e-12, atol=1e-300)


def test_sparse_A_gives_the_dense_results():
    A, b, w, x, v = p1_instance(300, 6, torch.float64, seed=1)
    A = A * (torch.rand(300, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64) < 0.3)
    S = A.to_sparse_coo()
    torch.testing.assert_close(TK.gradient(S, b, w, x), K.gradient(A, b, w, x), **TOL[torch.float64])
    torch.testing.assert_close(TK.hessian_vector_product(S, b, w, x, v), K.hessian_vector_product(A, b, w, x, v),
                               **TOL[torch.float64])


@pytest.mark.parametrize("scale", [700.0, 1e4])
def test_finite_for_huge_logits(scale):
    A, b, w, x, v = p1_instance(40, 3, torch.float64, seed=3, scale=scale)
    w = torch.full_like(w, 1e-3)
    L, g = TK.loss_and_gradient(A, b, w, x)
    hv = TK.hessian_vector_product(A, b, w, x, v)
    assert torch.isfinite(L) and torch.isfinite(g).all() and torch.isfinite(hv).all()
    # the rank-2 terms β(pᵀv)p, (sᵀv)p, (pᵀv)s are each of size ‖A‖²‖v‖ (~1e8 at 1e4) and cancel to the
    # result; both versions round at that scale, so that is the scale of the tolerance
    scale_g, scale_h = float(torch.linalg.matrix_norm(A, 2)), float(torch.linalg.matrix_norm(A, 2)) ** 2 * float(v.norm())
    torch.testing.assert_close(g, K.gradient(A, b, w, x), rtol=0, atol=1e-14 * scale_g)
    torch.testing.assert_close(hv, K.hessian_vector_product(A, b, w, x, v), rtol=0, atol=1e-14 * scale_h)


def test_a_residual_near_zero_is_not_lost_to_cancellation():
    """At b = softmax(Ax) and w = 0 the loss is round-off squared, ~1e-33, not ~1e-17."""
    A, _, _, x, _ = p1_instance(2000, 5, torch.float64, seed=4)
    b = torch.softmax(A @ x, dim=0)
    L = TK.loss(A, b, torch.zeros_like(b), x)
    assert 0.0 <= float(L) < 1e-28


@DTYPES
@pytest.mark.parametrize("centred", [False, True], ids=["plain", "centred"])
def test_batched_instances_match_kernels_finite_sum(dtype, centred):
    g = torch.Generator().manual_seed(6)
    m, N, d = 3, 1100, 5
    A = torch.randn(m, N, d, generator=g, dtype=dtype) / d ** 0.5
    b = torch.softmax(torch.randn(m, N, generator=g, dtype=dtype), dim=1)
    w = torch.rand(m, N, generator=g, dtype=dtype)
    x, v = torch.randn(d, generator=g, dtype=dtype), torch.randn(d, generator=g, dtype=dtype)
    centre = torch.randn(d, generator=g, dtype=dtype) if centred else None
    torch.testing.assert_close(TFS.loss(A, b, w, x, centre), FS.loss(A, b, w, x, centre), **TOL[dtype])
    torch.testing.assert_close(TFS.instance_gradients(A, b, w, x, centre), FS.instance_gradients(A, b, w, x, centre),
                               **TOL[dtype])
    L, g1 = TFS.loss_and_gradient(A, b, w, x, centre)
    L0, g0 = FS.loss_and_gradient(A, b, w, x, centre)
    torch.testing.assert_close(L, L0, **TOL[dtype])
    torch.testing.assert_close(g1, g0, **TOL[dtype])
    torch.testing.assert_close(TFS.hessian_vector_product(A, b, w, x, v), FS.hessian_vector_product(A, b, w, x, v),
                               **TOL[dtype])


def test_strided_rows_give_the_same_results():
    """b and w as every other row of a larger array, A with a column-major layout."""
    g = torch.Generator().manual_seed(7)
    A = torch.randn(2, 60, 4, generator=g, dtype=torch.float64)
    bb = torch.softmax(torch.randn(4, 60, generator=g, dtype=torch.float64), dim=1)
    ww = torch.rand(4, 60, generator=g, dtype=torch.float64)
    x, v = torch.randn(4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    At = A.transpose(1, 2).contiguous().transpose(1, 2)
    b, w = bb[::2], ww[::2]
    torch.testing.assert_close(TFS.loss_and_gradient(At, b, w, x)[1], FS.loss_and_gradient(A, b, w, x)[1],
                               **TOL[torch.float64])
    torch.testing.assert_close(TFS.hessian_vector_product(At, b, w, x, v), FS.hessian_vector_product(A, b, w, x, v),
                               **TOL[torch.float64])


def test_mismatched_dtypes_and_shapes_are_refused():
    A, b, w, x, v = p1_instance(10, 3, torch.float64)
    with pytest.raises(ValueError, match="dtype"):
        TK.gradient(A, b.float(), w, x)
    with pytest.raises(ValueError, match="shapes"):
        TK.hessian_vector_product(A, b, w, x, v[:2])
    with pytest.raises(ValueError, match="shapes"):
        TFS.loss(A[None], b[None], w[None], x[:2])
