"""Spectral approximation of a Kronecker product 𝖠 = A1 ⊗ A2 that is never formed (docs/theory/e06.md).

Pure functions of torch tensors (any dtype and device; float64 is the project default); randomness
comes only from an explicit ``torch.Generator`` (on the CPU). A1 is n1×d1, A2 is n2×d2, and
𝖠 = A1 ⊗ A2 is (n1·n2)×(d1·d2). Everything is row-major (docs/theory/e06.md §E06.2), as in the tensor
trick of P3 (kernels/attention.py):

    row (i, j) of 𝖠 is A1[i] ⊗ A2[j], at index i·n2 + j;   x = vec_r(X), X d1×d2, x[k·d2 + l] = X[k, l];
    𝖠 vec_r(X) = vec_r(A1 X A2ᵀ),   𝖠ᵀ vec_r(B) = vec_r(A1ᵀ B A2)   (B n1×n2, b = vec_r(B)).

The pieces (§E06.2–§E06.5):

- :class:`KroneckerFactor`, a :class:`kernels.sketch.RowFactor` of 𝖠: rows, the product leverage scores
  τ_(i,j)(𝖠) = τ_i(A1)τ_j(A2), the Gram (A1ᵀA1) ⊗ (A2ᵀA2), products with 𝖠 and 𝖠ᵀ, and a sampler of pairs
  i ~ τ(A1)/d1, j ~ τ(A2)/d2 that never builds the n1·n2 scores (:meth:`KroneckerFactor.sample`);
- the sampled Gram 𝖠ᵀD̃𝖠 and its measured spectral error ε̂ (:func:`spectral_error`, through the whitened
  factors, so 𝖠ᵀ𝖠 is never inverted as a d²×d² matrix);
- repeated halving (:func:`repeated_halving`): generalised leverage scores of one factor with respect to a
  spectral approximation of a uniformly halved copy of it, recursively; the Kronecker sampler then uses the
  product of the two factors' scores (:func:`halving_sample`), the classical skeleton of the paper's method;
- Kronecker least squares min ½‖𝖠x − b‖² + ½λ‖x‖²: the direct solve through the eigendecompositions of the
  two small Grams (:func:`direct_solve`) and the sketched solve from sampled rows (:func:`sketched_solve`).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from kernels.sketch import DenseFactor, RowSample

__all__ = [
    "KroneckerFactor",
    "HalvingResult",
    "direct_solve",
    "draw",
    "factor_scores",
    "halving_sample",
    "kron_matvec",
    "kron_rmatvec",
    "kron_rows",
    "pair_index",
    "repeated_halving",
    "sample_pairs",
    "sampled_gram",
    "sketched_solve",
    "spectral_error",
    "split_index",
]

#: the sampling distributions of :meth:`KroneckerFactor.sample`
SCORES = ("leverage", "uniform")


# --------------------------------------------------------------------------- indices and products (§E06.2)


def pair_index(i: Tensor, j: Tensor, n2: int) -> Tensor:
    """Row index i·n2 + j of the pair (i, j) in 𝖠 = A1 ⊗ A2 (row-major, §E06.2)."""
    return i * n2 + j


def split_index(index: Tensor, n2: int) -> tuple[Tensor, Tensor]:
    """The pair (i, j) of row ``index`` of 𝖠: i = index // n2, j = index mod n2 (§E06.2)."""
    return torch.div(index, n2, rounding_mode="floor"), torch.remainder(index, n2)


def kron_rows(P: Tensor, Q: Tensor) -> Tensor:
    """Row k is P[k] ⊗ Q[k] (the face-splitting product, row-major: entry (k, a·q + b) = P[k, a]·Q[k, b])."""
    return (P[:, :, None] * Q[:, None, :]).reshape(P.shape[0], -1)


def kron_matvec(A1: Tensor, A2: Tensor, x: Tensor) -> Tensor:
    """(A1 ⊗ A2)x = vec_r(A1 X A2ᵀ), X = x as a d1×d2 matrix (the tensor trick, §E06.2); O(n1·d1·d2 + n1·n2·d2)."""
    X = x.reshape(A1.shape[1], A2.shape[1])
    return ((A1 @ X) @ A2.T).reshape(-1)


def kron_rmatvec(A1: Tensor, A2: Tensor, b: Tensor) -> Tensor:
    """(A1 ⊗ A2)ᵀb = vec_r(A1ᵀ B A2), B = b as an n1×n2 matrix (§E06.2)."""
    B = b.reshape(A1.shape[0], A2.shape[0])
    return (A1.T @ (B @ A2)).reshape(-1)


