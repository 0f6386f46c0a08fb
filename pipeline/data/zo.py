"""P2 instance synthesis (docs/theory/p2.md §P2.6): low-rank A with fast and slow modes, and finite-sum datasets.

Every generator returns arrays for :class:`pipeline.problems.ZOSoftmax`:
``A`` (m×N×d), ``b`` (m×N), ``w`` (m×N), ``centre`` (d; zero for P1's
regulariser) and ``x_true`` (d).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec
from pipeline.data.regime import REGIMES, softmax_w2, spread_scale
from pipeline.data.synthetic import softmax_np


@dataclass
class LowRankData:
    """P2 low-rank instance (docs/theory/p2.md §P2.6, E2): A = U diag(√λ) Vᵀ with ``fast`` unit modes and ``slow``
    modes at 1/kappa, N = ``rows`` rows, ambient dimension d; b = softmax(A x_true); w² = ``w2``."""

    kind: str = spec("lowrank", choices=("lowrank",))
    rows: int = spec(400, ge=2)
    d: int = spec(100, ge=1)
    fast: int = spec(8, ge=1)
    slow: int = spec(8, ge=0)
    kappa: float = spec(40.0, ge=1.0)
    w2: float = spec(20.0, gt=0.0)
    x_true_norm: float = spec(1.0, ge=0.0)
    #: regulariser: w² = ``w2`` (∇²L(x*) ≈ w²AᵀA) | softmax: x_true rescaled so that max − min of A x_true
    #: is ``spread`` and w² = w2_n2/rows² (pipeline/data/regime.py)
    regime: str = spec("regulariser", choices=REGIMES)
    spread: float = spec(6.0, gt=0.0)
    w2_n2: float = spec(1.0, gt=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        k = node.fast + node.slow
        if k > node.d:
            raise ConfigError(f"{prefix}.fast", f"fast + slow = {k} modes must be ≤ {prefix}.d = {node.d}")
        if k > node.rows:
            raise ConfigError(f"{prefix}.rows", f"must be ≥ fast + slow = {k}, got {node.rows}")
        check_memory(f"{prefix}.d", int(8 * node.rows * node.d * 4 + 8 * node.d * node.d * 4))


@dataclass
class FiniteSumData:
    """P2 finite-sum dataset (docs/theory/p2.md §P2.6, B-sweep): m instances A_k = (G_0 + h G_k)/√N of N = ``rows``
    rows; ``centred`` regulariser ½w²‖A_k(x - x_true)‖² (interpolation, B4 holds); ``realizable:
    false`` is the control with one shared A and b_k = softmax(A(x_true + noise·ξ_k))."""

    kind: str = spec("finite_sum", choices=("finite_sum",))
    m: int = spec(100, ge=1)
    rows: int = spec(12, ge=2)
    d: int = spec(10, ge=1)
    heterogeneity: float = spec(1.0, ge=0.0)
    w2: float = spec(1.0, gt=0.0)
    centred: bool = True
    realizable: bool = True
    noise: float = spec(0.3, ge=0.0)
    x_true_norm: float = spec(1.0, ge=0.0)
    #: regulariser: w² = ``w2`` | softmax: x_true (and the control's targets) rescaled so that the mean over
    #: instances of max − min of A_k x_true is ``spread``, and w² = w2_n2/rows² (pipeline/data/regime.py)
    regime: str = spec("regulariser", choices=REGIMES)
    spread: float = spec(6.0, gt=0.0)
    w2_n2: float = spec(1.0, gt=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        check_memory(f"{prefix}.m", int(8 * node.m * node.rows * node.d * 3 + 8 * node.m * node.d * node.d * 3))


def orthonormal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A rows×cols matrix with orthonormal columns (QR of a Gaussian matrix)."""
    Q, R = np.linalg.qr(rng.standard_normal((rows, cols)))
    return Q * np.sign(np.diag(R))


def unit(rng: np.random.Generator, d: int, norm: float = 1.0) -> np.ndarray:
    v = rng.standard_normal(d)
    return norm * v / np.linalg.norm(v)


def lowrank(cfg, seed: int) -> dict[str, np.ndarray]:
    """E2 construction: A = U diag(√λ) Vᵀ with λ = (1 × fast, 1/kappa × slow), U (rows×k), V (d×k).

    With w² large the Hessian at x* is w²AᵀA up to ‖B‖ ≤ 0.31, so r ≈ fast + slow/kappa and
    κ ≈ kappa on range(V), while d moves freely (docs/theory/p2.md §P2.6). b = softmax(A x_true), ‖x_true‖ = 1.
    """
    rng = np.random.default_rng(seed)
    N, d, fast, slow = int(cfg.rows), int(cfg.d), int(cfg.fast), int(cfg.slow)
    k = fast + slow
    lam = np.concatenate([np.ones(fast), np.full(slow, 1.0 / float(cfg.kappa))])
    U, V = orthonormal(rng, N, k), orthonormal(rng, d, k)
    A = (U * np.sqrt(lam)) @ V.T
    x_true = unit(rng, d, float(cfg.x_true_norm))
    w2 = float(cfg.w2)
    if cfg.get("regime", "regulariser") == "softmax":
        x_true = x_true * spread_scale(A @ x_true, float(cfg.spread))
        w2 = softmax_w2(N, float(cfg.w2_n2))
    b = softmax_np(A @ x_true)
    w = np.full(N, np.sqrt(w2))
    return {"A": A[None], "b": b[None], "w": w[None], "centre": np.zeros(d), "x_true": x_true}


def finite_sum(cfg, seed: int) -> dict[str, np.ndarray]:
    """B-sweep construction (docs/theory/p2.md §P2.6): A_k = (G_0 + h G_k)/√N, b_k = softmax(A_k x_true).

    ``centred``: the regulariser ½w²‖A_k(x - x_true)‖², so every L_k is minimised at x_true with
    value 0 (interpolation; assumption B4 holds). ``realizable: false`` is the control of theory
    P2.6: one shared A and b_k = softmax(A(x_true + noise·ξ_k)), so no point fits every instance.
    """
    rng = np.random.default_rng(seed)
    m, N, d, h = int(cfg.m), int(cfg.rows), int(cfg.d), float(cfg.heterogeneity)
    x_true = unit(rng, d, float(cfg.x_true_norm))
    G0 = rng.standard_normal((N, d))
    softmax_regime = cfg.get("regime", "regulariser") == "softmax"
    if cfg.realizable:
        A = (G0[None] + h * rng.standard_normal((m, N, d))) / np.sqrt(N)
        if softmax_regime:
            x_true = x_true * spread_scale(A @ x_true, float(cfg.spread))
        b = np.stack([softmax_np(Ak @ x_true) for Ak in A])
    else:
        A = np.repeat((G0 / np.sqrt(N))[None], m, axis=0)
        xs = x_true[None] + float(cfg.noise) * rng.standard_normal((m, d))
        if softmax_regime:
            c = spread_scale(A @ x_true, float(cfg.spread))
            x_true, xs = x_true * c, xs * c
        b = np.stack([softmax_np(A[0] @ xk) for xk in xs])
    w2 = softmax_w2(N, float(cfg.w2_n2)) if softmax_regime else float(cfg.w2)
    w = np.full((m, N), np.sqrt(w2))
    centre = x_true.copy() if cfg.centred else np.zeros(d)
    return {"A": A, "b": b, "w": w, "centre": centre, "x_true": x_true}

