"""E06 instances (docs/theory/e06.md §E06.5): the data of Kronecker least squares min ½‖(A1 ⊗ A2)x − b‖².

Every instance is a dict of arrays for :class:`pipeline.problems.KroneckerLeastSquares`: ``A1`` and ``A2``
(n×d), ``B`` (n×n, b = vec_r(B): entry (i, j) of B is row i·n + j of b), ``x_true`` (d², vec_r of the planted
X) and ``coherence`` (a 0-d array). The factors are Gaussian N(0, 1/n) (so that AᵀA ≈ I without the heavy
rows; the scale changes no score, error or rate) with their first ``heavy_rows`` rows (default d) scaled by
``coherence`` ("coherent" factors: those rows carry most of the leverage; 1 gives plain Gaussian factors).
The target is a low-rank matrix plus noise,

    B = A1 X_true A2ᵀ + (noise/n)·N(0, 1)^{n×n},   X_true = Σ_{k<rank} u_k v_kᵀ/√rank,  u_k, v_k ~ N(0, I_d),

so rank(A1 X_true A2ᵀ) ≤ rank; off the heavy rows the entries of A1 X_true A2ᵀ have standard deviation
‖X_true‖_F/n, so ``noise`` is a noise-to-signal ratio per entry. With noise > 0 the optimum keeps a residual
(the noise off the range of A1 ⊗ A2).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec


@dataclass
class KroneckerData:
    """E06 instance (docs/theory/e06.md §E06.5): two n×d Gaussian factors (entries N(0, 1/n)) whose first ``heavy_rows`` rows (null: d)
    are scaled by ``coherence`` (30 in the paper's check; 1: incoherent), and B = A1 X_true A2ᵀ + noise with
    X_true of rank ``rank`` and noise of ``noise`` times the typical entry of A1 X_true A2ᵀ."""

    kind: str = spec("kronecker", choices=("kronecker",))
    n: int = spec(400, ge=2)
    d: int = spec(4, ge=1)
    coherence: float = spec(30.0, gt=0.0)
    heavy_rows: Optional[int] = spec(None, ge=0)
    rank: int = spec(2, ge=1)
    noise: float = spec(0.1, ge=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.n < node.d:
            raise ConfigError(f"{prefix}.n", f"must be ≥ {prefix}.d = {node.d} (A1, A2 are n×d of full column rank), "
                                             f"got {node.n}")
        if node.rank > node.d:
            raise ConfigError(f"{prefix}.rank", f"must be ≤ {prefix}.d = {node.d} (X_true is d×d), got {node.rank}")
        if node.heavy_rows is not None and node.heavy_rows > node.n:
            raise ConfigError(f"{prefix}.heavy_rows", f"must be ≤ {prefix}.n = {node.n}, got {node.heavy_rows}")
        # B (n×n) and b = vec_r(B), the n² entries of the target
        check_memory(f"{prefix}.n", int(8 * 2 * node.n * node.n))


def coherent_factor(rng: np.random.Generator, n: int, d: int, coherence: float, heavy_rows: Optional[int] = None) -> np.ndarray:
    """An n×d factor with N(0, 1/n) entries and its first ``heavy_rows`` rows (default d) scaled by ``coherence``."""
    A = rng.standard_normal((n, d)) / np.sqrt(n)
    A[: d if heavy_rows is None else int(heavy_rows)] *= float(coherence)
    return A


def synthesize_e06(cfg, seed: int) -> dict[str, np.ndarray]:
    """The instance of docs/theory/e06.md §E06.5 for ``cfg`` (a :class:`KroneckerData` node), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    n, d, r = int(cfg.n), int(cfg.d), int(cfg.rank)
    heavy = getattr(cfg, "heavy_rows", None)
    A1 = coherent_factor(rng, n, d, cfg.coherence, heavy)
    A2 = coherent_factor(rng, n, d, cfg.coherence, heavy)
    X_true = rng.standard_normal((d, r)) @ rng.standard_normal((r, d)) / np.sqrt(r)
    B = A1 @ X_true @ A2.T
    if cfg.noise > 0:
        B = B + (float(cfg.noise) / n) * rng.standard_normal((n, n))
    return {"A1": A1, "A2": A2, "B": B, "x_true": X_true.reshape(-1).copy(),
            "coherence": np.array(float(cfg.coherence))}
