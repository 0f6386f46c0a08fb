"""Leverage scores and leverage-score row sampling (docs/theory/p1.md §P1.5; used by P1.5, P3, E02, E06, E09).

Pure functions of torch tensors. ``M`` is n×k, dense or torch sparse COO.
Randomness comes only from the explicit ``generator`` argument.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Protocol

import torch
from torch import Tensor

from kernels.matrix import matmat_row_norms2

__all__ = [
    "leverage_scores",
    "leverage_scores_svd",
    "approximate_leverage_scores",
    "countsketch",
    "jl_dimension",
    "sample_size",
    "RowSample",
    "sample_rows",
    "sampled_diagonal",
    "spectral_deviation",
    "RowFactor",
    "DenseFactor",
    "sampled_gram",
]


def _dense(M: Tensor) -> Tensor:
    return M.to_dense() if M.layout != torch.strided else M


def leverage_scores(M: Tensor) -> Tensor:
    """Exact τ_i = ‖Q_{i,*}‖² from the thin QR M = QR (docs/theory/p1.md §P1.5); Σ τ_i = rank M = k.

    Requires full column rank; for a rank-deficient M use the SVD-based scores
    (:func:`leverage_scores_svd`).
    """
    Q, _ = torch.linalg.qr(_dense(M), mode="reduced")
    return (Q * Q).sum(dim=1)


def leverage_scores_svd(M: Tensor, rtol: Optional[float] = None) -> Tensor:
    """τ_i from the left singular vectors of the numerical range of M (any rank)."""
    U, S, _ = torch.linalg.svd(_dense(M), full_matrices=False)
    tol = (rtol if rtol is not None else max(M.shape) * torch.finfo(M.dtype).eps) * S[0]
    U = U[:, S > tol]
    return (U * U).sum(dim=1)


def countsketch(M: Tensor, rows: int, generator: torch.Generator, row_scale: Optional[Tensor] = None) -> Tensor:
    """ΠSM for a CountSketch Π (rows × n) and S = diag(row_scale) (identity if None): row i of M,
    times a random sign and its scale, is added to a random bucket.

    O(nnz(M)) work; works for dense and sparse COO M; S·M is never formed.
    """
    n, k = M.shape
    bucket = torch.randint(rows, (n,), generator=generator).to(M.device)
    sign = (torch.randint(2, (n,), generator=generator) * 2 - 1).to(M.device, M.dtype)
    if row_scale is not None:
        sign = sign * row_scale
    out = torch.zeros(rows, k, dtype=M.dtype, device=M.device)
    if M.layout != torch.strided:
        Mc = M.coalesce()
        i, j = Mc.indices()
        out.index_put_((bucket[i], j), Mc.values() * sign[i], accumulate=True)
        return out
    return out.index_add_(0, bucket, M * sign.unsqueeze(1))


def jl_dimension(n: int, delta: float) -> int:
    """m = ⌈8 ln(n/δ)⌉ Gaussian columns (at least 4) for the Johnson–Lindenstrauss step (docs/theory/p1.md §P1.5)."""
    return max(4, math.ceil(8 * math.log(n / delta)))


def approximate_leverage_scores(M: Tensor, generator: torch.Generator, sketch_rows: Optional[int] = None,
                                jl_cols: Optional[int] = None, delta: float = 0.01,
                                row_scale: Optional[Tensor] = None) -> Tensor:
    """τ̃_i = ‖(SM)_{i,*} R⁻¹ G‖²/m for S = diag(row_scale), R from the QR of a CountSketch of SM and
    G Gaussian k×m (docs/theory/p1.md §P1.5).

    ``sketch_rows`` defaults to max(4k², 4k) and ``jl_cols`` to :func:`jl_dimension`; the cost is
    O(nnz(M)·m + k²·rows + k²m), proportional to nnz(M) for fixed k. Constant-factor accurate with
    high probability; SM is never formed.
    """
    n, k = M.shape
    rows = sketch_rows or max(4 * k * k, 4 * k)
    m = jl_cols or jl_dimension(n, delta)
    _, R = torch.linalg.qr(countsketch(M, rows, generator, row_scale), mode="reduced")
    G = torch.randn(k, m, generator=generator, dtype=M.dtype).to(M.device)
    Z = torch.linalg.solve_triangular(R, G, upper=True)  # R⁻¹G, k×m
    return matmat_row_norms2(M, Z, row_scale) / m


def sample_size(d: int, eps0: float, delta: float, c_s: float = 1.0) -> int:
    """s = ⌈c_s · d · ln(d/δ) / ε0²⌉, the sample size that sufficed in docs/theory/p1.md §P1.5 [V]."""
    return math.ceil(c_s * d * math.log(max(d, 2) / delta) / eps0**2)


class RowSample(NamedTuple):
    """Distinct sampled rows and their weights Σ_{k: i_k = i} 1/(s p_i)."""

    rows: Tensor
    weights: Tensor


def sample_rows(p: Tensor, s: int, generator: torch.Generator) -> RowSample:
    """Draw i_1..i_s i.i.d. from p and aggregate repeated rows (docs/theory/p1.md §P1.5)."""
    draws = torch.multinomial(p.cpu(), s, replacement=True, generator=generator).to(p.device)
    rows, counts = torch.unique(draws, return_counts=True)
    return RowSample(rows, counts.to(p.dtype) / (s * p[rows]))


def sampled_diagonal(D: Tensor, p: Tensor, s: int, generator: torch.Generator) -> RowSample:
    """D̃ = Σ_k D_{i_k}/(s p_{i_k}) e_{i_k}e_{i_k}ᵀ, unbiased for diag(D), at most s nonzeros."""
    sample = sample_rows(p, s, generator)
    return RowSample(sample.rows, sample.weights * D[sample.rows])


def spectral_deviation(exact: Tensor, approx: Tensor) -> float:
    """ε̂ = max |eig(H^{-1/2} H̃ H^{-1/2}) − 1| for symmetric positive definite H (docs/theory/p1.md §P1.5)."""
    ev, V = torch.linalg.eigh(0.5 * (exact + exact.T))
    W = V / ev.sqrt()
    rel = torch.linalg.eigvalsh(W.T @ (0.5 * (approx + approx.T)) @ W)
    return float((rel - 1).abs().max())


class RowFactor(Protocol):
    """A tall matrix M (``shape`` = (m, k)) that row sampling needs only through its rows and scores: a dense
    tensor (:class:`DenseFactor`) or a structured one that is never formed (the Kronecker product of
    kernels/kronecker.py). The Gauss–Newton part of a Hessian is MᵀM (docs/theory/p1.md §P1.5)."""

    shape: tuple[int, int]

    def rows(self, index: Tensor) -> Tensor:
        """Rows ``index`` of M, as a len(index)×k tensor."""
        ...

    def leverage_scores(self) -> Tensor:
        """τ_i(M) for every row (m of them)."""
        ...

    def gram(self) -> Tensor:
        """MᵀM (k×k)."""
        ...

    def sample(self, s: int, generator: torch.Generator, scores: str = "leverage") -> RowSample:
        """s i.i.d. rows, p_i ∝ τ_i(M) (``leverage``) or 1/m (``uniform``), merged, weights 1/(s p_i)."""
        ...


class DenseFactor:
    """:class:`RowFactor` of a dense m×k tensor (exact scores from its thin QR, SVD when rank-deficient)."""

    def __init__(self, M: Tensor):
        self.M = _dense(M)
        self.shape = tuple(self.M.shape)

    def rows(self, index: Tensor) -> Tensor:
        return self.M[index]

    def leverage_scores(self) -> Tensor:
        R = torch.linalg.qr(self.M, mode="r")[1]
        diag = R.diagonal().abs()
        if float(diag.min()) <= max(self.shape) * torch.finfo(self.M.dtype).eps * float(diag.max()):
            return leverage_scores_svd(self.M)
        return leverage_scores(self.M)

    def gram(self) -> Tensor:
        return self.M.T @ self.M

    def sample(self, s: int, generator: torch.Generator, scores: str = "leverage") -> RowSample:
        m = self.shape[0]
        if scores == "uniform":
            p = torch.full((m,), 1.0 / m, dtype=self.M.dtype, device=self.M.device)
        else:
            tau = self.leverage_scores().clamp_min(0.0)
            p = tau / tau.sum()
        return sample_rows(p, s, generator)


def sampled_gram(factor: RowFactor, sample: RowSample) -> Tensor:
    """MᵀD̃M = Σ_k m_{i_k}m_{i_k}ᵀ/(s p_{i_k}) from the sampled rows only (docs/theory/p1.md §P1.5)."""
    rows = factor.rows(sample.rows)
    return rows.T @ (sample.weights.unsqueeze(1) * rows)