def factor_scores(A: Tensor) -> Tensor:
    """Exact leverage scores τ(A) of one factor (thin QR; SVD when A is numerically rank-deficient), §E06.3."""
    return DenseFactor(A).leverage_scores()


# --------------------------------------------------------------------------- sampling (§E06.3)


def draw(p: Tensor, s: int, generator: torch.Generator) -> Tensor:
    """``s`` i.i.d. indices from the distribution ``p`` (any length: inverse CDF, not torch.multinomial's 2²⁴ cap)."""
    c = torch.cumsum(p.detach().to("cpu", torch.float64), 0)
    u = torch.rand(s, generator=generator, dtype=torch.float64) * c[-1]
    return torch.searchsorted(c, u, right=True).clamp_(max=p.shape[0] - 1).to(p.device)


def sample_pairs(p1: Tensor, p2: Tensor, s: int, generator: torch.Generator) -> RowSample:
    """s i.i.d. rows of 𝖠 with p_(i,j) = p1_i·p2_j: i ~ p1 and j ~ p2 drawn apart (§E06.3, step 2), repeated rows
    merged, weights Σ_{k: (i_k, j_k) = (i, j)} 1/(s p_(i,j)); the n1·n2 probabilities are never formed."""
    i, j = draw(p1, s, generator), draw(p2, s, generator)
    rows, counts = torch.unique(pair_index(i, j, p2.shape[0]), return_counts=True)
    ri, rj = split_index(rows, p2.shape[0])
    return RowSample(rows, counts.to(p1.dtype) / (s * p1[ri] * p2[rj]))


class KroneckerFactor:
    """:class:`kernels.sketch.RowFactor` of 𝖠 = A1 ⊗ A2, never formed (docs/theory/e06.md §E06.2–§E06.3).

    ``shape`` = (n1·n2, d1·d2); row (i, j) sits at index i·n2 + j. The factors' exact scores are computed once
    (thin QR of each: O((n1 + n2)·d²) work, every row of A1 and A2 read once, ``rows_read``)."""

    def __init__(self, A1: Tensor, A2: Tensor):
        if A1.dtype != A2.dtype or A1.device != A2.device:
            raise ValueError("A1 and A2 must share dtype and device")
        self.A1, self.A2 = A1, A2
        self.n1, self.d1 = A1.shape
        self.n2, self.d2 = A2.shape
        self.shape = (self.n1 * self.n2, self.d1 * self.d2)
        self._scores: Optional[tuple[Tensor, Tensor]] = None

    # ---- the RowFactor protocol
    def rows(self, index: Tensor) -> Tensor:
        """Rows ``index`` of 𝖠: A1[i] ⊗ A2[j] for index = i·n2 + j (len(index)×d1·d2)."""
        i, j = split_index(index, self.n2)
        return kron_rows(self.A1[i], self.A2[j])

    def factor_scores(self) -> tuple[Tensor, Tensor]:
        """(τ(A1), τ(A2)), each from a thin QR (§E06.3, step 1)."""
        if self._scores is None:
            self._scores = (factor_scores(self.A1), factor_scores(self.A2))
        return self._scores

    def leverage_scores(self) -> Tensor:
        """τ_(i,j)(𝖠) = τ_i(A1)·τ_j(A2) for every row, index i·n2 + j (n1·n2 values; §E06.2). For large n use
        :meth:`sample`, which never forms them."""
        t1, t2 = self.factor_scores()
        return torch.outer(t1, t2).reshape(-1)

    def gram(self) -> Tensor:
        """𝖠ᵀ𝖠 = (A1ᵀA1) ⊗ (A2ᵀA2) (d1d2×d1d2; §E06.2)."""
        return torch.kron(self.A1.T @ self.A1, self.A2.T @ self.A2)

    # ---- products through the tensor trick
    def matvec(self, x: Tensor) -> Tensor:
        """𝖠x = vec_r(A1 X A2ᵀ)."""
        return kron_matvec(self.A1, self.A2, x)

    def rmatvec(self, b: Tensor) -> Tensor:
        """𝖠ᵀb = vec_r(A1ᵀ B A2)."""
        return kron_rmatvec(self.A1, self.A2, b)

    @property
    def rows_read(self) -> int:
        """Rows of the factors the exact scores read: n1 + n2 (every row once; §E06.6, E06.C3)."""
        return self.n1 + self.n2

    # ---- sampling
    def probabilities(self, scores: str = "leverage") -> tuple[Tensor, Tensor]:
        """(p1, p2) with p_(i,j) = p1_i·p2_j: τ(A1)/Στ(A1), τ(A2)/Στ(A2) (``leverage``) or 1/n1, 1/n2 (``uniform``)."""
        if scores == "uniform":
            return (torch.full((self.n1,), 1.0 / self.n1, dtype=self.A1.dtype, device=self.A1.device),
                    torch.full((self.n2,), 1.0 / self.n2, dtype=self.A1.dtype, device=self.A1.device))
        if scores != "leverage":
            raise ValueError(f"scores must be one of {SCORES}, got {scores!r}")
        t1, t2 = self.factor_scores()
        return t1 / t1.sum(), t2 / t2.sum()

    def sample(self, s: int, generator: torch.Generator, scores: str = "leverage") -> RowSample:
        """s i.i.d. rows of 𝖠, pairs i ~ p1, j ~ p2 (:meth:`probabilities`), merged and weighted 1/(s p_(i,j))
        (§E06.3, steps 2–3); O(s + n1 + n2) beyond the scores, whatever n1·n2."""
        return sample_pairs(*self.probabilities(scores), s, generator)


