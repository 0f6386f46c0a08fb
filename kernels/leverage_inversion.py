"""Inverting leverage scores: σ_*(x), its Jacobian, the loss, its gradient and its exact Hessian (docs/theory/e02.md).

Z. Li, Z. Song, W. Wang, J. Yin, Z. Yu, *How to Inverting the Leverage Score Distribution?* (arXiv 2404.13785),
and C. Li, Z. Song, Z. Xu, J. Yin, *Inverting the Leverage Score Gradient: An Efficient Approximate Newton Method*
(arXiv 2408.11267). Notation of docs/theory/e02.md §E02.1–E02.2, for A ∈ ℝ^{n×d}, b ∈ ℝⁿ and x ∈ ℝᵈ:

    s(x) = Ax − b,   S = diag(s),   A(x) = S⁻¹A (row i: a_i/s_i),   H(x) = AᵀS⁻²A = A(x)ᵀA(x),
    P(x) = A(x)H(x)⁻¹A(x)ᵀ (the orthogonal projector onto the column space of A(x)),
    σ_*(x) = diag P(x),   Λ = Σ_* − P∘P,   Σ_* = diag(σ_*),
    L(x) = ½‖σ_*(x) − σ‖² + ½‖diag(w)Ax‖².

Derivatives (§E02.2): ∂σ_*/∂x = −2ΛA(x); ∇L = −2A(x)ᵀΛr + AᵀW²Ax with r = σ_* − σ; and the exact Hessian

    ∇²L = GᵀG + C + AᵀW²A,   G = 2ΛA(x) (the Gauss–Newton factor),
    C = Σ_i r_i∇²σ_{*,i} = A(x)ᵀ[6 diag(Λr) − 4(R(P∘P) + (P∘P)R) + 8 P∘(PRP)]A(x),   R = diag(r).

Everything goes through an orthonormal basis Q of the column space of A(x) (thin QR; P = QQᵀ), never through
H⁻¹, and through F = Q∗Q (row i: q_i ⊗ q_i, n×d²), for which P∘P = FFᵀ: the loss, gradient, Gauss–Newton
factor, curvature term, Hessian and HVP cost O(nd³) time and O(nd²) memory; only :func:`projector` and the
state's ``P`` and ``Lam`` form n×n matrices. Pure torch, any dtype and device (float64 in the lab); the state at
x (:class:`State`) is computed once and shared by the functions that take it.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "State",
    "residual",
    "scaled_rows",
    "barrier_hessian",
    "state",
    "projector",
    "leverage",
    "lambda_matrix",
    "jacobian",
    "loss",
    "gradient",
    "loss_and_gradient",
    "gauss_newton_factor",
    "curvature",
    "regulariser_hessian",
    "hessian",
    "hvp",
    "volumetric_gradient",
    "same_signs",
]


class State:
    """What every derivative at x needs: s(x), A(x), an orthonormal basis Q of its column space, σ_* = diag P
    and F = Q∗Q (row i: q_i ⊗ q_i), so that P∘P = FFᵀ and Λ = Σ_* − FFᵀ (docs/theory/e02.md §E02.1–E02.2).
    The n×n matrices P = QQᵀ and Λ are formed only when asked for (:attr:`P`, :attr:`Lam`); the oracle's products
    with Λ and with the curvature's middle matrix go through F in O(nd²) per vector."""

    def __init__(self, s: Tensor, As: Tensor, Q: Tensor):
        self.s, self.As, self.Q = s, As, Q
        self.sigma = (Q * Q).sum(dim=1)
        self.F = (Q.unsqueeze(2) * Q.unsqueeze(1)).reshape(Q.shape[0], -1)
        self._P: Optional[Tensor] = None

    @property
    def P(self) -> Tensor:
        """P = QQᵀ (n×n)."""
        if self._P is None:
            self._P = self.Q @ self.Q.T
        return self._P

    @property
    def Lam(self) -> Tensor:
        """Λ = Σ_* − P∘P (n×n)."""
        return lambda_matrix(self.P)

    def lam_times(self, V: Tensor) -> Tensor:
        """ΛV = σ_*∘V − F(FᵀV) for a vector or an n×k matrix V, without forming Λ."""
        sig = self.sigma if V.dim() == 1 else self.sigma.unsqueeze(1)
        return sig * V - self.F @ (self.F.T @ V)

    def curvature_times(self, r: Tensor, V: Tensor) -> Tensor:
        """KV for the curvature's middle matrix K = 6 diag(Λr) − 4(R(P∘P) + (P∘P)R) + 8 P∘(PRP), R = diag(r),
        through P∘P = FFᵀ and P∘(PRP) = (Q∗QM)Fᵀ with M = QᵀRQ (the face-splitting identity), O(nd²) per column."""
        Q, F = self.Q, self.F
        M = Q.T @ (r.unsqueeze(1) * Q)
        QM = Q @ M
        FM = (Q.unsqueeze(2) * QM.unsqueeze(1)).reshape(Q.shape[0], -1)
        col = (lambda u: u) if V.dim() == 1 else (lambda u: u.unsqueeze(1))
        FtV = F.T @ V
        rV = col(r) * V
        return (6.0 * col(self.lam_times(r)) * V - 4.0 * (col(r) * (F @ FtV) + F @ (F.T @ rV))
                + 8.0 * (FM @ FtV))


