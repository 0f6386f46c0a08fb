"""The flash-style Triton attention kernels against the torch reference (kernels/attention.py, P3.1–P3.2),
under Triton's interpreter on CPU (TRITON_INTERPRET=1, set by tests/conftest.py before triton is imported)."""
from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from kernels import attention as K
from tests.conftest import skip_unless_ci
from tests.kernels.triton.conftest import ON_GPU

if importlib.util.find_spec("triton") is None:
    skip_unless_ci("triton is not installed (pip install 'softmax-lab[gpu]')")

from kernels.triton import attention as TA  # noqa: E402

DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
# rtol, and atol as a fraction of the largest entry of the reference (a gradient entry near zero carries
# the round-off of the whole sum)
TOL = {torch.float64: (1e-12, 1e-13), torch.float32: (2e-5, 2e-6)}


def close(got, want, dtype=None):
    dtype = dtype or want.dtype
    rtol, scale = TOL[dtype]
    assert got.dtype == want.dtype and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=rtol, atol=scale * float(want.abs().max()))


def instance(n, d, dtype, seed=0, with_w=True):
    """A_i = N(0,1)/√d, X, Y, B ~ N(0,1), w ∈ [0.5, 1.5]^{n×n}, as in tests/kernels/test_attention.py."""
    g = torch.Generator().manual_seed(seed)
    A1, A2, A3 = (torch.randn(n, d, generator=g, dtype=dtype) / math.sqrt(d) for _ in range(3))
    B = torch.randn(n, d, generator=g, dtype=dtype)
    X = torch.randn(d, d, generator=g, dtype=dtype)
    Y = torch.randn(d, d, generator=g, dtype=dtype)
    w = 0.5 + torch.rand(n, n, generator=g, dtype=dtype) if with_w else None
    return A1, A2, A3, B, X, Y, w


# (n, d): one row, odd sizes below a tile, across the default tiles (64 rows/columns in float32, 32 in float64)
SHAPES = [(1, 1), (5, 3), (17, 7), (33, 20), (70, 3), (130, 7)]
# (n, d, block_m, block_n): several row and column blocks, square and oblong tiles, ragged last blocks
TILED = [(33, 3, 16, 16), (70, 7, 16, 32), (50, 20, 32, 16)]


def check_all(A1, A2, A3, B, X, Y, w, lam_y, dtype, **blocks):
    want = K.loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y)
    got = TA.loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y, **blocks)
    for g, r in zip(got, want):
        close(g, r, dtype)


# --------------------------------------------------------------------------- forward


@DTYPES
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_attention_apply_matches_the_reference(shape, dtype):
    A1, A2, A3, _, X, Y, _ = instance(*shape, dtype)
    V = A3 @ Y
    close(TA.attention_apply(A1, A2, X, V), K.attention_apply(A1, A2, X, V))


@DTYPES
def test_attention_apply_tiled_with_other_sizes(dtype):
    """m ≠ n keys, X d1×d2 and V m×dv with dv ≠ d, over 3×4 tiles of 16."""
    g = torch.Generator().manual_seed(4)
    A1 = torch.randn(45, 5, generator=g, dtype=dtype)
    X = torch.randn(5, 3, generator=g, dtype=dtype)
    A2 = torch.randn(61, 3, generator=g, dtype=dtype)
    V = torch.randn(61, 18, generator=g, dtype=dtype)
    close(TA.attention_apply(A1, A2, X, V, block_m=16, block_n=16), K.attention_apply(A1, A2, X, V))


def test_reference_attention_apply_is_s_times_v():
    A1, A2, A3, _, X, Y, _ = instance(6, 3, torch.float64)
    V = A3 @ Y
    torch.testing.assert_close(K.attention_apply(A1, A2, X, V), K.attention(A1, A2, X) @ V, rtol=1e-14, atol=0.0)


