"""The attention loss L(X) of AS24 and its gradient: exact (O(n²d)) and by the low-rank chain (docs/theory/e07.md).

Josh Alman, Zhao Song, *The Fine-Grained Complexity of Gradient Computation for Training Large
Language Models* (arXiv 2402.04497), with the forward algorithm of *Fast Attention Requires Bounded
Entries* (arXiv 2302.13214). Notation of docs/theory/e07.md §E07.1–E07.3:

    L(X) = ½‖D(X)⁻¹ exp(A1 X A2ᵀ/scale) A3 Y − E‖_F²,   D(X) = diag(exp(A1 X A2ᵀ/scale) 1ₙ),

with A1, A2, A3, E ∈ ℝ^{n×d} and X, Y ∈ ℝ^{d×d}. ``scale`` = d is the paper's 1/d inside the exponential
(its statement of the problem); ``scale`` = 1 drops it, as the paper's appendices do.

Exact gradient (§E07.2): f = D⁻¹exp(A1XA2ᵀ/scale), h = A3Y, c = fh − E, q = chᵀ, r = (f∘q)1ₙ,
p = f∘q − diag(r)f and dL/dX = A1ᵀ p A2 / scale.

Low-rank chain (§E07.3), with Φ, Ψ of kernels/polynomial.py and a degree-g polynomial for exp:

1. f̃ = U1V1ᵀ, U1 = D̃⁻¹Φ(A1X/√scale), V1 = Ψ(A2/√scale): rank k1 = C(d+g, g);
2. q̃ = c̃hᵀ = U2V2ᵀ, U2 = [U1, E], V2 = [h(hᵀV1), −h]: rank k2 = k1 + d;
3. p̃1 = f̃∘q̃ = U3V3ᵀ, U3 = U1 ∗ U2, V3 = V1 ∗ V2 (row-wise Kronecker product): rank k3 = k1·k2;
4. r̃_j = U1[j](V1ᵀV2)U2[j]ᵀ and p̃2 = diag(r̃)f̃ = U4V4ᵀ, U4 = diag(r̃)U1, V4 = V1;
5. g̃ = [(A1ᵀU3)(V3ᵀA2) − (A1ᵀU4)(V4ᵀA2)]/scale.

``indices`` chooses the index conventions of steps 2 and 4: ``fixed`` (both as above, consistent with
the exact gradient), ``paper`` (the paper's Lemma D.3, q = hcᵀ, and Lemma D.5, U4 = U1, V4 = diag(r̃)V1,
as printed), and one of the two only (``paper_D3``, ``paper_D5``). Pure torch, any dtype and device
(float64 in the lab); nothing here builds an n×n matrix except :func:`loss`, :func:`gradient` and
:func:`softmax_scores`.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from kernels.polynomial import lowrank_attention, phi, psi, rank

__all__ = [
    "INDICES",
    "LowRankFactors",
    "a1x_norm",
    "gradient",
    "logit_radius",
    "loss",
    "loss_and_gradient",
    "lowrank_factors",
    "lowrank_gradient",
    "lowrank_loss",
    "ranks",
    "rowwise_kron",
    "softmax_scores",
]

#: the index conventions of the chain: both fixes, the paper's as printed, and each of its two lemmas alone
INDICES = ("fixed", "paper", "paper_D3", "paper_D5")


# --------------------------------------------------------------------------- exact (§E07.2)
def softmax_scores(A1: Tensor, A2: Tensor, X: Tensor, scale: float) -> Tensor:
    """f = D⁻¹exp(A1XA2ᵀ/scale) (n×n, row-stochastic), computed stably (row maximum subtracted)."""
    return torch.softmax(A1 @ X @ A2.T / scale, dim=1)


def loss(A1: Tensor, A2: Tensor, A3: Tensor, E: Tensor, Y: Tensor, X: Tensor, scale: float) -> Tensor:
    """L(X) = ½‖f A3Y − E‖_F² (docs/theory/e07.md §E07.1)."""
    c = softmax_scores(A1, A2, X, scale) @ (A3 @ Y) - E
    return 0.5 * (c * c).sum()


def loss_and_gradient(A1: Tensor, A2: Tensor, A3: Tensor, E: Tensor, Y: Tensor, X: Tensor, scale: float,
                      block_rows: Optional[int] = None) -> tuple[Tensor, Tensor]:
    """(L(X), dL/dX) in O(n²d) time: c = fh − E, q = chᵀ, r = (f∘q)1, p = f∘q − diag(r)f,
    dL/dX = A1ᵀpA2/scale (§E07.2; AS24 Lemma C.8). Row j of p needs row j of f only: with ``block_rows``
    the rows are taken that many at a time (memory O(block_rows·n) instead of O(n²), the same flops)."""
    h = A3 @ Y
    step = A1.shape[0] if block_rows is None else int(block_rows)
    L = torch.zeros((), dtype=A1.dtype, device=A1.device)
    G = torch.zeros(A1.shape[1], A2.shape[1], dtype=A1.dtype, device=A1.device)
    for a in range(0, A1.shape[0], step):
        f = softmax_scores(A1[a:a + step], A2, X, scale)
        c = f @ h - E[a:a + step]
        fq = f * (c @ h.T)
        p = fq - fq.sum(dim=1, keepdim=True) * f
        L = L + 0.5 * (c * c).sum()
        G = G + A1[a:a + step].T @ (p @ A2)
    return L, G / scale


def gradient(A1: Tensor, A2: Tensor, A3: Tensor, E: Tensor, Y: Tensor, X: Tensor, scale: float,
             block_rows: Optional[int] = None) -> Tensor:
    """dL/dX (d×d), exactly (§E07.2); ``block_rows`` as in :func:`loss_and_gradient`."""
    return loss_and_gradient(A1, A2, A3, E, Y, X, scale, block_rows)[1]


# --------------------------------------------------------------------------- bounds
def a1x_norm(A1: Tensor, X: Tensor) -> float:
    """‖A1X‖_∞ (largest entry in absolute value): the bound B of the problem's assumption."""
    return float((A1 @ X).abs().max())