def sampled_gram(factor: KroneckerFactor, sample: RowSample) -> Tensor:
    """𝖠ᵀD̃𝖠 = Σ_k w_k (A1[i_k] ⊗ A2[j_k])(A1[i_k] ⊗ A2[j_k])ᵀ from the sampled rows only (§E06.3, step 3)."""
    R = factor.rows(sample.rows)
    return R.T @ (sample.weights.unsqueeze(1) * R)


def _inverse_sqrt(G: Tensor) -> Tensor:
    ev, V = torch.linalg.eigh(0.5 * (G + G.T))
    return (V / ev.sqrt()) @ V.T


def spectral_error(factor: KroneckerFactor, sample: RowSample) -> float:
    """ε̂ = max|eig((𝖠ᵀ𝖠)^{-1/2} 𝖠ᵀD̃𝖠 (𝖠ᵀ𝖠)^{-1/2}) − 1| (§E06.3), with (𝖠ᵀ𝖠)^{-1/2} = G1^{-1/2} ⊗ G2^{-1/2}
    applied to the sampled rows (the whitened row (i, j) is (A1[i]G1^{-1/2}) ⊗ (A2[j]G2^{-1/2})).
    Requires A1 and A2 of full column rank."""
    W1 = _inverse_sqrt(factor.A1.T @ factor.A1)
    W2 = _inverse_sqrt(factor.A2.T @ factor.A2)
    i, j = split_index(sample.rows, factor.n2)
    U = kron_rows(factor.A1[i] @ W1, factor.A2[j] @ W2)
    M = U.T @ (sample.weights.unsqueeze(1) * U)
    return float((torch.linalg.eigvalsh(0.5 * (M + M.T)) - 1).abs().max())


# --------------------------------------------------------------------------- least squares (§E06.5)


def direct_solve(A1: Tensor, A2: Tensor, B: Tensor, lam: float = 0.0) -> Tensor:
    """x* = argmin ½‖(A1 ⊗ A2)x − vec_r(B)‖² + ½λ‖x‖² without forming 𝖠 (§E06.5): with G1 = V1Λ1V1ᵀ and
    G2 = V2Λ2V2ᵀ the two small Grams, (G1 ⊗ G2 + λI)⁻¹ = (V1 ⊗ V2)(Λ1 ⊗ Λ2 + λ)⁻¹(V1 ⊗ V2)ᵀ, so
    X* = V1[(V1ᵀ C V2) ⊘ (λ1λ2ᵀ + λ)]V2ᵀ with C = A1ᵀ B A2 (for λ = 0, X* = A1⁺ B (A2⁺)ᵀ). Returns vec_r(X*)."""
    l1, V1 = torch.linalg.eigh(A1.T @ A1)
    l2, V2 = torch.linalg.eigh(A2.T @ A2)
    C = A1.T @ (B @ A2)
    X = V1 @ ((V1.T @ C @ V2) / (torch.outer(l1, l2) + lam)) @ V2.T
    return X.reshape(-1)


