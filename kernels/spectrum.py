"""Spectral summaries of a symmetric matrix (a Hessian): extreme eigenvalues, condition number,
effective rank, and the kept spectrum of a low-rank matrix (docs/theory/p2.md §P2.6)."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["NULL_FRACTION", "kept_spectrum", "spectral_stats"]

#: Eigenvalues below this fraction of λ_max are the null space of a low-rank instance (docs/theory/p2.md §P2.6).
NULL_FRACTION = 1e-9


def spectral_stats(H: Tensor) -> dict[str, float]:
    """ℓ = λ_max, μ = λ_min, κ = ℓ/μ and effective rank r = tr(H)/‖H‖ of a symmetric matrix."""
    ev = torch.linalg.eigvalsh(0.5 * (H + H.T))
    ell, mu = float(ev[-1]), float(ev[0])
    top = float(ev.abs().max())
    return {
        "ell": ell,
        "mu": mu,
        "kappa": ell / mu if mu > 0 else float("inf"),
        "effective_rank": float(ev.sum()) / top if top > 0 else 0.0,
    }


def kept_spectrum(H: Tensor) -> Tensor:
    """Eigenvalues of the symmetric H above NULL_FRACTION·λ_max, ascending."""
    ev = torch.linalg.eigvalsh(0.5 * (H + H.T))
    return ev[ev > NULL_FRACTION * ev[-1]]
