"""Two-layer regression with a softmax first layer (E09): loss, gradient, exact Hessian, Hessian-vector
product and the Gauss–Newton split of the Hessian (docs/theory/e09.md §E09.1–§E09.3).

Pure functions of torch tensors, generic in device and dtype (float64 is the project default).
Notation of docs/theory/e09.md §E09.2:

    z = C x,  u = softmax(z),  J = diag(u) − u uᵀ,
    composed (the ledger's reading):  y = A u,  v = φ(y)            (φ on the m pre-activations)
    readout (the other reading):      y = u,    v = A φ(u)          (φ on the n softmax outputs, then A)
    r = v − b,  L(x) = ½‖r‖² + ½‖diag(w) C x‖².

``C`` is n×d, ``A`` m×n, ``b`` m, ``w`` n, ``x`` d; ``activation`` is one of :data:`ACTIVATIONS`
(relu, identity, exp) and ``reading`` one of :data:`READINGS` (composed, readout). Every derivative
goes through the softmax's gradient with respect to u, g_u = ∂L_data/∂u, and its Hessian H_uu
(docs/theory/e09.md §E09.2, table):

    composed: g_u = Aᵀ(φ'(y)∘r),            H_uu = Aᵀ diag(φ'(y)² + φ''(y)∘r) A
    readout:  g_u = φ'(u)∘(Aᵀr),            H_uu = diag(φ'(u)) AᵀA diag(φ'(u)) + diag(φ''(u)∘Aᵀr)
    h = u∘(g_u − ⟨g_u, u⟩1),  ∇L = Cᵀ J g_u + CᵀW²Cx,
    ∇²L = Cᵀ[J H_uu J + diag(h) − h uᵀ − u hᵀ] C + CᵀW²C.

The Gauss–Newton factor is G (m×n) with ∇²L = CᵀGᵀGC + CᵀW²C + curvature:
composed G = diag(φ'(y)) A J, readout G = A diag(φ'(u)) J; M = G C (m×d) is the matrix whose rows
the approximate Newton method samples (docs/theory/e09.md §E09.3).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ACTIVATIONS",
    "READINGS",
    "activation",
    "softmax",
    "Forward",
    "forward",
    "loss",
    "loss_and_gradient",
    "gradient",
    "jacobian",
    "hessian",
    "hessian_vector_product",
    "gauss_newton_factor",
    "gauss_newton_matrix",
    "curvature",
    "softmax_curvature",
    "regulariser",
]

#: the activations φ of docs/theory/e09.md §E09.1
ACTIVATIONS = ("relu", "identity", "exp")
#: composed: v = φ(A softmax(Cx)) (the ledger's reading); readout: v = A φ(softmax(Cx))
READINGS = ("composed", "readout")


def activation(name: str, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(φ(y), φ'(y), φ''(y)) entrywise; ReLU's φ'(0) is taken as 0 and φ'' = 0 (almost everywhere)."""
    if name == "relu":
        d1 = (y > 0).to(y.dtype)
        return y * d1, d1, torch.zeros_like(y)
    if name == "identity":
        return y, torch.ones_like(y), torch.zeros_like(y)
    if name == "exp":
        e = torch.exp(y)
        return e, e, e
    raise ValueError(f"unknown activation {name!r}; the activations are {', '.join(ACTIVATIONS)}")


def softmax(z: Tensor) -> Tensor:
    """e^{z − max z}/Σ e^{z − max z} (the shift is exact: every quantity depends on z through u only)."""
    e = torch.exp(z - z.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


class Forward(NamedTuple):
    """The forward pass at x: logits z, softmax u, pre-activations y (Au composed, u readout), φ(y), φ'(y),
    φ''(y), the output v, the residual r = v − b and the loss L."""

    z: Tensor
    u: Tensor
    y: Tensor
    phi: Tensor
    d1: Tensor
    d2: Tensor
    v: Tensor
    r: Tensor
    loss: Tensor


def _check_reading(reading: str) -> None:
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}; the readings are {', '.join(READINGS)}")