def logit_radius(A1: Tensor, A2: Tensor, X: Tensor, scale: float) -> float:
    """d·‖A1X‖_∞‖A2‖_∞/scale: every logit ⟨A1X[i], A2[j]⟩/scale lies in [−radius, radius]
    (= ‖A1X‖_∞‖A2‖_∞ ≤ B² with scale = d; the interval of the polynomial, docs/theory/e07.md §E07.4)."""
    return A1.shape[1] * a1x_norm(A1, X) * float(A2.abs().max()) / scale


def ranks(d: int, g: int) -> dict[str, int]:
    """The ranks of the chain: k1 = C(d+g, g), k2 = k1 + d, k3 = k1·k2."""
    k1 = rank(d, g)
    return {"k1": k1, "k2": k1 + d, "k3": k1 * (k1 + d)}


# --------------------------------------------------------------------------- low rank (§E07.3)
class LowRankFactors(NamedTuple):
    """The factors of the chain: f̃ = U1V1ᵀ, q̃ = U2V2ᵀ, p̃2 = U4V4ᵀ and r̃; U3 = U1 ∗ U2 and V3 = V1 ∗ V2
    are formed by :func:`rowwise_kron` when needed (they are n×k3)."""

    U1: Tensor
    V1: Tensor
    U2: Tensor
    V2: Tensor
    U4: Tensor
    V4: Tensor
    r: Tensor
    h: Tensor


def rowwise_kron(U: Tensor, V: Tensor) -> Tensor:
    """U ∗ V: row j is the Kronecker product of U[j] and V[j] (n×k·m; column a·m + b is U[:, a]∘V[:, b])."""
    return (U[:, :, None] * V[:, None, :]).reshape(U.shape[0], -1)