def test_row_statistics_give_the_logsumexp():
    A1, A2, A3, _, X, Y, _ = instance(37, 4, torch.float64)
    dev = "cuda" if ON_GPU else "cpu"  # a private helper: not routed through the device by conftest.py
    fw = TA._flash_forward(*(t.to(dev) for t in (A1 @ X, A2, A3 @ Y)), None, 16, 16)
    U = K.scores(A1, A2, X)
    torch.testing.assert_close(fw.row_max.cpu(), U.amax(dim=1), rtol=0.0, atol=1e-13 * float(U.abs().max()))
    torch.testing.assert_close(fw.logsumexp().cpu(), torch.logsumexp(U, dim=1), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype,width,tile", [(torch.float32, 64, 64), (torch.float32, 128, 32),
                                               (torch.float32, 256, 16), (torch.float64, 64, 32),
                                               (torch.float64, 128, 16), (torch.float64, 256, 16)])
def test_default_tiles_shrink_as_d_grows(dtype, width, tile):
    assert TA.default_tile(dtype, width) == tile


def test_widths_above_256_are_refused():
    A1 = torch.zeros(4, 257, dtype=torch.float64)
    with pytest.raises(ValueError, match="d = 257 is above 256.*kernels.backend=torch"):
        TA.loss(A1, A1, A1, A1, torch.zeros(257, 257, dtype=torch.float64), torch.zeros(257, 257, dtype=torch.float64))


# --------------------------------------------------------------------------- loss and gradients


@DTYPES
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("weighted", [False, True], ids=["w=None", "w"])
def test_loss_and_gradients_match_the_reference(shape, dtype, weighted):
    A1, A2, A3, B, X, Y, w = instance(*shape, dtype, with_w=weighted)
    check_all(A1, A2, A3, B, X, Y, w, 0.5 if weighted else 0.0, dtype)


@DTYPES
@pytest.mark.parametrize("tiled", TILED, ids=[str(t) for t in TILED])
def test_loss_and_gradients_over_several_row_and_column_blocks(tiled, dtype):
    n, d, bm, bn = tiled
    A1, A2, A3, B, X, Y, w = instance(n, d, dtype, seed=1)
    check_all(A1, A2, A3, B, X, Y, w, 0.25, dtype, block_m=bm, block_n=bn)


@DTYPES
def test_wrappers_agree_with_the_reference(dtype):
    """loss, gradient_x and gradient_y (w as an n²-vector, read row-major like the reference)."""
    A1, A2, A3, B, X, Y, w = instance(21, 5, dtype, seed=2)
    w = w.reshape(-1)
    args = (A1, A2, A3, B, X, Y, w, 0.7)
    close(TA.loss(*args, block_m=16, block_n=16), K.loss(*args))
    close(TA.gradient_x(*args, block_m=16, block_n=16), K.gradient_x(*args))
    close(TA.gradient_y(*args, block_m=16, block_n=16), K.gradient_y(*args))


@DTYPES
def test_large_scores_stay_finite_and_exact(dtype):
    """|U| in the thousands (e^{700} overflows float64, e^{89} float32). The data are small integers, so U
    is exact in both dtypes and the kernels must reproduce the reference's shifted softmax to round-off."""
    g = torch.Generator().manual_seed(5)
    n, d = 40, 3
    A1, A2, A3 = (torch.randint(-2, 3, (n, d), generator=g).to(dtype) for _ in range(3))
    X = 60.0 * torch.randint(-3, 4, (d, d), generator=g).to(dtype)
    Y = torch.randn(d, d, generator=g, dtype=dtype)
    B = torch.randn(n, d, generator=g, dtype=dtype)
    w = 1e-2 * torch.rand(n, n, generator=g, dtype=dtype)
    assert K.scores(A1, A2, X).abs().max() > 700
    got = TA.loss_and_gradients(A1, A2, A3, B, X, Y, w, 0.1, block_m=16, block_n=16)
    assert all(torch.isfinite(t).all() for t in got)
    check_all(A1, A2, A3, B, X, Y, w, 0.1, dtype, block_m=16, block_n=16)
    V = A3 @ Y
    close(TA.attention_apply(A1, A2, X, V, block_m=16, block_n=16), K.attention_apply(A1, A2, X, V))


