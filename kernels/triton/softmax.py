"""Triton versions of the P1 gradient and Hessian-vector product (:mod:`kernels.softmax`), and of
their batched forms over m instances (:mod:`kernels.finite_sum`).

The products with A stay with torch (cuBLAS on a GPU; dense or sparse A); what is fused is the
softmax and everything between the products, which torch runs as a dozen element-wise passes over
N-vectors (docs/theory/p1.md §P1.2):

    gradient:  y = f∘c - ⟨f, c⟩ f + w²∘(u - A x_c),  ∇L = Aᵀ y,  from u = A x;
    HVP:       z = D∘a + (β⟨f, a⟩ - ⟨q, a⟩) f - ⟨f, a⟩ q,  ∇²L v = Aᵀ z,  from u = A x and a = A v,

with f = softmax(u), c = f - b, q = (2f - b)∘f, β = ⟨3f - 2b, f⟩ and D = q - ⟨f - b, f⟩ f + w².
The HVP form follows from p = Aᵀf, s = Aᵀq: pᵀv = ⟨f, a⟩ and sᵀv = ⟨q, a⟩, so the whole product
needs one pass over A for [x, v] and one for Aᵀz, against four in the torch reference.

Each instance's N entries are split into tiles spread over the GPU (grid tiles × instances), in
three launches: (1) each tile's maximum and Σ e^{u - max}, combined into the softmax's maximum
and normaliser; (2) each tile's partial sums (the loss terms and ⟨f, c⟩, or β, ⟨f - b, f⟩,
⟨f, a⟩, ⟨q, a⟩); (3) the vector y or z. The squared residual is summed as Σ(f - b)², never
expanded, so a residual near zero keeps its relative accuracy.
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.matrix import matmat, matvec, rmatvec
from kernels.triton._checks import check_dtypes

__all__ = ["loss", "loss_and_gradient", "gradient", "hessian_vector_product", "residual_losses",
           "residual_weights", "hvp_weights"]

#: entries of one tile
BLOCK = 1024


@triton.jit
def _tile_and_instance(T):
    """A flat 1-D grid of T tiles per instance (no limit on the instances, unlike a grid's y axis), with
    64-bit indices: offsets of m·N ≥ 2³¹ entries do not overflow."""
    pid = tl.program_id(0).to(tl.int64)
    return pid % T, pid // T


@triton.jit
def _tile_max_sum_kernel(U, PMAX, PSUM, N, T, stride_um, BLOCK: tl.constexpr):
    """Per tile: its maximum and Σ e^{u - max} over its entries."""
    t, inst = _tile_and_instance(T)
    offs = t * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    u = tl.load(U + inst * stride_um + offs, mask=mask, other=float("-inf"))
    mx = tl.max(u, axis=0)  # finite: every tile holds at least one entry
    tl.store(PMAX + inst * T + t, mx)
    tl.store(PSUM + inst * T + t, tl.sum(tl.exp(u - mx), axis=0))


@triton.jit
def _softmax_tile(U, B, offs, mask, inst, stride_um, stride_bm, MX, Z):
    """u, f = e^{u - max}/Σ and b on one tile (f = b = 0 outside the mask)."""
    u = tl.load(U + inst * stride_um + offs, mask=mask, other=float("-inf"))
    f = tl.exp(u - tl.load(MX + inst)) / tl.load(Z + inst)
    b = tl.load(B + inst * stride_bm + offs, mask=mask, other=0.0)
    return tl.where(mask, u, 0.0), f, b


@triton.jit
def _gradient_moments_kernel(U, B, W2, S, MX, Z, P, N, T, stride_um, stride_bm, stride_wm, stride_sm,
                             HAS_SHIFT: tl.constexpr, BLOCK: tl.constexpr):
    """Per tile: Σ(f - b)², Σ w²(u - s)² and Σ f∘(f - b)."""
    t, inst = _tile_and_instance(T)
    offs = t * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    u, f, b = _softmax_tile(U, B, offs, mask, inst, stride_um, stride_bm, MX, Z)
    c = tl.where(mask, f - b, 0.0)
    w2 = tl.load(W2 + inst * stride_wm + offs, mask=mask, other=0.0)
    if HAS_SHIFT:
        u = u - tl.load(S + inst * stride_sm + offs, mask=mask, other=0.0)
    out = P + (inst * T + t) * 3
    tl.store(out, tl.sum(c * c, axis=0))
    tl.store(out + 1, tl.sum(w2 * u * u, axis=0))
    tl.store(out + 2, tl.sum(f * c, axis=0))


@triton.jit
def _gradient_weights_kernel(U, B, W2, S, MX, Z, FC, Y, N, T, stride_um, stride_bm, stride_wm, stride_sm,
                             HAS_SHIFT: tl.constexpr, BLOCK: tl.constexpr):
    """y = f∘c - ⟨f, c⟩ f + w²∘(u - s)."""
    t, inst = _tile_and_instance(T)
    offs = t * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    u, f, b = _softmax_tile(U, B, offs, mask, inst, stride_um, stride_bm, MX, Z)
    w2 = tl.load(W2 + inst * stride_wm + offs, mask=mask, other=0.0)
    if HAS_SHIFT:
        u = u - tl.load(S + inst * stride_sm + offs, mask=mask, other=0.0)
    y = f * (f - b) - tl.load(FC + inst) * f + w2 * u
    tl.store(Y + inst * N + offs, y, mask=mask)


@triton.jit
def _hvp_moments_kernel(U, Av, B, MX, Z, P, N, T, stride_um, stride_am, stride_bm, BLOCK: tl.constexpr):
    """Per tile: Σ(3f - 2b)∘f, Σ(f - b)∘f, Σ f∘a and Σ q∘a with q = (2f - b)∘f."""
    t, inst = _tile_and_instance(T)
    offs = t * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    _, f, b = _softmax_tile(U, B, offs, mask, inst, stride_um, stride_bm, MX, Z)
    a = tl.load(Av + inst * stride_am + offs, mask=mask, other=0.0)
    q = (2.0 * f - b) * f
    out = P + (inst * T + t) * 4
    tl.store(out, tl.sum((3.0 * f - 2.0 * b) * f, axis=0))
    tl.store(out + 1, tl.sum((f - b) * f, axis=0))
    tl.store(out + 2, tl.sum(f * a, axis=0))
    tl.store(out + 3, tl.sum(q * a, axis=0))


@triton.jit
def _hvp_weights_kernel(U, Av, B, W2, MX, Z, M, OUT, N, T, stride_um, stride_am, stride_bm, stride_wm,
                        BLOCK: tl.constexpr):
    """z = D∘a + (β⟨f, a⟩ - ⟨q, a⟩) f - ⟨f, a⟩ q, D = q - ⟨f - b, f⟩ f + w²."""
    t, inst = _tile_and_instance(T)
    offs = t * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    _, f, b = _softmax_tile(U, B, offs, mask, inst, stride_um, stride_bm, MX, Z)
    a = tl.load(Av + inst * stride_am + offs, mask=mask, other=0.0)
    w2 = tl.load(W2 + inst * stride_wm + offs, mask=mask, other=0.0)
    beta, gamma = tl.load(M + inst * 4), tl.load(M + inst * 4 + 1)
    fa, qa = tl.load(M + inst * 4 + 2), tl.load(M + inst * 4 + 3)
    q = (2.0 * f - b) * f
    z = (q - gamma * f + w2) * a + (beta * fa - qa) * f - fa * q
    tl.store(OUT + inst * N + offs, z, mask=mask)


def _rows(*tensors: Tensor) -> list[Tensor]:
    """Row-contiguous m×N views (a copy only when the last axis is strided)."""
    return [t if t.stride(-1) == 1 else t.contiguous() for t in tensors]


def _softmax_stats(U: Tensor, block: int) -> tuple[Tensor, Tensor, int]:
    """Per instance: the maximum of u and Σ e^{u - max}, from the tiles' partial results."""
    m, N = U.shape
    T = triton.cdiv(N, block)
    pmax = torch.empty(m, T, dtype=U.dtype, device=U.device)
    psum = torch.empty_like(pmax)
    _tile_max_sum_kernel[(T * m,)](U, pmax, psum, N, T, U.stride(0), BLOCK=block)
    mx = pmax.amax(dim=1)
    return mx, (psum * torch.exp(pmax - mx[:, None])).sum(dim=1), T


def _gradient_moments(U: Tensor, b: Tensor, w: Tensor, shift: Optional[Tensor], block: int):
    """Launches (1) and (2): the softmax's statistics and the per-instance sums Σc², Σw²(u - s)², ⟨f, c⟩."""
    check_dtypes(U=U, b=b, w=w, shift=shift)
    U, b = _rows(U, b)
    w2 = (w * w).contiguous()
    S = _rows(shift)[0] if shift is not None else b  # an unused pointer when there is no shift
    m, N = U.shape
    mx, z, T = _softmax_stats(U, block)
    P = torch.empty(m, T, 3, dtype=U.dtype, device=U.device)
    _gradient_moments_kernel[(T * m,)](U, b, w2, S, mx, z, P, N, T, U.stride(0), b.stride(0), w2.stride(0), S.stride(0),
                                     HAS_SHIFT=shift is not None, BLOCK=block)
    return U, b, w2, S, mx, z, T, P.sum(dim=1)


def residual_losses(U: Tensor, b: Tensor, w: Tensor, shift: Optional[Tensor] = None, block: int = BLOCK) -> Tensor:
    """L_k = ½‖softmax(u_k) - b_k‖² + ½‖w_k∘(u_k - s_k)‖² for every row u_k of U (m×N); two launches."""
    sums = _gradient_moments(U, b, w, shift, block)[-1]
    return 0.5 * (sums[:, 0] + sums[:, 1])


def residual_weights(U: Tensor, b: Tensor, w: Tensor, shift: Optional[Tensor] = None,
                     block: int = BLOCK) -> tuple[Tensor, Tensor]:
    """Per instance k, from u_k = A_k x (rows of U, m×N): L_k = ½‖f - b‖² + ½‖w∘(u - s)‖² and
    y_k = f∘c - ⟨f, c⟩ f + w²∘(u - s), so that ∇L_k = A_kᵀ y_k (docs/theory/p1.md §P1.2, Gradient)."""
    U, b, w2, S, mx, z, T, sums = _gradient_moments(U, b, w, shift, block)
    m, N = U.shape
    Y = torch.empty(m, N, dtype=U.dtype, device=U.device)
    fc = sums[:, 2].contiguous()
    _gradient_weights_kernel[(T * m,)](U, b, w2, S, mx, z, fc, Y, N, T, U.stride(0), b.stride(0), w2.stride(0),
                                     S.stride(0), HAS_SHIFT=shift is not None, BLOCK=block)
    return 0.5 * (sums[:, 0] + sums[:, 1]), Y


def hvp_weights(U: Tensor, Av: Tensor, b: Tensor, w: Tensor, block: int = BLOCK) -> Tensor:
    """Per instance, from u = A_k x and a = A_k v (rows of U and Av, m×N): the vector z with
    ∇²L_k(x) v = A_kᵀ z (docs/theory/p1.md §P1.2, Fast application; see the module's docstring)."""
    check_dtypes(U=U, Av=Av, b=b, w=w)
    U, Av, b = _rows(U, Av, b)
    w2 = (w * w).contiguous()
    m, N = U.shape
    mx, z, T = _softmax_stats(U, block)
    P = torch.empty(m, T, 4, dtype=U.dtype, device=U.device)
    _hvp_moments_kernel[(T * m,)](U, Av, b, mx, z, P, N, T, U.stride(0), Av.stride(0), b.stride(0), BLOCK=block)
    moments = P.sum(dim=1).contiguous()
    out = torch.empty(m, N, dtype=U.dtype, device=U.device)
    _hvp_weights_kernel[(T * m,)](U, Av, b, w2, mx, z, moments, out, N, T, U.stride(0), Av.stride(0), b.stride(0),
                                w2.stride(0), BLOCK=block)
    return out


def _check(A: Tensor, b: Tensor, w: Tensor, x: Tensor, v: Optional[Tensor] = None) -> None:
    n, d = A.shape
    if b.shape != (n,) or w.shape != (n,) or x.shape != (d,) or (v is not None and v.shape != (d,)):
        shapes = f"A {tuple(A.shape)}, b {tuple(b.shape)}, w {tuple(w.shape)}, x {tuple(x.shape)}"
        raise ValueError("shapes do not match: " + shapes + ("" if v is None else f", v {tuple(v.shape)}"))


def loss_and_gradient(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """L(x) and ∇L(x) = Aᵀ(f∘c - ⟨f,c⟩ f + w∘w∘u) (docs/theory/p1.md §P1.2); :func:`kernels.softmax.loss_and_gradient`."""
    _check(A, b, w, x)
    value, Y = residual_weights(matvec(A, x)[None], b[None], w[None])
    return value[0], rmatvec(A, Y[0])


def loss(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> Tensor:
    """L(x) = ½‖f(x) - b‖² + ½‖diag(w) A x‖² (P1 Def. 1.2): one product and two launches."""
    _check(A, b, w, x)
    return residual_losses(matvec(A, x)[None], b[None], w[None])[0]


def gradient(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> Tensor:
    """∇L(x) (docs/theory/p1.md §P1.2)."""
    return loss_and_gradient(A, b, w, x)[1]


def hessian_vector_product(A: Tensor, b: Tensor, w: Tensor, x: Tensor, v: Tensor) -> Tensor:
    """∇²L(x) v = Aᵀ z with u, a = A[x, v] in one pass over A (docs/theory/p1.md §P1.2); the result of
    :func:`kernels.softmax.hessian_vector_product`."""
    _check(A, b, w, x, v)
    UA = matmat(A, torch.stack([x, v], dim=1))  # n×2: u = Ax and a = Av
    return rmatvec(A, hvp_weights(UA[:, 0][None], UA[:, 1][None], b[None], w[None])[0])
