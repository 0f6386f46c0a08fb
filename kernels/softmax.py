"""Regularised softmax regression (P1): loss, gradient, Hessian and its structure.

Pure functions of torch tensors, generic in device and dtype (float64 is the
project default). Notation follows docs/theory/p1.md §P1.1–P1.2 and docs/theory/README.md, notation:

    u = A x,  f = softmax(u),  c = f - b,
    L(x) = ½‖c‖² + ½‖W A x‖²,  W = diag(w).

Every function takes ``A`` (n×d), ``b`` (n), ``w`` (n) and ``x`` (d).
``A`` may be a dense or a torch sparse (COO/CSR) matrix.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from kernels.matrix import matvec as _matvec, rmatmat, rmatvec as _rmatvec, scaled_gram

__all__ = [
    "softmax",
    "softmax_jacobian",
    "jacobian",
    "loss",
    "loss_and_gradient",
    "gradient",
    "HessianParts",
    "hessian_parts",
    "hessian",
    "hessian_vector_product",
    "B_matrix",
    "B_rank",
    "B_diag",
    "smoothness_bound",
]

#: Tight spectral bounds of B(x) for ‖b‖₁ ≤ 1 (docs/theory/p1.md §P1.4, [V]): -0.2405 I ⪯ B ⪯ 0.3082 I.
B_UPPER_L1 = 0.3082
B_LOWER_L1 = -0.2405


def softmax(u: Tensor) -> Tensor:
    """Stable softmax along the last axis, e^{u - max u} / Σ e^{u - max u} (docs/theory/README.md, notation)."""
    z = u - u.amax(dim=-1, keepdim=True)
    e = torch.exp(z)
    return e / e.sum(dim=-1, keepdim=True)


def softmax_jacobian(f: Tensor) -> Tensor:
    """J(f) = diag(f) - f fᵀ, the Jacobian of softmax at its output f (docs/theory/README.md, notation)."""
    return torch.diag(f) - torch.outer(f, f)


def _forward(A: Tensor, b: Tensor, w: Tensor, x: Tensor):
    """f = softmax(Ax), c = f - b, w∘u and L(x); shared so that every entry point agrees bitwise."""
    u = _matvec(A, x)
    f = softmax(u)
    c = f - b
    wu = w * u
    return f, c, wu, 0.5 * (c @ c) + 0.5 * (wu @ wu)


def loss(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> Tensor:
    """L(x) = ½‖f(x) - b‖² + ½‖diag(w) A x‖² (P1 Def. 1.2)."""
    return _forward(A, b, w, x)[3]


def loss_and_gradient(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """L(x) and ∇L(x) = Aᵀ(f∘c - ⟨f,c⟩ f) + Aᵀ(w∘w∘u) (docs/theory/p1.md §P1.2, Gradient)."""
    f, c, wu, value = _forward(A, b, w, x)
    fc = f * c
    y = fc - torch.sum(fc) * f + w * wu
    return value, _rmatvec(A, y)


def gradient(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> Tensor:
    """∇L(x) (docs/theory/p1.md §P1.2)."""
    return loss_and_gradient(A, b, w, x)[1]


class HessianParts(NamedTuple):
    """The pieces of ∇²L(x) = Aᵀ diag(D) A + β p pᵀ - s pᵀ - p sᵀ (docs/theory/p1.md §P1.2, Fast application).

    f: softmax(Ax); q = (2f - b)∘f; beta = ⟨3f - 2b, f⟩;
    B_diag: the diagonal of B_diag(x) = q - ⟨f - b, f⟩ f;  D = B_diag + w∘w;
    p = Aᵀ f;  s = Aᵀ q.
    """

    f: Tensor
    q: Tensor
    beta: Tensor
    B_diag: Tensor
    D: Tensor
    p: Tensor
    s: Tensor


def hessian_parts(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> HessianParts:
    """Rank-2 plus diagonal split of the Hessian (docs/theory/p1.md §P1.2, Decomposition)."""
    f = softmax(_matvec(A, x))
    q = (2.0 * f - b) * f
    beta = (3.0 * f - 2.0 * b) @ f
    bdiag = q - ((f - b) @ f) * f
    ps = rmatmat(A, torch.stack([f, q], dim=1))  # Aᵀf and Aᵀq in one pass over A
    return HessianParts(f=f, q=q, beta=beta, B_diag=bdiag, D=bdiag + w * w, p=ps[:, 0], s=ps[:, 1])


def jacobian(A: Tensor, x: Tensor) -> Tensor:
    """∂f/∂x = (diag(f) − f fᵀ)A (n×d, dense), the Gauss–Newton factor of the data term: ∇²L = JᵀJ + (the
    second-order part) + AᵀW²A (docs/theory/p1.md §P1.2)."""
    A = A.to_dense() if A.layout != torch.strided else A
    f = softmax(A @ x)
    return f.unsqueeze(1) * A - torch.outer(f, f @ A)


def hessian(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> Tensor:
    """∇²L(x) = Aᵀ(B(x) + W²)A in O(nnz(A)·d) without forming B (docs/theory/p1.md §P1.2)."""
    h = hessian_parts(A, b, w, x)
    gram = scaled_gram(A, h.D)
    sp = torch.outer(h.s, h.p)
    return gram + h.beta * torch.outer(h.p, h.p) - sp - sp.T


def hessian_vector_product(A: Tensor, b: Tensor, w: Tensor, x: Tensor, v: Tensor) -> Tensor:
    """∇²L(x) v = Aᵀ(D∘(Av)) + (β pᵀv - sᵀv) p - (pᵀv) s (docs/theory/p1.md §P1.2), O(nnz(A))."""
    h = hessian_parts(A, b, w, x)
    pv = h.p @ v
    return _rmatvec(A, h.D * _matvec(A, v)) + (h.beta * pv - h.s @ v) * h.p - pv * h.s


def B_rank(f: Tensor, b: Tensor) -> Tensor:
    """B_rank = ⟨3f - 2b, f⟩ f fᵀ - q fᵀ - f qᵀ with q = (2f - b)∘f; rank ≤ 2 (docs/theory/p1.md §P1.2)."""
    q = (2.0 * f - b) * f
    fq = torch.outer(q, f)
    return ((3.0 * f - 2.0 * b) @ f) * torch.outer(f, f) - fq - fq.T


def B_diag(f: Tensor, b: Tensor) -> Tensor:
    """B_diag = diag((2f - b)∘f) - ⟨f - b, f⟩ diag(f), as an n×n matrix (docs/theory/p1.md §P1.2)."""
    return torch.diag((2.0 * f - b) * f - ((f - b) @ f) * f)


def B_matrix(f: Tensor, b: Tensor) -> Tensor:
    """B(x) in the paper's unsplit form (docs/theory/p1.md §P1.2, Hessian):

    B = J² + diag(f∘c) - (f∘c) fᵀ - f (f∘c)ᵀ - ⟨f, c⟩ (diag(f) - 2 f fᵀ),  c = f - b.
    """
    c = f - b
    J = softmax_jacobian(f)
    fc = f * c
    fcf = torch.outer(fc, f)
    return J @ J + torch.diag(fc) - fcf - fcf.T - (f @ c) * (torch.diag(f) - 2.0 * torch.outer(f, f))


def smoothness_bound(A_norm: float, w: Tensor) -> float:
    """Global smoothness ℓ ≤ ‖A‖²(0.3082 + max w²), valid for ‖b‖₁ ≤ 1 (docs/theory/p1.md §P1.4, [D])."""
    return float(A_norm) ** 2 * (B_UPPER_L1 + float(torch.max(w * w)))
