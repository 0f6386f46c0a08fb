"""Triton versions of :mod:`kernels.finite_sum` (P2): the batched SPSA forward pass
:func:`column_losses`, and the loss, gradients and Hessian-vector product over the m instances
through the fused softmax pieces of :mod:`kernels.triton.softmax`.

The SPSA forward pass:

    L(x_j) = (1/m) Σ_k ½‖softmax(A_k x_j) - b_k‖² + ½‖diag(w_k) A_k (x_j - x_c)‖²

for every column x_j of X (d×K), in one fused kernel. One program per (block of columns, instance)
walks the N rows of A_k in tiles; each tile of the product U = A_k X is formed with ``tl.dot`` (the
tensor-core path on a GPU) and never written to global memory. Two passes over the rows:

1. an online softmax down every column: a running column maximum and the normaliser Σ e^{u - max},
   rescaled whenever a tile raises the maximum;
2. the product recomputed, and the squared residual (f - b)² and the regulariser w²(u - A_k x_c)²
   accumulated directly, so that a residual near zero is not lost to the cancellation that the
   one-pass expansion Σf² - 2Σfb + Σb² would suffer.

The recomputation doubles the products (4·N·d·K FLOP per instance against the 2·N·d·K of one
product), the flash-style trade of arithmetic for memory traffic: the kernel reads A, X, b, w and
writes K numbers. Where the products bound the time, two passes cap the kernel at half the rate of
one matrix product of the same shape; ``passes=1`` accumulates the expanded sums in the first pass
instead (one product, at the accuracy cost described in :func:`column_losses`). float32 products
use IEEE precision (no TF32), like torch's default.

Without a GPU the kernel runs under Triton's interpreter (``TRITON_INTERPRET=1``, set before
``import triton``); it is tested against the torch reference there, in float32 and float64.
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.finite_sum import _apply, _apply_t, _shift
from kernels.triton._checks import check_dtypes
from kernels.triton.softmax import hvp_weights, residual_losses, residual_weights

__all__ = ["column_losses", "loss", "loss_and_gradient", "instance_gradients", "hessian_vector_product"]


@triton.jit
def _product_tile(A, X, rows, rmask, cols, cmask, d, stride_an, stride_ad, stride_xd, stride_xk,
                  BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_D: tl.constexpr):
    """U[i, j] = Σ_t A[i, t] X[t, j] for one tile of rows and columns (zero outside the masks)."""
    u = tl.zeros([BLOCK_N, BLOCK_K], dtype=A.dtype.element_ty)
    for d0 in range(0, d, BLOCK_D):
        inner = d0 + tl.arange(0, BLOCK_D)
        imask = inner < d
        a = tl.load(A + rows[:, None] * stride_an + inner[None, :] * stride_ad,
                    mask=rmask[:, None] & imask[None, :], other=0.0)
        x = tl.load(X + inner[:, None] * stride_xd + cols[None, :] * stride_xk,
                    mask=imask[:, None] & cmask[None, :], other=0.0)
        u = tl.dot(a, x, u, input_precision="ieee")
    return u


@triton.jit
def _column_losses_kernel(A, B, W2, S, X, OUT, N, d, K,
                          stride_am, stride_an, stride_ad, stride_bm, stride_sm, stride_xd, stride_xk,
                          HAS_SHIFT: tl.constexpr, ONE_PASS: tl.constexpr, BLOCK_N: tl.constexpr,
                          BLOCK_K: tl.constexpr, BLOCK_D: tl.constexpr):
    # a flat 1-D grid (no limit on the instances) with 64-bit offsets (m·N·d ≥ 2³¹ entries do not overflow)
    pid = tl.program_id(0).to(tl.int64)
    blocks = tl.cdiv(K, BLOCK_K)
    inst = pid // blocks
    cols = (pid % blocks) * BLOCK_K + tl.arange(0, BLOCK_K)
    cmask = cols < K
    A = A + inst * stride_am
    B = B + inst * stride_bm
    W2 = W2 + inst * stride_bm
    S = S + inst * stride_sm
    # pass 1: running column maximum mx and normaliser z = Σ_i e^{u_i - mx}
    # (one pass: also Σ e^{2(u - mx)}, Σ b e^{u - mx}, Σ b² and the regulariser, rescaled with mx)
    mx = tl.full([BLOCK_K], float("-inf"), dtype=A.dtype.element_ty)
    z = tl.zeros([BLOCK_K], dtype=A.dtype.element_ty)
    e2 = tl.zeros([BLOCK_K], dtype=A.dtype.element_ty)
    eb = tl.zeros([BLOCK_K], dtype=A.dtype.element_ty)
    acc = tl.zeros([BLOCK_K], dtype=A.dtype.element_ty)
    bb = tl.zeros([BLOCK_K], dtype=A.dtype.element_ty)
    for n0 in range(0, N, BLOCK_N):
        rows = n0 + tl.arange(0, BLOCK_N).to(tl.int64)
        rmask = rows < N
        u = _product_tile(A, X, rows, rmask, cols, cmask, d, stride_an, stride_ad, stride_xd, stride_xk,
                          BLOCK_N, BLOCK_K, BLOCK_D)
        new = tl.maximum(mx, tl.max(tl.where(rmask[:, None], u, float("-inf")), axis=0))  # finite
        e = tl.exp(tl.where(rmask[:, None], u, float("-inf")) - new[None, :])
        scale = tl.exp(mx - new)
        z = z * scale + tl.sum(e, axis=0)
        mx = new
        if ONE_PASS:
            b = tl.load(B + rows, mask=rmask, other=0.0)
            w2 = tl.load(W2 + rows, mask=rmask, other=0.0)
            v = u
            if HAS_SHIFT:
                v = u - tl.load(S + rows, mask=rmask, other=0.0)[:, None]
            e2 = e2 * scale * scale + tl.sum(e * e, axis=0)
            eb = eb * scale + tl.sum(b[:, None] * e, axis=0)
            bb += tl.sum(b * b, axis=0)
            acc += tl.sum(w2[:, None] * v * v, axis=0)
    if ONE_PASS:
        fit = tl.maximum(e2 / (z * z) - 2.0 * eb / z + bb, 0.0)  # Σ f² - 2Σ fb + Σ b², rounded at Σ f² + Σ b²
        tl.store(OUT + inst * K + cols, 0.5 * (fit + acc), mask=cmask)
        return
    # pass 2: Σ_i (f_i - b_i)² + w_i² (u_i - s_i)², f_i = e^{u_i - mx} / z
    for n0 in range(0, N, BLOCK_N):
        rows = n0 + tl.arange(0, BLOCK_N).to(tl.int64)
        rmask = rows < N
        u = _product_tile(A, X, rows, rmask, cols, cmask, d, stride_an, stride_ad, stride_xd, stride_xk,
                          BLOCK_N, BLOCK_K, BLOCK_D)
        b = tl.load(B + rows, mask=rmask, other=0.0)
        w2 = tl.load(W2 + rows, mask=rmask, other=0.0)
        e = tl.exp(tl.where(rmask[:, None], u, float("-inf")) - mx[None, :])
        r = tl.where(rmask[:, None], e / z[None, :] - b[:, None], 0.0)
        v = u
        if HAS_SHIFT:
            v = u - tl.load(S + rows, mask=rmask, other=0.0)[:, None]
        acc += tl.sum(r * r + w2[:, None] * v * v, axis=0)
    tl.store(OUT + inst * K + cols, 0.5 * acc, mask=cmask)


def column_losses(A: Tensor, b: Tensor, w: Tensor, X: Tensor, centre: Optional[Tensor] = None,
                  block_n: int = 64, block_k: int = 32, block_d: int = 32, passes: int = 2) -> Tensor:
    """L(x_j) for every column x_j of X (d×K), averaged over the m instances of A (m×N×d); the
    signature and the result of :func:`kernels.finite_sum.column_losses`, float32 or float64.

    ``block_n``, ``block_k`` and ``block_d`` are the tile sizes in rows, columns and the inner
    dimension (powers of two, at least 16 for ``tl.dot``; clipped to the problem's size).

    ``passes=2`` (the default) sums the squared residual directly, accurate to the round-off of the
    residual itself. ``passes=1`` forms the products once and expands ‖f - b‖² = Σf² - 2Σfb + Σb²
    with online rescaling: half the products, but the residual's absolute error is the round-off of
    Σf² + Σb² (about 1e-17 in float64 where the residual is 0), so a loss near an interpolating
    solution is lost; it suits losses well above that level."""
    if passes not in (1, 2):
        raise ValueError(f"passes must be 1 or 2, got {passes!r}")
    if A.dim() != 3 or b.shape != A.shape[:2] or w.shape != A.shape[:2] or X.dim() != 2 or X.shape[0] != A.shape[2]:
        raise ValueError(f"shapes do not match: A {tuple(A.shape)}, b {tuple(b.shape)}, w {tuple(w.shape)}, "
                         f"X {tuple(X.shape)}")
    check_dtypes(A=A, b=b, w=w, X=X, centre=centre)
    for name, blk in (("block_n", block_n), ("block_k", block_k), ("block_d", block_d)):
        if not isinstance(blk, int) or blk < 16 or blk & (blk - 1):
            raise ValueError(f"{name} must be a power of two >= 16, got {blk!r}")
    m, N, d = A.shape
    K = X.shape[1]
    b, w2 = b.contiguous(), (w * w).contiguous()
    shift = None
    if centre is not None and bool(torch.any(centre != 0)):
        shift = torch.matmul(A, centre).contiguous()  # A_k x_c, m×N
    out = torch.empty(m, K, dtype=A.dtype, device=A.device)
    S = shift if shift is not None else b  # an unused pointer when there is no shift
    block_n, block_k, block_d = (max(16, min(blk, triton.next_power_of_2(size)))
                                 for blk, size in ((block_n, N), (block_k, K), (block_d, d)))
    _column_losses_kernel[(triton.cdiv(K, block_k) * m,)](
        A, b, w2, S, X, out, N, d, K,
        A.stride(0), A.stride(1), A.stride(2), b.stride(0), S.stride(0), X.stride(0), X.stride(1),
        HAS_SHIFT=shift is not None, ONE_PASS=passes == 1, BLOCK_N=block_n, BLOCK_K=block_k, BLOCK_D=block_d)
    return out.mean(dim=0)


def _residuals(A: Tensor, b: Tensor, w: Tensor, x: Tensor, centre: Optional[Tensor], weights: bool = True):
    """Per instance: L_k(x), and y_k with ∇L_k = A_kᵀ y_k when ``weights`` (docs/theory/p1.md §P1.2 for each instance)."""
    if A.dim() != 3 or b.shape != A.shape[:2] or w.shape != A.shape[:2] or x.shape != A.shape[2:]:
        raise ValueError(f"shapes do not match: A {tuple(A.shape)}, b {tuple(b.shape)}, w {tuple(w.shape)}, "
                         f"x {tuple(x.shape)}")
    return (residual_weights if weights else residual_losses)(_apply(A, x), b, w, _shift(A, centre))


def loss(A: Tensor, b: Tensor, w: Tensor, x: Tensor, centre: Optional[Tensor] = None) -> Tensor:
    """L(x) = (1/m) Σ_k L_k(x) (docs/theory/p2.md §P2.1); :func:`kernels.finite_sum.loss`."""
    return _residuals(A, b, w, x, centre, weights=False).mean()


def instance_gradients(A: Tensor, b: Tensor, w: Tensor, x: Tensor, centre: Optional[Tensor] = None) -> Tensor:
    """∇L_k(x) for every instance, m×d; :func:`kernels.finite_sum.instance_gradients`."""
    return _apply_t(A, _residuals(A, b, w, x, centre)[1])


def loss_and_gradient(A: Tensor, b: Tensor, w: Tensor, x: Tensor, centre: Optional[Tensor] = None):
    """L(x) and ∇L(x) = (1/m) Σ_k A_kᵀ y_k; :func:`kernels.finite_sum.loss_and_gradient`."""
    per, Y = _residuals(A, b, w, x, centre)
    return per.mean(), _apply_t(A, Y).mean(0)


def hessian_vector_product(A: Tensor, b: Tensor, w: Tensor, x: Tensor, v: Tensor) -> Tensor:
    """∇²L(x) v averaged over instances, with A_k[x, v] in one batched product (docs/theory/p1.md §P1.2);
    :func:`kernels.finite_sum.hessian_vector_product`."""
    if A.dim() != 3 or x.shape != A.shape[2:] or v.shape != A.shape[2:]:
        raise ValueError(f"shapes do not match: A {tuple(A.shape)}, x {tuple(x.shape)}, v {tuple(v.shape)}")
    UA = torch.matmul(A, torch.stack([x, v], dim=1))  # m×N×2
    return _apply_t(A, hvp_weights(UA[..., 0], UA[..., 1], b, w)).mean(0)
