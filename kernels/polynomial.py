"""The polynomial method: low-rank feature maps for exp(⟨q, k⟩) and low-rank attention (docs/theory/polynomial.md).

Used by E07 (attention gradients), E04 (Hopfield retrieval) and E10 (streaming attention).

A polynomial P(s) = Σ_{l≤g} c_l s^l of degree g in an inner product s = ⟨q, k⟩ expands over the
multi-indices α ∈ ℕ^d with |α| ≤ g:

    P(⟨q, k⟩) = Σ_α c_{|α|} · multinomial(α) · q^α k^α,     multinomial(α) = |α|! / ∏ α_i!,

so P(Q Kᵀ) = Φ(Q) Ψ(K)ᵀ with Φ(Q)[i, α] = c_{|α|} multinomial(α) q_i^α and Ψ(K)[j, α] = k_j^α:
rank t = C(d + g, g), the number of monomials of degree ≤ g in d variables (symmetric monomials,
never the d^l tensor powers). Pure torch functions, generic in dtype and device (float64 by default
in the lab); the monomial table is built once per (d, g) and cached.

Conventions: ``Q``, ``K`` are n×d and m×d; attention here is ``D⁻¹ exp(Q Kᵀ / scale) V`` with the row
normaliser D = diag(exp(Q Kᵀ / scale) 1). AS23 and AS24 use scale = d (pass the features
Q/√scale and K/√scale), Hopfield retrieval uses scale = 1/β.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "COEFFICIENTS",
    "Monomials",
    "attention",
    "chebyshev_coefficients",
    "coefficients",
    "lowrank_attention",
    "monomials",
    "phi",
    "psi",
    "rank",
    "taylor_coefficients",
]

#: the two ways of choosing the coefficients c_l of the polynomial for exp (common reading of AS23)
COEFFICIENTS = ("taylor", "chebyshev")


def rank(d: int, g: int) -> int:
    """t = C(d + g, g): the number of monomials of degree ≤ g in d variables (the rank of Φ Ψᵀ)."""
    return math.comb(d + g, g)


class Monomials(NamedTuple):
    """The monomials of degree ≤ g in d variables, in degree order (degree 0 first).

    Column j of the features is column ``parent[j]`` times variable ``var[j]`` (j ≥ 1); ``degree[j]``
    is |α| and ``multinomial[j]`` is |α|!/∏ α_i!. Each monomial is a multiset of variables listed in
    non-decreasing order, so that every multiset appears once."""

    degree: Tensor       # (t,) int64
    parent: Tensor       # (t,) int64, -1 for the constant
    var: Tensor          # (t,) int64, -1 for the constant
    multinomial: Tensor  # (t,) float64
    exponents: Tensor    # (t, d) int64: α


@functools.lru_cache(maxsize=64)
def monomials(d: int, g: int) -> Monomials:
    """The table of the C(d + g, g) monomials of degree ≤ g in d variables (cached per (d, g))."""
    if d < 1 or g < 0:
        raise ValueError(f"monomials need d ≥ 1 and g ≥ 0, got d={d}, g={g}")
    degree, parent, var, last, exps = [0], [-1], [-1], [0], [[0] * d]
    frontier = [0]
    for l in range(1, g + 1):
        nxt = []
        for j in frontier:
            for i in range(last[j], d):  # extend with variables ≥ the last one: each multiset once
                e = list(exps[j])
                e[i] += 1
                degree.append(l)
                parent.append(j)
                var.append(i)
                last.append(i)
                exps.append(e)
                nxt.append(len(degree) - 1)
        frontier = nxt
    E = torch.tensor(exps, dtype=torch.int64)
    multi = torch.tensor([math.factorial(sum(e)) / math.prod(math.factorial(a) for a in e) for e in exps],
                         dtype=torch.float64)
    return Monomials(torch.tensor(degree), torch.tensor(parent), torch.tensor(var), multi, E)


def _powers(X: Tensor, g: int) -> Tensor:
    """The monomials x^α of each row of X (n×d) for |α| ≤ g: an n×t tensor, built degree by degree."""
    n, d = X.shape
    m = monomials(d, g)
    F = torch.empty(n, len(m.degree), dtype=X.dtype, device=X.device)
    F[:, 0] = 1
    deg = m.degree.tolist()
    start = 1
    for l in range(1, g + 1):
        stop = start + deg.count(l)
        F[:, start:stop] = F[:, m.parent[start:stop].to(X.device)] * X[:, m.var[start:stop].to(X.device)]
        start = stop
    return F


def taylor_coefficients(g: int) -> Tensor:
    """c_l = 1/l!, l = 0…g: the Taylor polynomial of exp at 0 (accurate for small |s|)."""
    return torch.tensor([1.0 / math.factorial(l) for l in range(g + 1)], dtype=torch.float64)


def chebyshev_coefficients(g: int, radius: float) -> Tensor:
    """Monomial coefficients of the degree-g Chebyshev interpolant of exp on [−radius, radius]
    (near-minimax there; common reading of AS23's polynomial for larger entry bounds)."""
    if radius <= 0:
        return taylor_coefficients(g)
    cheb = np.polynomial.Chebyshev.interpolate(np.exp, g, domain=[-radius, radius])
    c = cheb.convert(kind=np.polynomial.Polynomial, domain=[-radius, radius], window=[-radius, radius]).coef
    return torch.tensor(np.pad(c, (0, g + 1 - len(c))), dtype=torch.float64)


def coefficients(g: int, kind: str = "taylor", radius: float = 0.0) -> Tensor:
    """The coefficients c_0…c_g of the polynomial for exp: ``taylor`` or ``chebyshev`` on [−radius, radius]."""
    if kind == "taylor":
        return taylor_coefficients(g)
    if kind == "chebyshev":
        return chebyshev_coefficients(g, radius)
    raise ValueError(f"unknown coefficients {kind!r}; choose one of {', '.join(COEFFICIENTS)}")


def phi(Q: Tensor, g: int, coef: Optional[Tensor] = None) -> Tensor:
    """Φ(Q)[i, α] = c_{|α|} multinomial(α) q_i^α (n×t); Taylor coefficients by default."""
    m = monomials(Q.shape[1], g)
    c = taylor_coefficients(g) if coef is None else coef
    w = (c[m.degree] * m.multinomial).to(Q.device, Q.dtype)
    return _powers(Q, g) * w


def psi(K: Tensor, g: int) -> Tensor:
    """Ψ(K)[j, α] = k_j^α (m×t)."""
    return _powers(K, g)


def attention(Q: Tensor, K: Tensor, V: Tensor, scale: float) -> Tensor:
    """Exact attention D⁻¹ exp(Q Kᵀ/scale) V (row softmax, computed stably): O(n m d) time, n×m memory."""
    return torch.softmax(Q @ K.T / scale, dim=1) @ V


def lowrank_attention(Q: Tensor, K: Tensor, V: Tensor, g: int, scale: float,
                      coef: Optional[Tensor] = None) -> Tensor:
    """Low-rank attention T̃ = (U₁(U₂ᵀV)) / (U₁(U₂ᵀ1)) with U₁ = Φ(Q/√scale), U₂ = Ψ(K/√scale)
    (AS23's forward algorithm, docs/theory/polynomial.md): O((n + m) t d) time, never an n×m matrix."""
    s = math.sqrt(scale)
    U1, U2 = phi(Q / s, g, coef), psi(K / s, g)
    W = U2.T @ V
    z = U2.sum(dim=0)
    return (U1 @ W) / (U1 @ z).unsqueeze(1)