def residual(A: Tensor, b: Tensor, x: Tensor) -> Tensor:
    """s(x) = Ax − b (§E02.1)."""
    return A @ x - b


def scaled_rows(A: Tensor, s: Tensor) -> Tensor:
    """A(x) = S(x)⁻¹A: row i is a_i/s_i (§E02.1)."""
    return A / s.unsqueeze(1)


def barrier_hessian(A: Tensor, s: Tensor) -> Tensor:
    """H(x) = AᵀS⁻²A = A(x)ᵀA(x), the Hessian of the log barrier −Σ log|s_i| (§E02.1)."""
    As = scaled_rows(A, s)
    return As.T @ As


def lambda_matrix(P: Tensor) -> Tensor:
    """Λ = diag(diag P) − P∘P (§E02.2): symmetric PSD, Λ1 = 0 for a projector P."""
    return torch.diag(P.diagonal()) - P * P


def state(A: Tensor, s: Tensor) -> State:
    """The :class:`State` at the point whose residual is ``s`` (every s_i nonzero)."""
    As = scaled_rows(A, s)
    return State(s, As, torch.linalg.qr(As, mode="reduced")[0])


def projector(A: Tensor, s: Tensor) -> Tensor:
    """P = A(x)H(x)⁻¹A(x)ᵀ, an orthogonal projector of rank d (§E02.1)."""
    return state(A, s).P


def leverage(A: Tensor, s: Tensor) -> Tensor:
    """σ_* = diag P: the leverage scores of A(x) = S⁻¹A, σ_{*,i} = a_iᵀH⁻¹a_i/s_i² ∈ [0, 1], Σσ_* = d (§E02.1).
    Invariant under s_i → −s_i for each i (and s → cs), since P∘P and diag P are."""
    Q = torch.linalg.qr(scaled_rows(A, s), mode="reduced")[0]
    return (Q * Q).sum(dim=1)


def jacobian(A: Tensor, s: Tensor) -> Tensor:
    """∂σ_*/∂x = −2ΛA(x) (n×d, §E02.2)."""
    st = state(A, s)
    return -2.0 * st.lam_times(st.As)


def _w2(w: Optional[Tensor], A: Tensor) -> Tensor:
    return torch.zeros(A.shape[0], dtype=A.dtype, device=A.device) if w is None else w * w


def loss(A: Tensor, b: Tensor, sigma: Tensor, w: Optional[Tensor], x: Tensor) -> Tensor:
    """L(x) = ½‖σ_*(x) − σ‖² + ½‖diag(w)Ax‖² (§E02.1; w = None: no regulariser)."""
    r = leverage(A, residual(A, b, x)) - sigma
    Ax = A @ x
    return 0.5 * (r @ r) + 0.5 * (_w2(w, A) @ (Ax * Ax))


