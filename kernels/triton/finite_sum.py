"""Triton version of :func:`kernels.finite_sum.column_losses`: the batched SPSA forward pass (P2).

    L(x_j) = (1/m) Σ_k ½‖softmax(A_k x_j) - b_k‖² + ½‖diag(w_k) A_k (x_j - x_c)‖²

for every column x_j of X (d×K), in one fused kernel: one program per (column, instance) pair walks
the N rows of A_k in tiles and never writes the N×K product to global memory. Two passes over the
rows: the first keeps a running maximum and normaliser of the column's softmax per lane (the
online softmax), the second recomputes the product and accumulates the squared residual
(f - b)² and the regulariser w²(u - A_k x_c)² directly, so that a residual near zero is not lost
to the cancellation that Σf² - 2Σfb + Σb² would suffer. The recomputation doubles the products
(2·N·d multiply-adds per column and instance, against the N values a stored product would need),
which is the flash-style trade of arithmetic for memory traffic.

Without a GPU the kernel runs under Triton's interpreter (``TRITON_INTERPRET=1``, set before
``import triton``); it is tested against the torch reference there, in float32 and float64.
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["column_losses"]


@triton.jit
def _row_products(A, X, rows, rmask, col, d, stride_an, stride_ad, stride_xd, stride_xk,
                  BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """u_i = Σ_t A[i, t] X[t, col] for one tile of rows (zero on masked rows)."""
    u = tl.zeros([BLOCK_N], dtype=A.dtype.element_ty)
    for d0 in range(0, d, BLOCK_D):
        cols = d0 + tl.arange(0, BLOCK_D)
        cmask = cols < d
        a = tl.load(A + rows[:, None] * stride_an + cols[None, :] * stride_ad,
                    mask=rmask[:, None] & cmask[None, :], other=0.0)
        x = tl.load(X + cols * stride_xd + col * stride_xk, mask=cmask, other=0.0)
        u += tl.sum(a * x[None, :], axis=1)
    return u


@triton.jit
def _column_losses_kernel(A, B, W2, S, X, OUT, N, d,
                          stride_am, stride_an, stride_ad, stride_bm, stride_sm, stride_xd, stride_xk,
                          HAS_SHIFT: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    col = tl.program_id(0)
    inst = tl.program_id(1)
    A = A + inst * stride_am
    B = B + inst * stride_bm
    W2 = W2 + inst * stride_bm
    S = S + inst * stride_sm
    neg_inf = float("-inf")
    # pass 1: per-lane running max m and normaliser z of exp(u - m)
    m = tl.full([BLOCK_N], neg_inf, dtype=A.dtype.element_ty)
    z = tl.zeros([BLOCK_N], dtype=A.dtype.element_ty)
    for n0 in range(0, N, BLOCK_N):
        rows = n0 + tl.arange(0, BLOCK_N)
        rmask = rows < N
        u = _row_products(A, X, rows, rmask, col, d, stride_an, stride_ad, stride_xd, stride_xk, BLOCK_N, BLOCK_D)
        m_new = tl.where(rmask, tl.maximum(m, u), m)
        m_ref = tl.where(m_new == neg_inf, 0.0, m_new)  # a lane not reached yet: no -inf - -inf
        z = tl.where(rmask, z * tl.exp(m - m_ref) + tl.exp(tl.where(rmask, u, m_ref) - m_ref), z)
        m = m_new
    m_all = tl.max(m, axis=0)
    z_all = tl.sum(tl.where(m > neg_inf, z * tl.exp(m - m_all), 0.0), axis=0)
    # pass 2: Σ (f_i - b_i)² + w_i² (u_i - s_i)², with f_i = exp(u_i - m_all) / z_all
    acc = tl.zeros([BLOCK_N], dtype=A.dtype.element_ty)
    for n0 in range(0, N, BLOCK_N):
        rows = n0 + tl.arange(0, BLOCK_N)
        rmask = rows < N
        u = _row_products(A, X, rows, rmask, col, d, stride_an, stride_ad, stride_xd, stride_xk, BLOCK_N, BLOCK_D)
        b = tl.load(B + rows, mask=rmask, other=0.0)
        w2 = tl.load(W2 + rows, mask=rmask, other=0.0)
        r = tl.where(rmask, tl.exp(tl.where(rmask, u, m_all) - m_all) / z_all - b, 0.0)
        v = u
        if HAS_SHIFT:
            v = u - tl.load(S + rows, mask=rmask, other=0.0)
        acc += r * r + w2 * v * v
    tl.store(OUT + inst * tl.num_programs(0) + col, 0.5 * tl.sum(acc, axis=0))


def column_losses(A: Tensor, b: Tensor, w: Tensor, X: Tensor, centre: Optional[Tensor] = None,
                  block_n: int = 64, block_d: int = 32) -> Tensor:
    """L(x_j) for every column x_j of X (d×K), averaged over the m instances of A (m×N×d); the
    signature and the result of :func:`kernels.finite_sum.column_losses`, float32 or float64."""
    if A.dim() != 3 or b.shape != A.shape[:2] or w.shape != A.shape[:2] or X.dim() != 2 or X.shape[0] != A.shape[2]:
        raise ValueError(f"shapes do not match: A {tuple(A.shape)}, b {tuple(b.shape)}, w {tuple(w.shape)}, "
                         f"X {tuple(X.shape)}")
    if len({A.dtype, b.dtype, w.dtype, X.dtype}) != 1 or A.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"A, b, w and X must share one dtype, float32 or float64; got {A.dtype}, {b.dtype}, "
                         f"{w.dtype}, {X.dtype}")
    m, N, d = A.shape
    K = X.shape[1]
    b, w2 = b.contiguous(), (w * w).contiguous()
    shift = None
    if centre is not None and bool(torch.any(centre != 0)):
        shift = torch.matmul(A, centre).contiguous()  # A_k x_c, m×N
    out = torch.empty(m, K, dtype=A.dtype, device=A.device)
    S = shift if shift is not None else b  # an unused pointer when there is no shift
    block_n = min(block_n, triton.next_power_of_2(N))
    block_d = min(block_d, triton.next_power_of_2(d))
    _column_losses_kernel[(K, m)](
        A, b, w2, S, X, out, N, d,
        A.stride(0), A.stride(1), A.stride(2), b.stride(0), S.stride(0), X.stride(0), X.stride(1),
        HAS_SHIFT=shift is not None, BLOCK_N=block_n, BLOCK_D=block_d)
    return out.mean(dim=0)
