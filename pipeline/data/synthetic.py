"""P1 instance synthesis (docs/theory/p1.md §P1.6).

A = U diag(s) Vᵀ with orthonormal U (n×d) and orthogonal V (d×d); singular values
s from ‖A‖ = R down to R/κ; optional heavy rows; a target b that is planted,
random in the simplex, or adversarial ±e_k; and uniform weights from the PD rule
w_i² = C_w + l/σ_min(A)² (assumption A3). ``regime: softmax`` rescales x_true to a logit spread and
lowers the weights to w² = w2_n2/n² (:mod:`pipeline.data.regime`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec
from pipeline.data.matrix import singular_values as _singular_values
from pipeline.data.regime import REGIMES, softmax_w2, spread_scale


@dataclass
class SyntheticData:
    """P1 instance generator (docs/theory/p1.md §P1.6): A = U diag(s) Vᵀ, target b, PD weights w."""

    kind: str = spec("synthetic", choices=("synthetic",))
    n: int = spec(200, ge=2)
    d: int = spec(10, ge=1)
    #: the first ``rank`` singular values follow ``spectrum``, the rest sit at R/kappa (null: all d)
    rank: Optional[int] = spec(None, ge=1)
    kappa: float = spec(10.0, ge=1.0)             # κ(A) = σ_max/σ_min
    R: float = spec(1.0, gt=0.0)                  # ‖A‖
    spectrum: str = spec("geometric", choices=("geometric", "step"))
    #: set (0 < density ≤ 1) for a sparse A with about density·n·d nonzeros, ‖A‖ = R
    density: Optional[float] = spec(None, gt=0.0, le=1.0)
    heavy_fraction: float = spec(0.0, ge=0.0, lt=1.0)   # fraction of rows multiplied by heavy_scale
    heavy_scale: float = spec(30.0, gt=0.0)
    #: planted: softmax(A x_true) | simplex: Dirichlet(1) | adversarial: ±e_k
    b: str = spec("planted", choices=("planted", "simplex", "adversarial"))
    x_true_norm: float = spec(1.0, ge=0.0)
    noise: float = spec(0.0, ge=0.0, le=1.0)     # b <- (1 - noise) b + noise · Dirichlet(1)
    adversarial_sign: int = spec(1, choices=(1, -1))
    C_w: float = spec(0.25, ge=0.0)               # PD rule w_i² = C_w + l/σ_min(A)² (A3); tight C_w ≥ 0.2405
    l: float = spec(1.0, ge=0.0)
    #: regulariser: the PD rule above (docs/theory/' instance) | softmax: x_true rescaled to a logit
    #: spread of ``spread`` and w_i² = w2_n2/n², so that the softmax term shapes ∇²L(x*) (pipeline/data/regime.py)
    regime: str = spec("regulariser", choices=REGIMES)
    spread: float = spec(6.0, gt=0.0)             # softmax regime: max − min of A x_true (planted b)
    w2_n2: float = spec(1.0, gt=0.0)              # softmax regime: w_i² = w2_n2 / n²
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.n < node.d:
            raise ConfigError(f"{prefix}.n", f"must be ≥ {prefix}.d = {node.d} (A is n×d with n ≥ d), got {node.n}")
        if node.rank is not None and node.rank > node.d:
            raise ConfigError(f"{prefix}.rank", f"must be ≤ {prefix}.d = {node.d}, got {node.rank}")
        fill = 1.0 if node.density is None else min(1.0, 2.0 * node.density)
        check_memory(f"{prefix}.n", int(8 * node.n * node.d * 4 * fill))


def singular_values(d: int, kappa: float, R: float, rank: int | None, profile: str) -> np.ndarray:
    """Singular spectrum: the first ``rank`` values follow ``profile`` from R, the rest sit at R/κ.

    geometric: s_1..s_r geometric from R to R/κ; step: s_1..s_r = R.
    """
    r = d if rank is None else rank
    s = np.full(d, R / kappa)
    if profile == "geometric":
        s[:r] = np.geomspace(R, R / kappa, r) if r > 1 else R
    elif profile == "step":
        s[:r] = R
    else:
        raise ValueError(f"unknown spectrum profile {profile!r}")
    return s


def softmax_np(u: np.ndarray) -> np.ndarray:
    e = np.exp(u - u.max())
    return e / e.sum()


def pd_weights(A, C_w: float, l: float) -> np.ndarray:
    """w_i = sqrt(C_w + l/σ_min(A)²) for every row (docs/theory/p1.md §P1.3, A3)."""
    smin = _singular_values(A)[-1]
    w2 = C_w + (l / smin**2 if l > 0 else 0.0)
    return np.full(A.shape[0], np.sqrt(w2))


def sparse_matrix(n: int, d: int, density: float, R: float, rng: np.random.Generator) -> sp.csr_matrix:
    """A random sparse n×d matrix with about density·n·d Gaussian nonzeros (at least one per column,
    on the leading diagonal block), rescaled so that ‖A‖ = R."""
    k = max(1, int(round(density * n * d)))
    flat = np.unique(rng.integers(0, n * d, size=k))
    rows, cols = np.divmod(flat, d)
    rows = np.concatenate([rows, np.arange(d)])
    cols = np.concatenate([cols, np.arange(d)])
    A = sp.csr_matrix((rng.standard_normal(rows.size), (rows, cols)), shape=(n, d))
    A.sum_duplicates()
    return A * (R / _singular_values(A)[0])


def synthesize_p1(cfg, seed: int) -> dict[str, np.ndarray]:
    """Build (A, b, w, x_true) from a ``data`` config (:class:`SyntheticData`).

    With ``density`` set, A is sparse (scipy CSR) with ‖A‖ = R and its conditioning as it comes;
    otherwise A = U diag(s) Vᵀ with the requested spectrum. ``regime: softmax``: x_true rescaled so that
    max − min of A x_true is ``spread``, and w_i² = w2_n2/n² in place of the PD rule.
    """
    rng = np.random.default_rng(seed)
    n, d = int(cfg.n), int(cfg.d)
    if cfg.get("density") is not None:
        A = sparse_matrix(n, d, float(cfg.density), float(cfg.R), rng)
    else:
        U, _ = np.linalg.qr(rng.standard_normal((n, d)))
        V, _ = np.linalg.qr(rng.standard_normal((d, d)))
        s = singular_values(d, float(cfg.kappa), float(cfg.R), cfg.rank, str(cfg.spectrum))
        A = (U * s) @ V.T
    if cfg.heavy_fraction > 0:
        k = max(1, int(round(cfg.heavy_fraction * n)))
        heavy = rng.choice(n, size=k, replace=False)
        if sp.issparse(A):
            scale = np.ones(n)
            scale[heavy] = cfg.heavy_scale
            A = sp.csr_matrix(sp.diags(scale) @ A)
        else:
            A[heavy] *= cfg.heavy_scale
    x_true = rng.standard_normal(d)
    x_true *= cfg.x_true_norm / np.linalg.norm(x_true)
    softmax_regime = cfg.get("regime", "regulariser") == "softmax"
    if softmax_regime:
        x_true = x_true * spread_scale(A @ x_true, float(cfg.spread))
    if cfg.b == "planted":
        b = softmax_np(A @ x_true)
    elif cfg.b == "simplex":
        b = rng.dirichlet(np.ones(n))
    else:
        b = np.zeros(n)
        b[rng.integers(n)] = float(cfg.adversarial_sign)
    if cfg.noise > 0 and cfg.b != "adversarial":
        b = (1.0 - cfg.noise) * b + cfg.noise * rng.dirichlet(np.ones(n))
    if softmax_regime:
        w = np.full(n, np.sqrt(softmax_w2(n, float(cfg.w2_n2))))
    else:
        w = pd_weights(A, float(cfg.C_w), float(cfg.l))
    return {"A": A, "b": b, "w": w, "x_true": x_true}