def forward(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu",
            reading: str = "composed") -> Forward:
    """z, u, y, φ, φ', φ'', v, r and L(x) (docs/theory/e09.md §E09.1)."""
    _check_reading(reading)
    z = C @ x
    u = softmax(z)
    y = A @ u if reading == "composed" else u
    phi, d1, d2 = activation(act, y)
    v = phi if reading == "composed" else A @ phi
    r = v - b
    wz = w * z
    return Forward(z, u, y, phi, d1, d2, v, r, 0.5 * (r @ r) + 0.5 * (wz @ wz))


def loss(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu", reading: str = "composed") -> Tensor:
    """L(x) = ½‖v(x) − b‖² + ½‖diag(w)Cx‖² (docs/theory/e09.md §E09.1)."""
    return forward(C, A, b, w, x, act, reading).loss


def _g_u(A: Tensor, f: Forward, reading: str) -> Tensor:
    """g_u = ∂½‖r‖²/∂u: Aᵀ(φ'(y)∘r) (composed) or φ'(u)∘(Aᵀr) (readout)."""
    return A.T @ (f.d1 * f.r) if reading == "composed" else f.d1 * (A.T @ f.r)


def _jvec(u: Tensor, t: Tensor) -> Tensor:
    """J t = u∘t − ⟨u, t⟩u, with J = diag(u) − uuᵀ."""
    return u * t - (t @ u) * u


def loss_and_gradient(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu",
                      reading: str = "composed") -> tuple[Tensor, Tensor]:
    """L(x) and ∇L(x) = CᵀJg_u + CᵀW²Cx (docs/theory/e09.md §E09.2, table)."""
    f = forward(C, A, b, w, x, act, reading)
    return f.loss, C.T @ (_jvec(f.u, _g_u(A, f, reading)) + w * w * f.z)


def gradient(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu", reading: str = "composed") -> Tensor:
    """∇L(x) (docs/theory/e09.md §E09.2)."""
    return loss_and_gradient(C, A, b, w, x, act, reading)[1]


def _softmax_jacobian(u: Tensor) -> Tensor:
    return torch.diag(u) - torch.outer(u, u)


def _jc(u: Tensor, C: Tensor) -> Tensor:
    """J C = u∘C − u(uᵀC) (n×d) without forming the n×n J."""
    return u.unsqueeze(1) * C - torch.outer(u, u @ C)


def gauss_newton_factor(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu",
                        reading: str = "composed") -> Tensor:
    """G (m×n): diag(φ'(y)) A J (composed) or A diag(φ'(u)) J (readout), the Jacobian of v with respect
    to z (docs/theory/e09.md §E09.3). Formed for inspection; :func:`gauss_newton_matrix` never forms it."""
    f = forward(C, A, b, w, x, act, reading)
    J = _softmax_jacobian(f.u)
    return f.d1.unsqueeze(1) * (A @ J) if reading == "composed" else A @ (f.d1.unsqueeze(1) * J)


def _gn_matrix(A: Tensor, f: Forward, JC: Tensor, reading: str) -> Tensor:
    if reading == "composed":
        return f.d1.unsqueeze(1) * (A @ JC)
    return A @ (f.d1.unsqueeze(1) * JC)


def gauss_newton_matrix(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu",
                        reading: str = "composed") -> Tensor:
    """M = G C (m×d), the Jacobian of v with respect to x: ∇²L = MᵀM + CᵀW²C + curvature (§E09.3);
    O(mnd) work, G is not formed."""
    f = forward(C, A, b, w, x, act, reading)
    return _gn_matrix(A, f, _jc(f.u, C), reading)


def jacobian(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu", reading: str = "composed") -> Tensor:
    """∂v/∂x (m×d) = M (docs/theory/e09.md §E09.2: J_v = diag(φ'(Au)) A J_u, J_u = J C)."""
    return gauss_newton_matrix(C, A, b, w, x, act, reading)


def _bracket(C: Tensor, u: Tensor, g: Tensor) -> Tensor:
    """Cᵀ[Σ_k g_k ∇²_z u_k]C = Cᵀ[diag(h) − huᵀ − uhᵀ]C with h = u∘(g − ⟨g, u⟩1) (docs/theory/e09.md §E09.2)."""
    h = u * (g - (g @ u))
    Ch, Cu = C.T @ h, C.T @ u
    return C.T @ (h.unsqueeze(1) * C) - torch.outer(Ch, Cu) - torch.outer(Cu, Ch)


def _second_order(A: Tensor, f: Forward, JC: Tensor, reading: str) -> Tensor:
    """(JC)ᵀ S (JC) for the φ'' part S of H_uu: Aᵀdiag(φ''(y)∘r)A (composed) or diag(φ''(u)∘Aᵀr) (readout)."""
    if reading == "composed":
        AJC = A @ JC
        return AJC.T @ ((f.d2 * f.r).unsqueeze(1) * AJC)
    return JC.T @ ((f.d2 * (A.T @ f.r)).unsqueeze(1) * JC)


def _curvature(C: Tensor, A: Tensor, f: Forward, JC: Tensor, reading: str) -> Tensor:
    out = _bracket(C, f.u, _g_u(A, f, reading))
    if bool(f.d2.any()):
        out = out + _second_order(A, f, JC, reading)
    return out


def curvature(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu", reading: str = "composed") -> Tensor:
    """The second-order remainder Σ_k r_k ∇²_x v_k (d×d): Cᵀ[J S J + diag(h) − huᵀ − uhᵀ]C with S the φ''
    part of H_uu; it vanishes where the residual does (docs/theory/e09.md §E09.3)."""
    f = forward(C, A, b, w, x, act, reading)
    out = _curvature(C, A, f, _jc(f.u, C), reading)
    return 0.5 * (out + out.T)


def softmax_curvature(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu",
                      reading: str = "composed") -> Tensor:
    """Cᵀ[diag(h) − huᵀ − uhᵀ]C = Cᵀ[Σ_k (g_u)_k ∇²_z u_k]C, the softmax's own second-order term of ∇²L (d×d;
    docs/theory/e09.md §E09.2): the part a chain rule that treats softmax as linear leaves out."""
    f = forward(C, A, b, w, x, act, reading)
    out = _bracket(C, f.u, _g_u(A, f, reading))
    return 0.5 * (out + out.T)


def regulariser(C: Tensor, w: Tensor) -> Tensor:
    """CᵀW²C (d×d), the Hessian of ½‖diag(w)Cx‖²."""
    return C.T @ ((w * w).unsqueeze(1) * C)


def hessian(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, act: str = "relu", reading: str = "composed") -> Tensor:
    """∇²L(x) = Cᵀ[J H_uu J + diag(h) − huᵀ − uhᵀ]C + CᵀW²C (docs/theory/e09.md §E09.2, table), computed as
    MᵀM + (JC)ᵀS(JC) + the bracket + CᵀW²C with M = GC: O(mnd + nd²) work, no n×n matrix."""
    f = forward(C, A, b, w, x, act, reading)
    JC = _jc(f.u, C)
    M = _gn_matrix(A, f, JC, reading)
    H = M.T @ M + _curvature(C, A, f, JC, reading) + regulariser(C, w)
    return 0.5 * (H + H.T)


def hessian_vector_product(C: Tensor, A: Tensor, b: Tensor, w: Tensor, x: Tensor, vec: Tensor, act: str = "relu",
                           reading: str = "composed") -> Tensor:
    """∇²L(x)·vec without forming an n×n or d×d matrix: O(mn + nd) work (docs/theory/e09.md §E09.2)."""
    f = forward(C, A, b, w, x, act, reading)
    g = _g_u(A, f, reading)
    t = C @ vec
    Jt = _jvec(f.u, t)
    if reading == "composed":
        AJt = A @ Jt
        Huu_Jt = A.T @ ((f.d1 * f.d1 + f.d2 * f.r) * AJt)
    else:
        Huu_Jt = f.d1 * (A.T @ (A @ (f.d1 * Jt))) + f.d2 * (A.T @ f.r) * Jt
    h = f.u * (g - (g @ f.u))
    bracket_t = h * t - h * (f.u @ t) - f.u * (h @ t)
    return C.T @ (_jvec(f.u, Huu_Jt) + bracket_t + w * w * t)