def test_strided_inputs_give_the_same_results():
    """Transposed, column-major and every-other-row views; the kernels take any strides."""
    dtype = torch.float64
    A1, A2, A3, B, X, Y, w = instance(35, 6, dtype, seed=3)
    A1s = A1.T.contiguous().T                                    # column-major
    A2s = torch.stack([A2, torch.zeros_like(A2)], dim=1).reshape(70, 6)[::2]  # every other row of a larger matrix
    A3s = A3.T.contiguous().T
    Bs = B.T.contiguous().T
    Xs = X.T.contiguous().T
    Ys = Y.T.contiguous().T
    ws = w.T.contiguous().T
    assert not any(t.is_contiguous() for t in (A1s, A2s, A3s, Bs, Xs, Ys, ws))
    assert torch.equal(A2s, A2)
    want = K.loss_and_gradients(A1, A2, A3, B, X, Y, w, 0.3)
    got = TA.loss_and_gradients(A1s, A2s, A3s, Bs, Xs, Ys, ws, 0.3, block_m=16, block_n=16)
    for g, r in zip(got, want):
        close(g, r)
    V = (A3 @ Y).T.contiguous().T
    close(TA.attention_apply(A1s, A2s, Xs, V, block_m=16, block_n=16), K.attention_apply(A1, A2, X, V))


# --------------------------------------------------------------------------- refusals


def test_wrong_dtypes_are_refused():
    A1, A2, A3, B, X, Y, w = instance(6, 3, torch.float64)
    with pytest.raises(ValueError, match="X has dtype torch.float32"):
        TA.attention_apply(A1, A2, X.float(), A3)
    with pytest.raises(ValueError, match="A2 must be float32 or float64, got torch.float16"):
        TA.attention_apply(A1, A2.half(), X, A3)
    with pytest.raises(ValueError, match="B must be float32 or float64, got torch.int64"):
        TA.loss_and_gradients(A1, A2, A3, B.long(), X, Y)
    with pytest.raises(ValueError, match="w has dtype torch.float32"):
        TA.loss(A1, A2, A3, B, X, Y, w.float())


def test_wrong_shapes_are_refused():
    A1, A2, A3, B, X, Y, w = instance(6, 3, torch.float64)
    with pytest.raises(ValueError, match=r"X must have shape \(3, ·\)"):
        TA.attention_apply(A1, A2, X[:2], A3)
    with pytest.raises(ValueError, match=r"A2 must have shape \(·, 3\)"):
        TA.attention_apply(A1, A2[:, :2], X, A3)
    with pytest.raises(ValueError, match=r"V must have shape \(6, ·\)"):
        TA.attention_apply(A1, A2, X, A3[:5])
    with pytest.raises(ValueError, match="A1 must be a non-empty matrix"):
        TA.attention_apply(A1[0], A2, X, A3)
    with pytest.raises(ValueError, match=r"A3 must have shape \(6, 3\)"):
        TA.loss_and_gradients(A1, A2, A3[:4], B, X, Y)
    with pytest.raises(ValueError, match=r"B must have shape \(6, 3\)"):
        TA.gradient_x(A1, A2, A3, B[:, :2], X, Y)
    with pytest.raises(ValueError, match=r"Y must have shape \(3, 3\)"):
        TA.gradient_y(A1, A2, A3, B, X, Y[:, :2])
    with pytest.raises(ValueError, match=r"w must have shape \(6, 6\)"):
        TA.loss(A1, A2, A3, B, X, Y, w[:5])
    with pytest.raises(ValueError, match="block_m must be a power of two >= 16, got 8"):
        TA.attention_apply(A1, A2, X, A3, block_m=8)
    with pytest.raises(ValueError, match="block_n must be a power of two >= 16, got 24"):
        TA.loss(A1, A2, A3, B, X, Y, block_n=24)