def loss_and_gradient(A: Tensor, b: Tensor, sigma: Tensor, w: Optional[Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """(L(x), ∇L(x)) with ∇L = −2A(x)ᵀΛ(σ_* − σ) + AᵀW²Ax (§E02.2)."""
    st = state(A, residual(A, b, x))
    r = st.sigma - sigma
    Ax = A @ x
    w2 = _w2(w, A)
    L = 0.5 * (r @ r) + 0.5 * (w2 @ (Ax * Ax))
    return L, -2.0 * st.As.T @ st.lam_times(r) + A.T @ (w2 * Ax)


def gradient(A: Tensor, b: Tensor, sigma: Tensor, w: Optional[Tensor], x: Tensor) -> Tensor:
    """∇L(x) = −2A(x)ᵀΛ(σ_* − σ) + AᵀW²Ax (§E02.2)."""
    return loss_and_gradient(A, b, sigma, w, x)[1]


def gauss_newton_factor(A: Tensor, b: Tensor, x: Tensor) -> Tensor:
    """G = 2ΛA(x) (n×d): GᵀG = 4A(x)ᵀΛ²A(x) is the Gauss–Newton part of ∇²L (§E02.2)."""
    st = state(A, residual(A, b, x))
    return 2.0 * st.lam_times(st.As)


def curvature(A: Tensor, b: Tensor, sigma: Tensor, x: Tensor) -> Tensor:
    """C = Σ_i r_i∇²σ_{*,i} = A(x)ᵀ[6 diag(Λr) − 4(R(P∘P) + (P∘P)R) + 8 P∘(PRP)]A(x), r = σ_* − σ (§E02.2):
    the second-order part of ∇²L, zero at a zero-residual point. Symmetric, possibly indefinite."""
    st = state(A, residual(A, b, x))
    C = st.As.T @ st.curvature_times(st.sigma - sigma, st.As)
    return 0.5 * (C + C.T)


def regulariser_hessian(A: Tensor, w: Optional[Tensor]) -> Tensor:
    """AᵀW²A, the Hessian of ½‖diag(w)Ax‖² (§E02.1)."""
    return A.T @ (_w2(w, A).unsqueeze(1) * A)


def hessian(A: Tensor, b: Tensor, sigma: Tensor, w: Optional[Tensor], x: Tensor) -> Tensor:
    """The exact ∇²L = 4A(x)ᵀΛ²A(x) + C + AᵀW²A (§E02.2)."""
    st = state(A, residual(A, b, x))
    G = 2.0 * st.lam_times(st.As)
    H = G.T @ G + st.As.T @ st.curvature_times(st.sigma - sigma, st.As) + regulariser_hessian(A, w)
    return 0.5 * (H + H.T)


def hvp(A: Tensor, b: Tensor, sigma: Tensor, w: Optional[Tensor], x: Tensor, v: Tensor) -> Tensor:
    """∇²L(x)v without forming the d×d Hessian: 4A(x)ᵀΛ²u + A(x)ᵀKu + AᵀW²Av, u = A(x)v (§E02.2)."""
    st = state(A, residual(A, b, x))
    u = st.As @ v
    return (4.0 * st.As.T @ st.lam_times(st.lam_times(u)) + st.As.T @ st.curvature_times(st.sigma - sigma, u)
            + A.T @ (_w2(w, A) * (A @ v)))


def volumetric_gradient(A: Tensor, s: Tensor) -> Tensor:
    """∇_x ½ log det(AᵀS⁻²A) = −A(x)ᵀσ_*(x) (§E02.3): the volumetric-barrier gradient, our candidate for the
    "leverage score gradient" of arXiv 2408.11267 (its definition there is not confirmed)."""
    st = state(A, s)
    return -st.As.T @ st.sigma


def same_signs(s: Tensor, signs: Tensor) -> bool:
    """True when every s_i is nonzero with the sign ``signs``_i: the point lies in the same cell between the
    poles s_i = 0 (§E02.4's safeguard)."""
    return bool(torch.all(s * signs > 0))