def lowrank_factors(A1: Tensor, A2: Tensor, A3: Tensor, E: Tensor, Y: Tensor, X: Tensor, g: int, scale: float,
                    coef: Optional[Tensor] = None, indices: str = "fixed") -> LowRankFactors:
    """Steps 1, 2 and 4 of the chain (§E07.3) with the index conventions ``indices`` (:data:`INDICES`)."""
    if indices not in INDICES:
        raise ValueError(f"unknown indices {indices!r}; choose one of {', '.join(INDICES)}")
    s = math.sqrt(scale)
    P, V1 = phi(A1 @ X / s, g, coef), psi(A2 / s, g)
    U1 = P / (P @ V1.sum(dim=0)).unsqueeze(1)                    # D̃⁻¹Φ: the rows of f̃ sum to 1
    h = A3 @ Y
    hW = h @ (h.T @ V1)                                          # h (hᵀV1): n×k1
    if indices in ("fixed", "paper_D5"):                         # q̃ = c̃hᵀ (Definition C.3)
        U2, V2 = torch.cat([U1, E], dim=1), torch.cat([hW, -h], dim=1)
    else:                                                        # q̃ = hc̃ᵀ, as printed in Lemma D.3
        U2, V2 = torch.cat([hW, -h], dim=1), torch.cat([U1, E], dim=1)
    r = ((U1 @ (V1.T @ V2)) * U2).sum(dim=1)                     # r̃_j = U1[j](V1ᵀV2)U2[j]ᵀ
    if indices in ("fixed", "paper_D3"):                         # diag(r̃)f̃: rows scaled (Definition C.5)
        U4, V4 = r.unsqueeze(1) * U1, V1
    else:                                                        # f̃ diag(r̃): columns scaled, as printed in Lemma D.5
        U4, V4 = U1, r.unsqueeze(1) * V1
    return LowRankFactors(U1, V1, U2, V2, U4, V4, r, h)


def lowrank_gradient(A1: Tensor, A2: Tensor, A3: Tensor, E: Tensor, Y: Tensor, X: Tensor, g: int, scale: float,
                     coef: Optional[Tensor] = None, indices: str = "fixed", memory_light: bool = False) -> Tensor:
    """g̃ = [(A1ᵀU3)(V3ᵀA2) − (A1ᵀU4)(V4ᵀA2)]/scale (§E07.3 step 5): O(n k1 k2 d) time, never an n×n matrix.

    ``memory_light``: the sum over a ≤ k1 of (A1ᵀ(U1[:, a]∘U2))((V1[:, a]∘V2)ᵀA2), the same flops
    without the n×k3 matrices U3, V3 (n×k2 at a time)."""
    F = lowrank_factors(A1, A2, A3, E, Y, X, g, scale, coef, indices)
    if memory_light:
        P1 = torch.zeros(A1.shape[1], A2.shape[1], dtype=A1.dtype, device=A1.device)
        for a in range(F.U1.shape[1]):
            P1 = P1 + (A1.T @ (F.U1[:, a:a + 1] * F.U2)) @ ((F.V1[:, a:a + 1] * F.V2).T @ A2)
    else:
        P1 = (A1.T @ rowwise_kron(F.U1, F.U2)) @ (rowwise_kron(F.V1, F.V2).T @ A2)
    return (P1 - (A1.T @ F.U4) @ (F.V4.T @ A2)) / scale


def lowrank_loss(A1: Tensor, A2: Tensor, A3: Tensor, E: Tensor, Y: Tensor, X: Tensor, g: int, scale: float,
                 coef: Optional[Tensor] = None) -> Tensor:
    """L̃(X) = ½‖f̃ A3Y − E‖_F² with the forward algorithm of AS23 (kernels.polynomial.lowrank_attention)."""
    c = lowrank_attention(A1 @ X, A2, A3 @ Y, g, scale, coef) - E
    return 0.5 * (c * c).sum()
