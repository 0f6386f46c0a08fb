"""E07 instances (docs/theory/e07.md §E07.1, §E07.4): the data of the attention loss L(X) with bounded entries.

Every instance is a dict of arrays for :class:`pipeline.problems.AttentionGradient`: ``A1``, ``A2``, ``A3``
and ``E`` (n×d), ``Y`` (d×d), the scale of the exponential ``scale`` (a 0-d array: d, the paper's 1/d
inside exp, or 1), the bound ``B`` (a 0-d array) and ``x_true`` (d², vec_r of the planted X).
E is the output of the planted X plus noise, E = D(X_true)⁻¹exp(A1X_trueA2ᵀ/scale)A3Y + noise·N(0, 1),
so that L(X_true) = 0 without noise: since L ≥ 0, X_true is then a global minimiser.

Two families (docs/theory/e07.md §E07.4):

- ``benign``: A1, A2 with entries uniform in [−B, B], A3 and Y uniform in [−1, 1], and X_true uniform in
  [−1, 1] rescaled so that ‖A1X_true‖_∞ = B; every logit then lies in [−dB²/scale, dB²/scale];
- ``hard``: the hard-flavoured instances, A1, A2 with entries ±B (signs uniform), X_true = I (so
  A1X_true = A1 has entries ±B), A3 ∈ {0, 1}^{n×d} and Y = I (the values V = A3Y in {0, 1}): each row of
  the logits has about n/2^d entries at the largest value B²d/scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec

#: the instance families (docs/theory/e07.md §E07.4)
FAMILIES = ("benign", "hard")


@dataclass
class BoundedAttentionData:
    """E07 instance (docs/theory/e07.md §E07.4): n×d data with entry bound B (‖A1X_true‖_∞ = B, ‖A2‖_∞ ≤ B), the
    family (``benign``: uniform entries; ``hard``: ±B entries, values in {0, 1}), the scale inside the
    exponential (``d``: exp(A1XA2ᵀ/d), the paper's statement; ``one``: exp(A1XA2ᵀ)) and the noise on E."""

    kind: str = spec("bounded_attention", choices=("bounded_attention",))
    n: int = spec(256, ge=2)
    d: int = spec(2, ge=1)
    B: float = spec(1.0, gt=0.0)
    family: str = spec("benign", choices=FAMILIES)
    scale: str = spec("d", choices=("d", "one"))
    noise: float = spec(0.0, ge=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.n < node.d:
            raise ConfigError(f"{prefix}.n", f"must be ≥ {prefix}.d = {node.d} (A1, A2 are n×d), got {node.n}")
        # the n×n intermediates of the exact gradient (f, q, f∘q, p) and of the reference Hessian
        check_memory(f"{prefix}.n", int(8 * 6 * node.n * node.n))


def scale_value(scale: str, d: int) -> float:
    """The divisor inside the exponential: d (``scale: d``) or 1 (``scale: one``)."""
    return float(d) if scale == "d" else 1.0


def row_softmax(U: np.ndarray) -> np.ndarray:
    """Stable softmax of every row."""
    E = np.exp(U - U.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def synthesize_e07(cfg, seed: int) -> dict[str, np.ndarray]:
    """The planted instance of docs/theory/e07.md §E07.4 (family ``cfg.family``), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    n, d, B = int(cfg.n), int(cfg.d), float(cfg.B)
    scale = scale_value(str(cfg.scale), d)
    if cfg.family == "hard":
        A1 = B * rng.choice([-1.0, 1.0], size=(n, d))
        A2 = B * rng.choice([-1.0, 1.0], size=(n, d))
        A3 = rng.integers(0, 2, size=(n, d)).astype(np.float64)
        X_true, Y = np.eye(d), np.eye(d)
    else:
        A1 = rng.uniform(-B, B, (n, d))
        A2 = rng.uniform(-B, B, (n, d))
        A3 = rng.uniform(-1.0, 1.0, (n, d))
        Y = rng.uniform(-1.0, 1.0, (d, d))
        X0 = rng.uniform(-1.0, 1.0, (d, d))
        X_true = X0 * (B / np.abs(A1 @ X0).max())
    E = row_softmax(A1 @ X_true @ A2.T / scale) @ A3 @ Y
    if cfg.noise > 0:
        E = E + float(cfg.noise) * rng.standard_normal((n, d))
    return {"A1": A1, "A2": A2, "A3": A3, "E": E, "Y": Y, "scale": np.array(scale), "B": np.array(B),
            "x_true": X_true.reshape(-1).copy()}
