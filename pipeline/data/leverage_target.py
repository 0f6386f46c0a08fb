"""E02 instances (docs/theory/e02.md §E02.4): a target distribution of leverage scores to invert.

Every instance is a dict of arrays for :class:`pipeline.problems.LeverageInversion`: ``A`` (n×d), ``b`` (n),
the target ``sigma`` (n, in [0, 1], summing to d), the weights ``w`` of the regulariser ½‖diag(w)Ax‖²
(n), the planted point ``x_true`` (d), its residual ``s_true`` = Ax_true − b (n, whose signs fix the cell
between the poles s_i = 0 that the problem lives in) and the 0-d arrays ``kappa_A`` (the condition number of
A as built) and ``s_abs_min`` (min_i |s_true,i|).

The construction (§E02.4):

- A ~ N(0, 1)^{n×d}; with ``kappa`` set, its singular values are replaced by a geometric sequence from its
  largest one down to the largest over κ (same singular vectors), so that κ(A) = ``kappa``;
- x_true ~ N(0, I_d); s_true,i = ±U[s_min, s_max] (random signs), which keeps |s| away from the poles;
  with ``pole_rows`` = k > 0 the first k rows are moved to |s_true,i| = pole_s·geomspace(1, 1.5, k) (the same
  draws otherwise): a few rows near their poles while the bulk of |s| stays where it was;
- b = Ax_true − s_true, so that s(x_true) = s_true;
- σ = σ_*(x_true) (realisable, ``noise`` = 0), or σ_*(x_true) + noise·(d/n)·N(0, 1) clipped to [0, 1] and
  rescaled to sum d (a target that no x may reach: the optimum then has a nonzero residual);
- w = ``w``·1_n (0: no regulariser).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec


@dataclass
class LeverageTargetData:
    """E02 instance (docs/theory/e02.md §E02.4): A (n×d, Gaussian, or with condition number ``kappa``), the planted
    residual |s_true,i| ~ U[s_min, s_max] with random signs, the target σ = σ_*(x_true) plus ``noise`` (in units of
    the mean score d/n; clipped and rescaled to sum d) and the regulariser's weight ``w`` (w_i = w)."""

    kind: str = spec("leverage_target", choices=("leverage_target",))
    n: int = spec(60, ge=2)
    d: int = spec(5, ge=1)
    s_min: float = spec(1.0, gt=0.0)
    s_max: float = spec(3.0, gt=0.0)
    #: κ(A); null keeps the Gaussian draw as it is
    kappa: Optional[float] = spec(None, ge=1.0)
    #: rows moved near their poles: |s_true,i| = pole_s·geomspace(1, 1.5, pole_rows) for the first pole_rows rows
    pole_rows: int = spec(0, ge=0)
    pole_s: float = spec(0.1, gt=0.0)
    noise: float = spec(0.0, ge=0.0)
    w: float = spec(0.0, ge=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.n <= node.d:
            raise ConfigError(f"{prefix}.n", f"must be > {prefix}.d = {node.d} (with n = d every score is 1), got {node.n}")
        if node.s_max < node.s_min:
            raise ConfigError(f"{prefix}.s_max", f"must be ≥ {prefix}.s_min = {node.s_min}, got {node.s_max}")
        if node.pole_rows > node.n:
            raise ConfigError(f"{prefix}.pole_rows", f"must be ≤ {prefix}.n = {node.n}, got {node.pole_rows}")
        # the n×n projector P, Λ and the curvature's middle matrix (several of them at once)
        check_memory(f"{prefix}.n", int(8 * 8 * node.n * node.n))


def leverage_scores(M: np.ndarray) -> np.ndarray:
    """τ_i = ‖Q_{i,*}‖² from the thin QR of M (full column rank)."""
    Q = np.linalg.qr(M, mode="reduced")[0]
    return (Q * Q).sum(axis=1)


def conditioned(A: np.ndarray, kappa: Optional[float]) -> np.ndarray:
    """A with its singular values replaced by σ_1(A)·geomspace(1, 1/κ, d) (the same singular vectors); A itself
    for κ = None."""
    if kappa is None:
        return A
    U, sv, Vt = np.linalg.svd(A, full_matrices=False)
    return (U * (sv[0] * np.geomspace(1.0, 1.0 / float(kappa), len(sv)))) @ Vt


def noisy_target(sigma: np.ndarray, noise: float, d: int, rng: np.random.Generator) -> np.ndarray:
    """σ + noise·(d/n)·N(0, 1), clipped to [0, 1] and rescaled to sum d (clipping and rescaling repeated until both
    hold: a realisable-looking target, Σσ = d and 0 ≤ σ ≤ 1, that no x reaches)."""
    n = len(sigma)
    t = np.clip(sigma + noise * (d / n) * rng.standard_normal(n), 0.0, 1.0)
    for _ in range(100):
        t = np.clip(t * (d / t.sum()), 0.0, 1.0)
        if abs(t.sum() - d) <= 1e-12 * d:
            break
    return t


def synthesize_e02(cfg, seed: int) -> dict[str, np.ndarray]:
    """The planted instance of docs/theory/e02.md §E02.4, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    n, d = int(cfg.n), int(cfg.d)
    kappa = None if cfg.get("kappa") is None else float(cfg.kappa)
    A = conditioned(rng.standard_normal((n, d)), kappa)
    x_true = rng.standard_normal(d)
    signs = rng.choice([-1.0, 1.0], size=n)
    size = rng.uniform(float(cfg.s_min), float(cfg.s_max), n)
    k = int(cfg.get("pole_rows", 0))
    if k > 0:
        size[:k] = float(cfg.pole_s) * np.geomspace(1.0, 1.5, k)
    s_true = signs * size
    b = A @ x_true - s_true
    sigma = leverage_scores(A / s_true[:, None])
    if float(cfg.noise) > 0:
        sigma = noisy_target(sigma, float(cfg.noise), d, rng)
    sv = np.linalg.svd(A, compute_uv=False)
    return {"A": A, "b": b, "sigma": sigma, "w": np.full(n, float(cfg.w)), "x_true": x_true, "s_true": s_true,
            "kappa_A": np.array(sv[0] / sv[-1]), "s_abs_min": np.array(np.abs(s_true).min())}
