"""Triton versions of the P3 attention hot path of :mod:`kernels.attention`, flash-attention style.

Notation of docs/theory/p3.md §P3.1–P3.2: U = A1 X A2ᵀ, S = rowsoftmax(U), V = A3 Y, C = S V - B and

    L(X, Y) = ‖C‖_F² + ½ Σ w²∘U² + (λ_Y/2)‖Y‖_F²,
    ∇_X L = A1ᵀ R A2,  R = 2 S∘(C Vᵀ - δ 1ᵀ) + w²∘U,  δ = (S∘(C Vᵀ)) 1 = rowsum(C∘(S V)),
    ∇_Y L = 2 A3ᵀ (Sᵀ C) + λ_Y Y.

The identity δ_j = Σ_p S_jp ⟨c_j, v_p⟩ = ⟨c_j, (S V)_j⟩ is the one flash-attention's backward pass uses
(with dO = C): it turns the row term of R = 2 J(f_j) g_j (P3.2, Gradient in x) into an n-vector known
before any tile of S is rebuilt. Three kernels, each with the whole of d (padded to a power of two,
at least 16, for ``tl.dot``) in one tile and n cut into blocks of rows (block_m) and columns (block_n):

- forward (one program per block of rows, a loop over blocks of columns): the tile U = Q Kᵀ with
  Q = A1 X (formed by torch, n×d) and K = A2, the online softmax (running row maximum m and
  normaliser ℓ = Σ_p e^{U_jp - m_j}), the accumulation O = S V with ``tl.dot``; and, when w is
  given, the row sums Σ_p w²U² of the regulariser, read from w tile by tile;
- "dQ" (one program per block of rows, a loop over blocks of columns): recomputes U and
  S = e^{U - m}/ℓ, the tile C Vᵀ, the tile of R, and accumulates R A2 with ``tl.dot``;
- "dV" (one program per block of columns p, a loop over blocks of rows): recomputes the tile of S
  and accumulates Sᵀ C.

C = O - B, δ, ‖C‖², the d×d products A1ᵀ(R A2) and A3ᵀ(Sᵀ C), and the ridge term are torch's.
Neither U, S, C Vᵀ nor R (n×n each) is ever written to memory: the memory is O(n·d) (plus the
n×n weights w when given, which are only read) instead of O(n²); the price is that U and S are
recomputed in each of the three kernels (3 T_mat(n,d,n) multiply-adds for the scores instead of 1),
the flash-style trade of arithmetic for memory traffic.

The row statistics are kept as the pair (m, ℓ) rather than the log-sum-exp m + log ℓ alone:
S = e^{U - m}/ℓ rebuilds the reference's e^{u - max u}/Σ e^{u - max u} without the absolute
rounding error eps·|m| that subtracting a rounded log-sum-exp would put into every exponent when
|U| is large (in float32 at |U| ≈ 700 that would already be a relative error of 1e-4 in S).

Scale 1 (no 1/√d): these are the P3 scores, not a transformer's. float32 products use IEEE
``tl.dot`` (no TF32, as torch's default matmul); float64 works in Triton's interpreter and on GPUs
with fp64 ``tl.dot`` (sm80 and later). Every d (and dv) is held whole in one tile, up to 256; the
default tiles of rows and columns shrink as d grows (:func:`default_tile`), so that every kernel
fits an sm_90 block's shared memory (checked by kernels/triton/aot.py at d = 64 and 256). Without a GPU the kernels run under Triton's interpreter
(``TRITON_INTERPRET=1``, set before ``import triton``); they are tested against the torch reference
there, in float32 and float64.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.triton._checks import check_dtypes

__all__ = ["attention_apply", "gradient_x", "gradient_y", "loss", "loss_and_gradients"]


# --------------------------------------------------------------------------- kernels


@triton.jit
def _row_block(Q, n_q, d, dv, stride_qn, stride_qd, BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr,
               BLOCK_DV: tl.constexpr):
    """This program's block of rows (64-bit: rows·n_k of w), the padded index ranges of d and dv with
    their masks, and the rows of Q (zero outside the masks)."""
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rows < n_q
    kd = tl.arange(0, BLOCK_D)
    kdmask = kd < d
    vd = tl.arange(0, BLOCK_DV)
    vdmask = vd < dv
    q = tl.load(Q + rows[:, None] * stride_qn + kd[None, :] * stride_qd,
                mask=rmask[:, None] & kdmask[None, :], other=0.0)
    return rows, rmask, kd, kdmask, vd, vdmask, q


@triton.jit
def _flash_forward_kernel(Q, K, V, W, O, ROW_MAX, ROW_SUM, REG, n_q, n_k, d, dv,
                          stride_qn, stride_qd, stride_kn, stride_kd, stride_vn, stride_vd,
                          stride_wm, stride_wn, stride_on, stride_od,
                          HAS_W: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                          BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    """Rows of O = rowsoftmax(Q Kᵀ) V, with m = max_p U_jp, ℓ = Σ_p e^{U_jp - m} and Σ_p w²U² per row."""
    rows, rmask, kd, kdmask, vd, vdmask, q = _row_block(Q, n_q, d, dv, stride_qn, stride_qd,
                                                        BLOCK_M, BLOCK_D, BLOCK_DV)
    neg_inf = float("-inf")
    m_i = tl.full([BLOCK_M], neg_inf, dtype=Q.dtype.element_ty)
    l_i = tl.zeros([BLOCK_M], dtype=Q.dtype.element_ty)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], dtype=Q.dtype.element_ty)
    reg = tl.zeros([BLOCK_M], dtype=Q.dtype.element_ty)
    for n0 in range(0, n_k, BLOCK_N):
        cols = n0 + tl.arange(0, BLOCK_N)
        cmask = cols < n_k
        kt = tl.load(K + cols[None, :] * stride_kn + kd[:, None] * stride_kd,
                     mask=kdmask[:, None] & cmask[None, :], other=0.0)
        u = tl.dot(q, kt, input_precision="ieee")  # zero on padded rows and columns
        s = tl.where(cmask[None, :], u, neg_inf)  # padded columns stay out of the softmax
        # every tile holds a real column, so m_new is finite: exp(m_i - m_new) is e^{-inf} = 0 at first,
        # never -inf - (-inf)
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        alpha = tl.exp(m_i - m_new)
        p = tl.exp(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(V + cols[:, None] * stride_vn + vd[None, :] * stride_vd,
                    mask=cmask[:, None] & vdmask[None, :], other=0.0)
        acc = tl.dot(p, v, acc * alpha[:, None], input_precision="ieee")
        m_i = m_new
        if HAS_W:
            wt = tl.load(W + rows[:, None] * stride_wm + cols[None, :] * stride_wn,
                         mask=rmask[:, None] & cmask[None, :], other=0.0)
            reg += tl.sum(wt * wt * u * u, axis=1)
    o = acc / l_i[:, None]
    tl.store(O + rows[:, None] * stride_on + vd[None, :] * stride_od, o, mask=rmask[:, None] & vdmask[None, :])
    tl.store(ROW_MAX + rows, m_i, mask=rmask)
    tl.store(ROW_SUM + rows, l_i, mask=rmask)
    if HAS_W:
        tl.store(REG + rows, reg, mask=rmask)


@triton.jit
def _flash_dq_kernel(Q, K, V, C, W, ROW_MAX, ROW_SUM, DELTA, DQ, n_q, n_k, d, dv,
                     stride_qn, stride_qd, stride_kn, stride_kd, stride_vn, stride_vd,
                     stride_cn, stride_cd, stride_wm, stride_wn, stride_dqn, stride_dqd,
                     HAS_W: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    """Rows of R K, R = 2 S∘(C Vᵀ - δ 1ᵀ) + w²∘U, with U and S rebuilt tile by tile."""
    rows, rmask, kd, kdmask, vd, vdmask, q = _row_block(Q, n_q, d, dv, stride_qn, stride_qd,
                                                        BLOCK_M, BLOCK_D, BLOCK_DV)
    c = tl.load(C + rows[:, None] * stride_cn + vd[None, :] * stride_cd,
                mask=rmask[:, None] & vdmask[None, :], other=0.0)
    m = tl.load(ROW_MAX + rows, mask=rmask, other=0.0)  # finite on padded rows too
    ell = tl.load(ROW_SUM + rows, mask=rmask, other=1.0)
    delta = tl.load(DELTA + rows, mask=rmask, other=0.0)
    dq = tl.zeros([BLOCK_M, BLOCK_D], dtype=Q.dtype.element_ty)
    for n0 in range(0, n_k, BLOCK_N):
        cols = n0 + tl.arange(0, BLOCK_N)
        cmask = cols < n_k
        kt = tl.load(K + cols[None, :] * stride_kn + kd[:, None] * stride_kd,
                     mask=kdmask[:, None] & cmask[None, :], other=0.0)
        u = tl.dot(q, kt, input_precision="ieee")
        p = tl.exp(tl.where(cmask[None, :], u, float("-inf")) - m[:, None]) / ell[:, None]
        vt = tl.load(V + cols[None, :] * stride_vn + vd[:, None] * stride_vd,
                     mask=vdmask[:, None] & cmask[None, :], other=0.0)
        g = tl.dot(c, vt, input_precision="ieee")  # tile of C Vᵀ
        r = 2.0 * p * (g - delta[:, None])  # zero on padded columns (p = 0 there)
        if HAS_W:
            wt = tl.load(W + rows[:, None] * stride_wm + cols[None, :] * stride_wn,
                         mask=rmask[:, None] & cmask[None, :], other=0.0)
            r += wt * wt * u
        dq = tl.dot(r, tl.trans(kt), dq, input_precision="ieee")
    tl.store(DQ + rows[:, None] * stride_dqn + kd[None, :] * stride_dqd, dq, mask=rmask[:, None] & kdmask[None, :])


@triton.jit
def _flash_dv_kernel(Q, K, C, ROW_MAX, ROW_SUM, DV, n_q, n_k, d, dv,
                     stride_qn, stride_qd, stride_kn, stride_kd, stride_cn, stride_cd, stride_dvn, stride_dvd,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    """Rows p of Sᵀ C (one block of columns of S per program), with S rebuilt tile by tile."""
    cols = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    cmask = cols < n_k
    kd = tl.arange(0, BLOCK_D)
    kdmask = kd < d
    vd = tl.arange(0, BLOCK_DV)
    vdmask = vd < dv
    kt = tl.load(K + cols[None, :] * stride_kn + kd[:, None] * stride_kd,
                 mask=kdmask[:, None] & cmask[None, :], other=0.0)
    acc = tl.zeros([BLOCK_N, BLOCK_DV], dtype=Q.dtype.element_ty)
    for m0 in range(0, n_q, BLOCK_M):
        rows = m0 + tl.arange(0, BLOCK_M)
        rmask = rows < n_q
        q = tl.load(Q + rows[:, None] * stride_qn + kd[None, :] * stride_qd,
                    mask=rmask[:, None] & kdmask[None, :], other=0.0)
        c = tl.load(C + rows[:, None] * stride_cn + vd[None, :] * stride_cd,
                    mask=rmask[:, None] & vdmask[None, :], other=0.0)
        m = tl.load(ROW_MAX + rows, mask=rmask, other=0.0)
        ell = tl.load(ROW_SUM + rows, mask=rmask, other=1.0)
        u = tl.dot(q, kt, input_precision="ieee")
        s = tl.where(rmask[:, None] & cmask[None, :], u, float("-inf"))
        p = tl.exp(s - m[:, None]) / ell[:, None]
        acc = tl.dot(tl.trans(p), c, acc, input_precision="ieee")
    tl.store(DV + cols[:, None] * stride_dvn + vd[None, :] * stride_dvd, acc, mask=cmask[:, None] & vdmask[None, :])


# --------------------------------------------------------------------------- checks and launches


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_matrix(name: str, t: Tensor, rows: Optional[int], cols: Optional[int], what: str) -> None:
    """t is 2-D, non-empty, with the given numbers of rows and columns where they are not None."""
    if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty matrix, got shape {_shape(t)}")
    if (rows is not None and t.shape[0] != rows) or (cols is not None and t.shape[1] != cols):
        want = f"({'·' if rows is None else rows}, {'·' if cols is None else cols})"
        raise ValueError(f"{name} must have shape {want} {what}, got {_shape(t)}")


def _weights(w: Optional[Tensor], n_q: int, n_k: int) -> Optional[Tensor]:
    """w as an n_q×n_k matrix (an n_q·n_k-vector is read row-major, as the torch reference does)."""
    if w is None:
        return None
    if w.dim() == 2 and _shape(w) == (n_q, n_k):
        return w
    if w.dim() == 1 and w.shape[0] == n_q * n_k:
        return w.reshape(n_q, n_k)
    raise ValueError(f"w must have shape ({n_q}, {n_k}) (or be a vector of {n_q * n_k} entries, read row-major), "
                     f"got {_shape(w)}")


#: the widest d (and dv) the kernels take: d is held whole in one tile
MAX_D = 256


def default_tile(dtype: torch.dtype, d_block: int) -> int:
    """The default tile of rows and columns of S for a padded width ``d_block``: 64 (float32) or 32
    (float64) up to d = 64, halved with every doubling of d beyond, at least 16. With these tiles every
    kernel fits the 232 448 bytes of shared memory of an sm_90 block up to d = 256 (kernels/triton/aot.py)."""
    base = 64 if dtype == torch.float32 else 32
    return max(16, base * 64 // max(64, d_block))


def _blocks(block_m: Optional[int], block_n: Optional[int], dtype: torch.dtype, n_q: int, n_k: int,
            d: int, dv: int) -> tuple[int, int]:
    """Tile sizes: powers of two, at least 16 (``tl.dot``), no larger than the padded matrix needs."""
    for name, k in (("d", d), ("dv", dv)):
        if k > MAX_D:
            raise ValueError(f"{name} = {k} is above {MAX_D}: the flash kernels hold it whole in one tile "
                             "(use the torch functions, kernels.backend=torch)")
    default = default_tile(dtype, _dim_block(max(d, dv)))
    sizes = []
    for name, b, n in (("block_m", block_m, n_q), ("block_n", block_n, n_k)):
        b = default if b is None else b
        if not isinstance(b, int) or b < 16 or b & (b - 1):
            raise ValueError(f"{name} must be a power of two >= 16, got {b!r}")
        sizes.append(min(b, max(16, triton.next_power_of_2(n))))
    return sizes[0], sizes[1]


def _dim_block(k: int) -> int:
    return max(16, triton.next_power_of_2(k))


class _FlashForward(NamedTuple):
    O: Tensor  # rowsoftmax(Q Kᵀ) V, n_q×dv
    row_max: Tensor  # m_j = max_p U_jp
    row_sum: Tensor  # ℓ_j = Σ_p e^{U_jp - m_j}
    reg: Optional[Tensor]  # Σ_p w_jp² U_jp² per row, None without w

    def logsumexp(self) -> Tensor:
        """log Σ_p e^{U_jp} per row (the backward kernels use the pair (m, ℓ) instead, see the module doc)."""
        return self.row_max + torch.log(self.row_sum)


def _flash_forward(Q: Tensor, K: Tensor, V: Tensor, w: Optional[Tensor], block_m: int, block_n: int) -> _FlashForward:
    n_q, d = Q.shape
    n_k, dv = V.shape
    O = torch.empty(n_q, dv, dtype=Q.dtype, device=Q.device)
    row_max = torch.empty(n_q, dtype=Q.dtype, device=Q.device)
    row_sum = torch.empty_like(row_max)
    reg = torch.empty_like(row_max) if w is not None else None
    W = w if w is not None else Q  # an unused pointer without weights
    _flash_forward_kernel[(triton.cdiv(n_q, block_m),)](
        Q, K, V, W, O, row_max, row_sum, reg if reg is not None else row_max, n_q, n_k, d, dv,
        Q.stride(0), Q.stride(1), K.stride(0), K.stride(1), V.stride(0), V.stride(1),
        W.stride(0), W.stride(1), O.stride(0), O.stride(1),
        HAS_W=w is not None, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=_dim_block(d), BLOCK_DV=_dim_block(dv))
    return _FlashForward(O, row_max, row_sum, reg)


def _flash_dq(Q: Tensor, K: Tensor, V: Tensor, C: Tensor, w: Optional[Tensor], fw: _FlashForward, delta: Tensor,
              block_m: int, block_n: int) -> Tensor:
    n_q, d = Q.shape
    n_k, dv = V.shape
    dQ = torch.empty(n_q, d, dtype=Q.dtype, device=Q.device)
    W = w if w is not None else Q
    _flash_dq_kernel[(triton.cdiv(n_q, block_m),)](
        Q, K, V, C, W, fw.row_max, fw.row_sum, delta, dQ, n_q, n_k, d, dv,
        Q.stride(0), Q.stride(1), K.stride(0), K.stride(1), V.stride(0), V.stride(1),
        C.stride(0), C.stride(1), W.stride(0), W.stride(1), dQ.stride(0), dQ.stride(1),
        HAS_W=w is not None, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=_dim_block(d), BLOCK_DV=_dim_block(dv))
    return dQ


def _flash_dv(Q: Tensor, K: Tensor, C: Tensor, fw: _FlashForward, block_m: int, block_n: int) -> Tensor:
    n_q, d = Q.shape
    n_k = K.shape[0]
    dv = C.shape[1]
    dV = torch.empty(n_k, dv, dtype=Q.dtype, device=Q.device)
    _flash_dv_kernel[(triton.cdiv(n_k, block_n),)](
        Q, K, C, fw.row_max, fw.row_sum, dV, n_q, n_k, d, dv,
        Q.stride(0), Q.stride(1), K.stride(0), K.stride(1), C.stride(0), C.stride(1), dV.stride(0), dV.stride(1),
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=_dim_block(d), BLOCK_DV=_dim_block(dv))
    return dV


# --------------------------------------------------------------------------- public functions


def attention_apply(A1: Tensor, A2: Tensor, X: Tensor, V: Tensor, *,
                    block_m: Optional[int] = None, block_n: Optional[int] = None) -> Tensor:
    """S(X) V = rowsoftmax(A1 X A2ᵀ) V (P3.1) without forming the n×n matrix S: the signature and the
    result of :func:`kernels.attention.attention_apply`, float32 or float64.

    A1 is n×d1, X d1×d2, A2 m×d2 and V m×dv (the P3 sizes are m = n, d1 = d2 = d). ``block_m`` and
    ``block_n`` (powers of two ≥ 16; default: :func:`default_tile`) are the tiles of rows and
    columns of S.
    """
    check_dtypes(A1=A1, A2=A2, X=X, V=V)
    _check_matrix("A1", A1, None, None, "")
    _check_matrix("X", X, A1.shape[1], None, f"(X has as many rows as A1 {_shape(A1)} has columns)")
    _check_matrix("A2", A2, None, X.shape[1], f"(A2 has as many columns as X {_shape(X)})")
    _check_matrix("V", V, A2.shape[0], None, f"(V has as many rows as A2 {_shape(A2)})")
    bm, bn = _blocks(block_m, block_n, A1.dtype, A1.shape[0], A2.shape[0], X.shape[1], V.shape[1])
    return _flash_forward(A1 @ X, A2, V, None, bm, bn).O


def _check_problem(A1, A2, A3, B, X, Y, w) -> Optional[Tensor]:
    """The P3.1 shapes: A1, A2, A3, B n×d, X, Y d×d, w n×n (or an n²-vector) or None; returns w as n×n."""
    named = {"A1": A1, "A2": A2, "A3": A3, "B": B, "X": X, "Y": Y}
    if w is not None:
        named["w"] = w
    check_dtypes(**named)
    _check_matrix("A1", A1, None, None, "")
    n, d = A1.shape
    for name in ("A2", "A3", "B"):
        _check_matrix(name, named[name], n, d, "(the shape of A1: A1, A2, A3 and B are n×d)")
    for name in ("X", "Y"):
        _check_matrix(name, named[name], d, d, f"(d×d, d = {d} the columns of A1)")
    return _weights(w, n, n)


def _loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y, block_m, block_n, want_value: bool, want_x: bool,
                        want_y: bool):
    w = _check_problem(A1, A2, A3, B, X, Y, w)
    lam_y = float(lam_y)
    bm, bn = _blocks(block_m, block_n, A1.dtype, A1.shape[0], A1.shape[0], A1.shape[1], A1.shape[1])
    Q = A1 @ X  # n×d; U = Q A2ᵀ is only ever formed tile by tile
    V = A3 @ Y
    fw = _flash_forward(Q, A2, V, w if want_value else None, bm, bn)  # w enters L through the forward kernel
    C = fw.O - B
    value = gX = gY = None
    if want_value:
        value = torch.sum(C * C)
        if fw.reg is not None:
            value = value + 0.5 * torch.sum(fw.reg)
        if lam_y != 0:
            value = value + 0.5 * lam_y * torch.sum(Y * Y)
    if want_x:
        delta = torch.sum(C * fw.O, dim=1)  # δ_j = Σ_p S_jp ⟨c_j, v_p⟩ = ⟨c_j, o_j⟩
        gX = A1.T @ _flash_dq(Q, A2, V, C, w, fw, delta, bm, bn)
    if want_y:
        gY = 2.0 * (A3.T @ _flash_dv(Q, A2, C, fw, bm, bn))
        if lam_y != 0:
            gY = gY + lam_y * Y
    return value, gX, gY


def loss_and_gradients(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
                       w: Optional[Tensor] = None, lam_y: float = 0.0, *,
                       block_m: Optional[int] = None, block_n: Optional[int] = None) -> tuple[Tensor, Tensor, Tensor]:
    """L, ∇_X L and ∇_Y L (P3.1, P3.2): the signature and the results of
    :func:`kernels.attention.loss_and_gradients`, float32 or float64, in memory O(n·d) (three kernels:
    forward, dQ, dV; see the module doc). ``block_m``/``block_n`` as in :func:`attention_apply`."""
    return _loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y, block_m, block_n, True, True, True)


def loss(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
         w: Optional[Tensor] = None, lam_y: float = 0.0, *,
         block_m: Optional[int] = None, block_n: Optional[int] = None) -> Tensor:
    """L(X, Y) = ‖S(X) A3 Y - B‖_F² + ½ Σ w²∘(A1 X A2ᵀ)² + (λ_Y/2)‖Y‖_F² (P3.1): the forward kernel
    only."""
    return _loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y, block_m, block_n, True, False, False)[0]


def gradient_x(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
               w: Optional[Tensor] = None, lam_y: float = 0.0, *,
               block_m: Optional[int] = None, block_n: Optional[int] = None) -> Tensor:
    """∇_X L = A1ᵀ R A2 as a d×d matrix (P3.2); the forward and dQ kernels."""
    return _loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y, block_m, block_n, False, True, False)[1]


def gradient_y(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
               w: Optional[Tensor] = None, lam_y: float = 0.0, *,
               block_m: Optional[int] = None, block_n: Optional[int] = None) -> Tensor:
    """∇_Y L = 2 A3ᵀ(Sᵀ C) + λ_Y Y (P3.2, In Y); the forward and dV kernels."""
    return _loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y, block_m, block_n, False, False, True)[2]
