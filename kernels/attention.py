"""One-layer attention regression (P3): loss, gradients, Hessians in x and Y, and the exact Y-step.

Pure functions of torch tensors, generic in device and dtype (float64 is the
project default). Notation follows docs/theory/p3.md §P3.1–P3.2 and docs/theory/README.md, notation:

    U = A1 X A2ᵀ,  S = rowsoftmax(U),  V = A3 Y,  C = S V - B,  G = C Vᵀ,
    L(X, Y) = ‖C‖_F² + ½ Σ_{j0,p} w_{j0,p}² U_{j0,p}² + (λ_Y/2)‖Y‖_F²     (P3.1; no ½ on the data term).

Data ``A1``, ``A2``, ``A3``, ``B`` are n×d; ``X``, ``Y`` are d×d. The regulariser
weight ``w`` is an n×n tensor, w[j0, p] = w_{j0,p} (the vector w ∈ R^{n²} reshaped
row-major); ``w=None`` means no regulariser. ``lam_y`` ≥ 0 is the ridge on Y.

Vectorisation is row-major throughout (P3.1 block identity, P3.7 item 1):
x = vec_r(X), x[k·d + l] = X[k, l]. Then block j0 of 𝖠 = A1 ⊗ A2 (rows j0·n … (j0+1)·n - 1)
is 𝖠_{j0} = a_{j0}ᵀ ⊗ A2 and 𝖠_{j0} x is row j0 of U; with column-major vec it would be
row j0 of A1 Xᵀ A2ᵀ, a silent transposition. Every d²-vector and every d²×d² matrix
returned here is indexed by vec_r.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from kernels.softmax import softmax as _row_softmax

__all__ = [
    "attention",
    "attention_apply",
    "e_matrix",
    "gradient_x",
    "gradient_y",
    "hessian_x",
    "hessian_x_blocks",
    "hessian_x_explicit",
    "hessian_y",
    "hvp_x",
    "kron_sum",
    "loss",
    "loss_and_gradients",
    "scores",
    "unit_hessians",
    "unvec_r",
    "vec_r",
    "y_step",
]


# --------------------------------------------------------------------------- vectorisation


def vec_r(X: Tensor) -> Tensor:
    """Row-major vectorisation vec_r(X) (docs/theory/README.md, notation): x[k·d + l] = X[k, l]."""
    return X.reshape(-1)


def unvec_r(x: Tensor, d: int) -> Tensor:
    """Inverse of ``vec_r`` for a matrix with ``d`` columns: X[k, l] = x[k·d + l]."""
    return x.reshape(-1, d)


def _face_split(P: Tensor, Q: Tensor) -> Tensor:
    """Row-wise Kronecker product P ∗ Q (docs/theory/README.md, notation): row i is vec_r(P_{i,*}ᵀ Q_{i,*}) = P_{i,*} ⊗ Q_{i,*}."""
    return (P[:, :, None] * Q[:, None, :]).reshape(P.shape[0], -1)  # vec_r of each row's outer product


def _outer(a: Tensor, b: Tensor) -> Tensor:
    """Batched outer product a bᵀ over the leading dimensions."""
    return a[..., :, None] * b[..., None, :]


def _jmul(S: Tensor, D: Tensor) -> Tensor:
    """Rows J(f_j) D_j = f_j∘D_j - f_j⟨f_j, D_j⟩ for f_j = S_{j,*} (docs/theory/README.md, notation), O(n²) per column set."""
    SD = S * D
    return SD - S * SD.sum(dim=-1, keepdim=True)


def _w_squared(w: Tensor | None, n: int) -> Tensor | None:
    """w∘w as an n×n matrix (w[j0, p] = w_{j0,p}; an n²-vector is read row-major)."""
    if w is None:
        return None
    w = w.reshape(n, n)
    return w * w


# --------------------------------------------------------------------------- forward


def scores(A1: Tensor, A2: Tensor, X: Tensor) -> Tensor:
    """U = A1 X A2ᵀ (n×n); row j0 is 𝖠_{j0} vec_r(X) (P3.1, block identity)."""
    return (A1 @ X) @ A2.T


def attention(A1: Tensor, A2: Tensor, X: Tensor) -> Tensor:
    """S(X) = D(X)⁻¹ exp(A1 X A2ᵀ), computed row-wise as e^{u - max u}/Σ e^{u - max u} (P3.1, docs/theory/README.md, notation).

    Row j0 is f_{j0}(x) ∈ Δ_n.
    """
    return _row_softmax(scores(A1, A2, X))


def attention_apply(A1: Tensor, A2: Tensor, X: Tensor, V: Tensor) -> Tensor:
    """S(X) V (n×dv) for any n×dv matrix V, S(X) = rowsoftmax(A1 X A2ᵀ) (P3.1; with V = A3 Y it is S V,
    so that C = attention_apply(A1, A2, X, A3 Y) - B). The reference for the fused Triton forward pass."""
    return attention(A1, A2, X) @ V


class _Forward(NamedTuple):
    U: Tensor  # A1 X A2ᵀ
    S: Tensor  # rowsoftmax(U)
    V: Tensor  # A3 Y
    C: Tensor  # S V - B
    value: Tensor  # L(X, Y)


def _forward(A1, A2, A3, B, X, Y, w, lam_y) -> _Forward:
    """One forward pass shared by every entry point (P3.1), so that they agree bitwise."""
    U = scores(A1, A2, X)
    S = _row_softmax(U)
    V = A3 @ Y
    C = S @ V - B
    value = torch.sum(C * C)
    w2 = _w_squared(w, U.shape[0])
    if w2 is not None:
        value = value + 0.5 * torch.sum(w2 * U * U)
    if lam_y != 0:
        value = value + 0.5 * lam_y * torch.sum(Y * Y)
    return _Forward(U, S, V, C, value)


def loss(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
         w: Tensor | None = None, lam_y: float = 0.0) -> Tensor:
    """L(X, Y) = ‖S(X) A3 Y - B‖_F² + ½ Σ w_{j0,p}² (A1 X A2ᵀ)_{j0,p}² + (λ_Y/2)‖Y‖_F² (P3.1)."""
    return _forward(A1, A2, A3, B, X, Y, w, lam_y).value


# --------------------------------------------------------------------------- gradients


def loss_and_gradients(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
                       w: Tensor | None = None, lam_y: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """L, ∇_X L and ∇_Y L from one forward pass (P3.2, Gradient in x; In Y).

    ∇_X L = 2 A1ᵀ Z A2 + A1ᵀ (w²∘U) A2 with Z = S∘G - S∘((S∘G)1)1ᵀ, G = C Vᵀ
    (row j0 of Z is J(f_{j0}) g_{j0}); vec_r(∇_X L) = ∇_x L.
    ∇_Y L = 2 Mᵀ(M Y - B) + λ_Y Y with M = S A3 (note M Y - B = C).
    Cost T_mat(n,d,d) + T_mat(n,n,d).
    """
    U, S, V, C, value = _forward(A1, A2, A3, B, X, Y, w, lam_y)
    R = 2.0 * _jmul(S, C @ V.T)
    w2 = _w_squared(w, U.shape[0])
    if w2 is not None:
        R = R + w2 * U
    gX = A1.T @ R @ A2
    gY = 2.0 * (A3.T @ (S.T @ C))
    if lam_y != 0:
        gY = gY + lam_y * Y
    return value, gX, gY


def gradient_x(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
               w: Tensor | None = None, lam_y: float = 0.0) -> Tensor:
    """∇_X L as a d×d matrix (P3.2); vec_r of it is ∇_x L."""
    return loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y)[1]


def gradient_y(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
               w: Tensor | None = None, lam_y: float = 0.0) -> Tensor:
    """∇_Y L = 2 Mᵀ(M Y - B) + λ_Y Y, M = S(X) A3 (P3.2, In Y)."""
    return loss_and_gradients(A1, A2, A3, B, X, Y, w, lam_y)[2]


# --------------------------------------------------------------------------- Hessian in x


def e_matrix(f: Tensor, g: Tensor) -> Tensor:
    """E(f, g) = diag(f∘g) - (f∘g)fᵀ - f(f∘g)ᵀ - ⟨f,g⟩diag(f) + 2⟨f,g⟩ffᵀ (P3.2, P1.2).

    Batched over leading dimensions: f, g of shape (..., n) give (..., n, n).
    ‖E(f, g)‖ ≤ osc(g)/(3√3) for f ∈ Δ_n (P3.2, Bound [V]).
    """
    fg = f * g
    s = fg.sum(dim=-1, keepdim=True)  # ⟨f, g⟩, shape (..., 1)
    fgf = _outer(fg, f)
    return torch.diag_embed(fg - s * f) - fgf - fgf.transpose(-1, -2) + 2.0 * s[..., None] * _outer(f, f)


def unit_hessians(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor) -> Tensor:
    """H^{(u)}_{j0} = 2[J V Vᵀ J + E(f, g_{j0})] for all j0, as an n×n×n tensor (P3.2, Hessian in x).

    f = S_{j0,*}, J = diag(f) - f fᵀ, g_{j0} = V c_{j0} (row j0 of G = C Vᵀ). This is the
    Hessian of ‖Vᵀ softmax(u) - b_{j0}‖² in u at u = U_{j0,*}. Forms n³ numbers: small sizes only.
    """
    _, S, V, C, _ = _forward(A1, A2, A3, B, X, Y, None, 0.0)
    JV = S[:, :, None] * (V[None, :, :] - (S @ V)[:, None, :])  # J_{j0} V = diag(f)V - f(fᵀV), n×n×d
    return 2.0 * (JV @ JV.transpose(-1, -2) + e_matrix(S, C @ V.T))


def hessian_x_blocks(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
                     w: Tensor | None = None) -> Tensor:
    """K_j = A2ᵀ(H^{(u)}_j + diag(w_{j,·}²))A2 for all j, an n×d×d tensor (P3.2, P3.5).

    ∇²_x(L + L_reg) = Σ_j (a_j a_jᵀ) ⊗ K_j (see ``kron_sum``). Built from S, V, G and A2 with
    the decomposition of P3.2, without forming H^{(u)} or A1 ⊗ A2, in O(n²d² + nd³):

    - 2 A2ᵀ J V Vᵀ J A2 = 2 P_j P_jᵀ, P_j = A2ᵀ J_j V = A2ᵀ diag(f_j) V - (A2ᵀ f_j)(Vᵀ f_j)ᵀ;
    - diagonal: A2ᵀ diag(D_j) A2 with D = 2(S∘G - ⟨f,g⟩∘S) + w², all j at once as D (A2 ∗ A2);
    - rank 2: 2[2⟨f,g⟩ p pᵀ - q pᵀ - p qᵀ], p = A2ᵀ f_j, q = A2ᵀ(f_j∘g_j).
    """
    _, S, V, C, _ = _forward(A1, A2, A3, B, X, Y, None, 0.0)
    n, d = A2.shape
    SG = S * (C @ V.T)  # rows f_j∘g_j
    fg = SG.sum(dim=-1)  # ⟨f_j, g_j⟩
    p = S @ A2  # rows A2ᵀ f_j
    q = SG @ A2  # rows A2ᵀ (f_j∘g_j)
    P = (S @ _face_split(A2, V)).reshape(n, d, V.shape[1]) - _outer(p, S @ V)
    D = 2.0 * (SG - fg[:, None] * S)
    w2 = _w_squared(w, n)
    if w2 is not None:
        D = D + w2
    K = (D @ _face_split(A2, A2)).reshape(n, d, d)
    qp = _outer(q, p)
    rank2 = 2.0 * fg[:, None, None] * _outer(p, p) - qp - qp.transpose(-1, -2)
    return K + 2.0 * (P @ P.transpose(-1, -2)) + 2.0 * rank2


def kron_sum(A1: Tensor, K: Tensor, weights: Tensor | None = None) -> Tensor:
    """Σ_j weights_j (a_j a_jᵀ) ⊗ K_j, a_j = (A1)_{j,*}ᵀ, as a (d1·d2)×(d1·d2) matrix indexed by vec_r (P3.2).

    ``weights`` defaults to 1. Passing a subset of rows of ``A1`` and ``K`` with weights s_j gives
    the sketched Hessian Σ_{j∈S} s_j (a_j a_jᵀ) ⊗ K_j (P3.5). Cost O(n d1² d2²), one einsum over j.
    """
    Aw = A1 if weights is None else A1 * weights[:, None]
    d1, d2 = A1.shape[1], K.shape[-1]
    return torch.einsum("ja,jb,jce->acbe", Aw, A1, K).reshape(d1 * d2, d1 * d2)


def hessian_x(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
              w: Tensor | None = None) -> Tensor:
    """∇²_x(L + L_reg) in x = vec_r(X), Y fixed: Σ_j (a_j a_jᵀ) ⊗ K_j (P3.2), d²×d².

    Cost O(n²d² + nd⁴) (P3.5); neither A1 ⊗ A2 nor the unit Hessians are formed.
    """
    return kron_sum(A1, hessian_x_blocks(A1, A2, A3, B, X, Y, w))


def hessian_x_explicit(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor,
                       w: Tensor | None = None) -> Tensor:
    """Reference Σ_j 𝖠_jᵀ H^{(u)}_j 𝖠_j + 𝖠ᵀ diag(w²) 𝖠, 𝖠 = A1 ⊗ A2 formed explicitly (P3.2).

    Block j of 𝖠 is rows j·n … (j+1)·n - 1. Forms n²×d² and n×n×n tensors: small sizes only.
    """
    n = A1.shape[0]
    Acal = torch.kron(A1, A2)
    blocks = Acal.reshape(n, n, -1)  # blocks[j] = 𝖠_j
    Hu = unit_hessians(A1, A2, A3, B, X, Y)
    H = torch.einsum("jpa,jpq,jqb->ab", blocks, Hu, blocks)
    w2 = _w_squared(w, n)
    if w2 is not None:
        H = H + Acal.T @ (vec_r(w2)[:, None] * Acal)
    return H


def hvp_x(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, Y: Tensor, Vdir: Tensor,
          w: Tensor | None = None) -> Tensor:
    """∇²_x(L + L_reg) v for v = vec_r(Vdir), returned as a d×d matrix, in O(n²d) (P3.2).

    D = A1 Vdir A2ᵀ (row j is 𝖠_j v); row j of Q is H^{(u)}_j D_j + w_j²∘D_j with
    H^{(u)}u = 2[J V Vᵀ J u + E(f,g)u], J u = f∘u - f⟨f,u⟩; the result is A1ᵀ Q A2.
    """
    _, S, V, C, _ = _forward(A1, A2, A3, B, X, Y, None, 0.0)
    D = scores(A1, A2, Vdir)
    SG = S * (C @ V.T)
    fg = SG.sum(dim=-1, keepdim=True)  # ⟨f, g⟩
    fD = (S * D).sum(dim=-1, keepdim=True)  # ⟨f, u⟩
    fgD = (SG * D).sum(dim=-1, keepdim=True)  # ⟨f∘g, u⟩
    ED = SG * D - SG * fD - S * fgD - fg * (S * D) + 2.0 * fg * fD * S
    Q = 2.0 * (_jmul(S, (_jmul(S, D) @ V) @ V.T) + ED)
    w2 = _w_squared(w, S.shape[0])
    if w2 is not None:
        Q = Q + w2 * D
    return A1.T @ Q @ A2


# --------------------------------------------------------------------------- in Y


def hessian_y(A1: Tensor, A2: Tensor, A3: Tensor, X: Tensor, lam_y: float = 0.0) -> Tensor:
    """∇²_y L in y = vec_r(Y) (Y square, d×d): (2 MᵀM + λ_Y I_d) ⊗ I_d, M = S(X) A3 (P3.2, In Y).

    vec_r(M Y) = (M ⊗ I_d) vec_r(Y) (docs/theory/README.md, notation), so the data term is ‖(M ⊗ I)y - vec_r(B)‖²
    with Hessian 2 (MᵀM) ⊗ I_d; the 2 I_d ⊗ MᵀM of docs/theory/p3.md is the same matrix in vec_c order.
    """
    M = attention(A1, A2, X) @ A3
    d = M.shape[1]
    eye = torch.eye(d, dtype=M.dtype, device=M.device)
    return torch.kron(2.0 * (M.T @ M) + lam_y * eye, eye)


def y_step(A1: Tensor, A2: Tensor, A3: Tensor, B: Tensor, X: Tensor, lam_y: float = 0.0) -> Tensor:
    """Exact minimiser Y*(X) = (MᵀM + (λ_Y/2) I)⁻¹ Mᵀ B, M = S(X) A3 (P3.2, In Y; P3.5 Y-step).

    Stationarity of 2Mᵀ(MY - B) + λ_Y Y. Cholesky solve when λ_Y > 0; when λ_Y = 0 the
    (minimum-norm) least-squares solution: LAPACK ``gelsd`` on CPU, the pseudo-inverse elsewhere
    (the only CUDA driver, ``gels``, assumes full rank).
    """
    if lam_y < 0:
        raise ValueError(f"lam_y must be >= 0, got {lam_y}")
    M = attention(A1, A2, X) @ A3
    if lam_y > 0:
        eye = torch.eye(M.shape[1], dtype=M.dtype, device=M.device)
        chol = torch.linalg.cholesky(M.T @ M + (0.5 * lam_y) * eye)
        return torch.cholesky_solve(M.T @ B, chol)
    if M.device.type == "cpu":
        return torch.linalg.lstsq(M, B, driver="gelsd").solution
    return torch.linalg.pinv(M) @ B
