"""Modern Hopfield retrieval, exact and low-rank (docs/theory/e04.md).

Memory patterns are the columns of Ξ ∈ ℝ^{d×M}, queries the columns of X ∈ ℝ^{d×L}, β the inverse
temperature. One retrieval step (docs/theory/e04.md §E04.1) maps every query to

    T(x) = Ξ softmax(β Ξᵀ x),     batched:  Z = Ξ softmax_columns(β Ξᵀ X) ∈ ℝ^{d×L},

the softmax taken over the M memories of each query (over the rows of the M×L logit matrix, i.e.
along each column). The low-rank retrieval (§E04.3) replaces exp(β Ξᵀ X) by U₁ U₂ᵀ with
U₁ = Φ(√β Ξᵀ) (M×t) and U₂ = Ψ(√β Xᵀ) (L×t), the polynomial features of :mod:`kernels.polynomial`:

    Z̃ = ((Ξ U₁) U₂ᵀ) diag(z)⁻¹,     z = U₂ (U₁ᵀ 1_M),

at cost O((M + L) t d) instead of O(M L d). The memory side (Ξ U₁ and U₁ᵀ1) does not change between
steps, so multi-step retrieval builds it once (:class:`MemoryFeatures`). The energy, the separation
Δ_μ and the Ramsauer-type error bound are here too (§E04.2).

Pure torch functions, generic in dtype and device (float64 in the lab); the exact retrieval and the
features are computed in blocks of queries (and memories), so that no M×L matrix (nor an M×t or L×t
feature matrix larger than a block) is held at once.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
import torch
from torch import Tensor

from kernels import polynomial

__all__ = [
    "MemoryFeatures",
    "chebyshev_series",
    "energy",
    "lowrank_retrieve",
    "lowrank_retrieve_steps",
    "max_logit",
    "memory_features",
    "polynomial_retrieve",
    "query_step",
    "retrieval_error_bound",
    "retrieve",
    "retrieve_steps",
    "separation",
]

#: default number of memories per block of features (a 1024 × t block)
BLOCK = 1024
#: default size of a block of logits in the exact retrieval (M × ⌈2^17/M⌉ entries, about 1 MB in float64):
#: the cost per logit then stays the same whatever M is (the block stays in cache)
BLOCK_ENTRIES = 2**17


def _blocks(n: int, block: Optional[int]):
    step = n if not block else int(block)
    for start in range(0, n, max(step, 1)):
        yield slice(start, min(start + step, n))


def _query_block(M: int, block: Optional[int]) -> int:
    return int(block) if block else max(1, -(-BLOCK_ENTRIES // M))


def retrieve(Xi: Tensor, X: Tensor, beta: float, block: Optional[int] = None) -> Tensor:
    """Exact one-step retrieval Z = Ξ softmax_columns(β Ξᵀ X) (docs/theory/e04.md §E04.1).

    ``Xi`` is d×M (a pattern per column), ``X`` is d×L (a query per column); the softmax runs over
    the M memories of each query (dim 0 of the M×L logits), shifted by its maximum. Queries are taken
    ``block`` at a time (default: about 2^17 logits per block): O(M L d) time, O(M·block) memory."""
    out = torch.empty(Xi.shape[0], X.shape[1], dtype=Xi.dtype, device=Xi.device)
    for s in _blocks(X.shape[1], _query_block(Xi.shape[1], block)):
        out[:, s] = Xi @ torch.softmax(beta * (Xi.T @ X[:, s]), dim=0)
    return out


def retrieve_steps(Xi: Tensor, X: Tensor, beta: float, steps: int, block: Optional[int] = None) -> Tensor:
    """``steps`` exact retrieval steps x ← T(x) from the queries X (the concave–convex update of the energy)."""
    for _ in range(steps):
        X = retrieve(Xi, X, beta, block)
    return X


def max_logit(Xi: Tensor, X: Tensor, beta: float, block: Optional[int] = None) -> float:
    """The realised max |β ξ_μ·x_l| over every memory and query (the radius the polynomial must cover)."""
    best = 0.0
    for s in _blocks(X.shape[1], _query_block(Xi.shape[1], block)):
        best = max(best, float((beta * (Xi.T @ X[:, s])).abs().max()))
    return best


def energy(X: Tensor, Xi: Tensor, beta: float) -> Tensor:
    """Modern Hopfield energy of each query column (§E04.1):

        E(x) = −β⁻¹ ln Σ_μ exp(β ξ_μ·x) + ½‖x‖² + β⁻¹ ln M + ½ max_μ ‖ξ_μ‖²,

    whose gradient is x − T(x): the retrieval step is the concave–convex update that never raises E."""
    M = Xi.shape[1]
    lse = torch.logsumexp(beta * (Xi.T @ X), dim=0) / beta
    const = math.log(M) / beta + 0.5 * float((Xi * Xi).sum(dim=0).max())
    return -lse + 0.5 * (X * X).sum(dim=0) + const


def separation(Xi: Tensor) -> Tensor:
    """Δ_μ = min_{ν≠μ} (ξ_μ·ξ_μ − ξ_μ·ξ_ν) for every pattern μ (the separation of §E04.2); M ≥ 2."""
    G = Xi.T @ Xi
    off = G.clone()
    off.fill_diagonal_(-math.inf)
    return torch.diagonal(G) - off.max(dim=1).values


def retrieval_error_bound(Xi: Tensor, beta: float, r: float) -> Tensor:
    """The Ramsauer-type bound of §E04.2, per pattern μ, for queries with ‖x − ξ_μ‖ ≤ r:

        ‖T(x) − ξ_μ‖ ≤ 2(M − 1) exp(−β(Δ_μ − 2 r max_ν ‖ξ_ν‖)) max_ν ‖ξ_ν‖

    (a statement about separated patterns, Δ_μ > 2 r max‖ξ‖; elsewhere the number is ≥ the trivial bound)."""
    M = Xi.shape[1]
    m = float(torch.linalg.vector_norm(Xi, dim=0).max())
    return 2 * (M - 1) * torch.exp(-beta * (separation(Xi) - 2 * r * m)) * m


# --------------------------------------------------------------------------- low-rank retrieval
class MemoryFeatures(NamedTuple):
    """The memory side of the low-rank retrieval, built once: Ξ U₁ (d×t) and U₁ᵀ 1_M (t)."""

    XiU1: Tensor
    U1_sum: Tensor
    beta: float
    g: int


def memory_features(Xi: Tensor, beta: float, g: int, coef: Optional[Tensor] = None,
                    block: Optional[int] = BLOCK) -> MemoryFeatures:
    """Ξ U₁ and U₁ᵀ1 with U₁ = Φ(√β Ξᵀ) (§E04.3), memories taken ``block`` at a time: O(M t d)."""
    sb = math.sqrt(beta)
    t = polynomial.rank(Xi.shape[0], g)
    XiU1 = torch.zeros(Xi.shape[0], t, dtype=Xi.dtype, device=Xi.device)
    U1_sum = torch.zeros(t, dtype=Xi.dtype, device=Xi.device)
    for s in _blocks(Xi.shape[1], block):
        U1 = polynomial.phi(sb * Xi[:, s].T, g, coef)
        XiU1 += Xi[:, s] @ U1
        U1_sum += U1.sum(dim=0)
    return MemoryFeatures(XiU1, U1_sum, beta, g)


def query_step(mem: MemoryFeatures, X: Tensor, block: Optional[int] = BLOCK) -> Tensor:
    """One low-rank step from the memory side: Z̃ = ((Ξ U₁) U₂ᵀ) diag(U₂ U₁ᵀ1)⁻¹ with U₂ = Ψ(√β Xᵀ):
    O(L t d), queries taken ``block`` at a time."""
    sb = math.sqrt(mem.beta)
    out = torch.empty(mem.XiU1.shape[0], X.shape[1], dtype=X.dtype, device=X.device)
    for s in _blocks(X.shape[1], block):
        U2 = polynomial.psi(sb * X[:, s].T, mem.g)
        out[:, s] = (mem.XiU1 @ U2.T) / (U2 @ mem.U1_sum)
    return out


def lowrank_retrieve(Xi: Tensor, X: Tensor, beta: float, g: int, coef: Optional[Tensor] = None,
                     block: Optional[int] = BLOCK) -> Tensor:
    """Low-rank one-step retrieval Z̃ (§E04.3): exp(β Ξᵀ X) replaced by U₁U₂ᵀ, U₁ = Φ(√β Ξᵀ) with the
    coefficients ``coef`` of the degree-g polynomial (Taylor by default), U₂ = Ψ(√β Xᵀ); the column
    normalisers are z = U₂(U₁ᵀ1_M). Rank t = C(d + g, g); never an M×L matrix."""
    return query_step(memory_features(Xi, beta, g, coef, block), X, block)


def lowrank_retrieve_steps(Xi: Tensor, X: Tensor, beta: float, g: int, steps: int, coef: Optional[Tensor] = None,
                           block: Optional[int] = BLOCK) -> Tensor:
    """``steps`` low-rank retrieval steps: the memory side Ξ U₁, U₁ᵀ1 is built once (O(M t d)), each step
    recomputes only the query features (O(L t d))."""
    mem = memory_features(Xi, beta, g, coef, block)
    for _ in range(steps):
        X = query_step(mem, X, block)
    return X


# --------------------------------------------------------------------------- dense evaluation of the same polynomial
def chebyshev_series(g: int, radius: float) -> Tensor:
    """Chebyshev-basis coefficients a_0…a_g of the degree-g interpolant of exp on [−radius, radius]
    (the polynomial whose monomial form is :func:`kernels.polynomial.chebyshev_coefficients`)."""
    cheb = np.polynomial.Chebyshev.interpolate(np.exp, g, domain=[-radius, radius])
    return torch.tensor(np.pad(cheb.coef, (0, g + 1 - len(cheb.coef))), dtype=torch.float64)


def _clenshaw(a: Tensor, y: Tensor) -> Tensor:
    """Σ a_k T_k(y) by Clenshaw's recurrence (stable for any degree), entrywise."""
    b1 = torch.zeros_like(y)
    b2 = torch.zeros_like(y)
    for ak in a.flip(0)[:-1].tolist():
        b1, b2 = 2 * y * b1 - b2 + ak, b1
    return y * b1 - b2 + float(a[0])


def polynomial_retrieve(Xi: Tensor, X: Tensor, beta: float, g: int, radius: float,
                        block: Optional[int] = None) -> Tensor:
    """The output of the low-rank retrieval with the degree-g Chebyshev interpolant P of exp on
    [−radius, radius], evaluated densely: Ξ P(β Ξᵀ X) diag(1ᵀ P(β Ξᵀ X))⁻¹ (P entrywise, in the
    Chebyshev basis). Mathematically the same matrix as :func:`lowrank_retrieve` with the features of
    P, whatever t is; O(M L g) time, for checking degrees whose rank C(d + g, g) is too large to build."""
    a = chebyshev_series(g, radius).to(Xi.device, Xi.dtype)
    out = torch.empty(Xi.shape[0], X.shape[1], dtype=Xi.dtype, device=Xi.device)
    for s in _blocks(X.shape[1], _query_block(Xi.shape[1], block)):
        P = _clenshaw(a, beta * (Xi.T @ X[:, s]) / radius)
        out[:, s] = (Xi @ P) / P.sum(dim=0)
    return out