def sketched_solve(factor: KroneckerFactor, B: Tensor, sample: RowSample, lam: float = 0.0) -> Tensor:
    """x̃ = argmin ½‖S(𝖠x − b)‖² + ½λ‖x‖² over the sampled rows, S = diag(√w) on them (§E06.5):
    x̃ = (𝖠ᵀD̃𝖠 + λI)⁻¹ Σ_k w_k b_(i_k, j_k) (A1[i_k] ⊗ A2[j_k]), b_(i,j) = B[i, j]. Reads only the sampled
    entries of B."""
    R = factor.rows(sample.rows)
    i, j = split_index(sample.rows, factor.n2)
    wR = sample.weights.unsqueeze(1) * R
    H = R.T @ wR + lam * torch.eye(R.shape[1], dtype=R.dtype, device=R.device)
    return torch.linalg.solve(H, wR.T @ B[i, j])


# --------------------------------------------------------------------------- repeated halving (§E06.4)


class HalvingResult(NamedTuple):
    """One factor's repeated halving: generalised scores τ̃ of every row (with respect to the spectral
    approximation built from its uniformly halved half), the reweighted sample of rows (a spectral
    approximation of the factor), the rows read on the way (every level reads its rows once) and the depth."""

    scores: Tensor
    rows: Tensor
    weights: Tensor
    rows_read: int
    depth: int


def _default_oversample(d: int, eps: float) -> float:
    return max(4.0, 4.0 * math.log(max(d, 2))) / eps ** 2


def repeated_halving(A: Tensor, generator: torch.Generator, eps: float = 0.5, oversample: Optional[float] = None,
                     base_rows: Optional[int] = None) -> HalvingResult:
    """Repeated halving of one factor (§E06.4; Cohen et al.'s uniform sampling, recursively):

        halve(A):  if rows(A) ≤ base_rows: all rows, weight 1
                   A' = a uniform half of the rows of A;  B = halve(A')          (BᵀB ≈ A'ᵀA')
                   τ̃_i = min(1, a_iᵀ(BᵀB)⁺a_i) for every row of A             (generalised scores, τ̃_i ≳ τ_i(A))
                   keep row i with probability q_i = min(1, c·τ̃_i), weight 1/q_i

    ``oversample`` c defaults to max(4, 4 ln d)/eps² (eps: the accuracy of the intermediate approximations;
    constant-factor accuracy suffices there), ``base_rows`` to ⌈2c·d⌉. Returns the top level's τ̃ (overestimates
    of τ(A): A'ᵀA' ⪯ AᵀA), its reweighted sample and the number of rows read."""
    n, d = A.shape
    c = float(oversample) if oversample is not None else _default_oversample(d, eps)
    base = int(base_rows) if base_rows is not None else max(d, math.ceil(2 * c * d))
    index = torch.arange(n, device=A.device)
    return _halve(A, index, generator, c, base, 0)


def _halve(A: Tensor, index: Tensor, generator: torch.Generator, c: float, base: int, depth: int) -> HalvingResult:
    m = index.shape[0]
    if m <= base:  # few rows: all of them, weight 1, with their exact scores
        rows = A[index]
        tau = ((rows @ torch.linalg.pinv(rows.T @ rows, hermitian=True)) * rows).sum(dim=1).clamp(0.0, 1.0)
        return HalvingResult(tau, index, torch.ones(m, dtype=A.dtype, device=A.device), m, depth)
    half = index[torch.randperm(m, generator=generator)[: m // 2].to(A.device)]
    inner = _halve(A, half, generator, c, base, depth + 1)
    Bs = A[inner.rows]
    pinv = torch.linalg.pinv(Bs.T @ (inner.weights.unsqueeze(1) * Bs), hermitian=True)
    rows = A[index]
    tau = ((rows @ pinv) * rows).sum(dim=1).clamp(min=0.0, max=1.0)
    q = (c * tau).clamp(max=1.0)
    keep = torch.rand(m, generator=generator, dtype=torch.float64).to(A.device) < q
    return HalvingResult(tau, index[keep], 1.0 / q[keep], m + inner.rows_read, inner.depth)


def halving_sample(A1: Tensor, A2: Tensor, s: int, generator: torch.Generator, eps: float = 0.5,
                   oversample: Optional[float] = None) -> tuple[RowSample, HalvingResult, HalvingResult]:
    """The Kronecker step of §E06.4: repeated halving of A1 and of A2 apart, then s i.i.d. pairs with
    p_(i,j) = τ̃_i(A1)τ̃_j(A2)/(Στ̃(A1)·Στ̃(A2)), weights 1/(s p_(i,j)). Returns the sample and the two factors'
    halving results (their scores and rows read)."""
    h1 = repeated_halving(A1, generator, eps, oversample)
    h2 = repeated_halving(A2, generator, eps, oversample)
    return sample_pairs(h1.scores / h1.scores.sum(), h2.scores / h2.scores.sum(), s, generator), h1, h2
