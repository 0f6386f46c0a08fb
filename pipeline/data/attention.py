"""P3 instances (docs/theory/p3.md §P3.1, P3.6): a planted attention regression, or (A1, A2, A3, B) from a file.

Every instance is a dict of arrays for :class:`pipeline.problems.AttentionRegression`:
``A1``, ``A2``, ``A3`` and ``B`` (n×d), the regulariser weights ``w`` (n×n, w[j0, p] = w_{j0,p}
of docs/theory/p3.md §P3.1), the ridge ``lam_y`` (a 0-d array) and ``x_true`` (2d²: vec_r(X_true) then
vec_r(Y_true), NaN when unknown, as for a file).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from omegaconf import MISSING, DictConfig

from pipeline.core.errors import ConfigError, DataError
from pipeline.core.spec import check_memory, spec
from pipeline.data.io import SOLUTIONS, check_real_finite, open_npz, require
from pipeline.data.regime import REGIMES, spread_scale

@dataclass
class AttentionData:
    """P3 planted instance (docs/theory/p3.md §P3.6): A_i = N(0, 1)/√d (n×d), X_true and Y_true with entries
    uniform in [-x_scale, x_scale] and [-y_scale, y_scale], B = S(X_true)A3Y_true + noise·N(0, 1);
    regulariser weights w_{j0,p}² = ``w2`` and ridge ``lam_y`` (docs/theory/p3.md §P3.1)."""

    kind: str = spec("attention", choices=("attention",))
    n: int = spec(16, ge=2)
    d: int = spec(3, ge=1)
    x_scale: float = spec(1.0, ge=0.0)
    y_scale: float = spec(1.0, ge=0.0)
    noise: float = spec(0.0, ge=0.0)
    w2: float = spec(1e-3, ge=0.0)
    lam_y: float = spec(1e-3, ge=0.0)
    shared_inputs: bool = False   # self-attention: A1 = A2 = A3
    #: regulariser: X_true as drawn (docs/theory/p3.md §P3.6) | softmax: X_true rescaled so that the mean over rows of
    #: max − min of the planted scores A1 X_true A2ᵀ is ``spread`` (pipeline/data/regime.py); w2 as given
    regime: str = spec("regulariser", choices=REGIMES)
    spread: float = spec(6.0, gt=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.n < node.d:
            raise ConfigError(f"{prefix}.n", f"must be ≥ {prefix}.d = {node.d} (A_i are n×d of full column rank, "
                                             f"docs/theory/p3.md §P3.3), got {node.n}")
        # the n×n×d² intermediates of the x-Hessian and the d²×d² Hessian itself
        check_memory(f"{prefix}.n", int(8 * (4 * node.n * node.n * node.d ** 2 + 4 * node.d ** 4)))


@dataclass
class AttentionFileData:
    """A P3 instance from an ``.npz`` file with arrays A1, A2, A3, B (n×d) and optionally w (n×n);
    without w the weights are w² = ``w2``; the ridge is ``lam_y``."""

    kind: str = spec("attention_file", choices=("attention_file",))
    path: str = MISSING
    w2: float = spec(1e-3, ge=0.0)
    lam_y: float = spec(1e-3, ge=0.0)
    cache: bool = True


#: Arrays an attention instance file must hold (each n×d, n ≥ d).
REQUIRED = ("A1", "A2", "A3", "B")


def row_softmax(U: np.ndarray) -> np.ndarray:
    """Stable softmax of every row."""
    E = np.exp(U - U.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def weights(n: int, w2: float) -> np.ndarray:
    """The n×n regulariser weights with w_{j0,p}² = w2 for every entry."""
    return np.full((n, n), np.sqrt(w2))


def synthesize_p3(cfg, seed: int) -> dict[str, np.ndarray]:
    """Planted instance of docs/theory/p3.md §P3.6: A_i = N(0, 1)/√d, X_true and Y_true with entries uniform in
    [-x_scale, x_scale] and [-y_scale, y_scale], B = S(X_true) A3 Y_true + noise·N(0, 1).

    ``shared_inputs``: self-attention, A1 = A2 = A3 (the layer input, docs/theory/p3.md §P3.1).
    ``regime: softmax``: X_true rescaled so that the planted score rows spread over ``spread`` units.
    """
    rng = np.random.default_rng(seed)
    n, d = int(cfg.n), int(cfg.d)
    if cfg.shared_inputs:
        A1 = rng.standard_normal((n, d)) / np.sqrt(d)
        A2 = A3 = A1
    else:
        A1, A2, A3 = (rng.standard_normal((n, d)) / np.sqrt(d) for _ in range(3))
    X_true = float(cfg.x_scale) * rng.uniform(-1.0, 1.0, (d, d))
    Y_true = float(cfg.y_scale) * rng.uniform(-1.0, 1.0, (d, d))
    if cfg.get("regime", "regulariser") == "softmax":
        X_true = X_true * spread_scale(A1 @ X_true @ A2.T, float(cfg.spread))
    B = row_softmax(A1 @ X_true @ A2.T) @ A3 @ Y_true
    if cfg.noise > 0:
        B = B + float(cfg.noise) * rng.standard_normal((n, d))
    return {"A1": A1, "A2": A2.copy(), "A3": A3.copy(), "B": B, "w": weights(n, float(cfg.w2)),
            "lam_y": np.array(float(cfg.lam_y)), "x_true": np.concatenate([X_true.ravel(), Y_true.ravel()])}


def load_attention(cfg, key_prefix: str = "data.path") -> dict[str, np.ndarray]:
    """Load A1, A2, A3, B (and optionally w, n×n) from ``cfg.path``; the ridge is ``cfg.lam_y`` and,
    without a ``w`` array, the weights are w² = ``cfg.w2``. Raise DataError naming the field at fault."""
    with open_npz(cfg.path, key_prefix) as z:
        require(z, REQUIRED, key_prefix, cfg.path, optional=("w", *SOLUTIONS))
        arrays = {k: z[k] for k in (*REQUIRED, *(("w",) if "w" in z.files else ()))}
    check_attention(arrays, key_prefix)
    out = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    n, d = out["A1"].shape
    out.setdefault("w", weights(n, float(cfg.w2)))
    out["lam_y"] = np.array(float(cfg.lam_y))
    out["x_true"] = np.full(2 * d * d, np.nan)
    return out


def check_attention(arrays: dict[str, np.ndarray], key_prefix: str = "data") -> None:
    """Dtypes, finiteness and shapes: A1, A2, A3, B all n×d with n ≥ d; w (if given) n×n."""
    check_real_finite(arrays, key_prefix)
    A1 = arrays["A1"]
    if A1.ndim != 2:
        raise DataError(f"{key_prefix}:A1", f"must be 2-D (n×d), got shape {A1.shape}")
    n, d = A1.shape
    if n < d:
        raise DataError(f"{key_prefix}:A1", f"needs n ≥ d (full column rank, docs/theory/p3.md §P3.3), got shape {A1.shape}")
    for k in REQUIRED[1:]:
        if arrays[k].shape != (n, d):
            raise DataError(f"{key_prefix}:{k}", f"must have shape {(n, d)} to match A1, got {arrays[k].shape}")
    if "w" in arrays and arrays["w"].shape != (n, n):
        raise DataError(f"{key_prefix}:w", f"must have shape {(n, n)} (w_(j0,p), docs/theory/p3.md §P3.1), got {arrays['w'].shape}")
