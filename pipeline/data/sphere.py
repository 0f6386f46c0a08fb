"""E01 instances (docs/theory/e01.md §E01.5): regression data on the unit sphere and the initialisation of a
two-layer softmax network.

Every instance is a dict of arrays for :class:`pipeline.problems.SoftmaxNetwork`:

- ``X`` (n×d): inputs uniform on S^{d−1} (normalised Gaussians); with ``duplicates`` = k > 0 the last k
  inputs are near copies of the first k, x_{n−k+j} = (x_j + gap·ξ_j)/‖·‖ with ξ_j a unit direction and
  gap = ``duplicate_gap`` (the angle between the pair is about gap): nearly parallel inputs shrink
  λ_min of the limit kernel (about gap², docs/theory/e01.md §E01.2), which is the knob that varies the
  conditioning of the NTK without touching the width;
- ``Y`` (n×d): the targets y_i = tanh(G x_i) with G (d×d, also stored as ``G``) of N(0, target_scale²)
  entries, so every |y_il| < 1 (bounded labels);
- ``W0`` (d×m): the initial weights W(0), N(0, σ²) entries (σ = ``sigma``), and ``a`` (d×m): the fixed
  output signs, i.i.d. ±1; ``sigma`` (0-d array) is stored for the limit kernel.

The data (X, G, Y) and the initialisation (W0, a) come from two streams of the seed, so that every width m
of one seed sees the same data. The dimension d is both the input and the output dimension (the paper's
x_i, y_i ∈ ℝ^d).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec


@dataclass
class SphereData:
    """E01 instance (docs/theory/e01.md §E01.5): n inputs on S^{d−1} (the last ``duplicates`` of them near
    copies of the first, at angle ``duplicate_gap``), targets tanh(Gx) with G of N(0, target_scale²)
    entries, and a width-m initialisation W(0) ~ N(0, σ²) with output signs a ∈ {±1}^{d×m}."""

    kind: str = spec("sphere_regression", choices=("sphere_regression",))
    n: int = spec(32, ge=2)
    d: int = spec(4, ge=2)
    m: int = spec(1024, ge=1)
    sigma: float = spec(1.0, gt=0.0)
    target_scale: float = spec(1.0, gt=0.0)
    duplicates: int = spec(0, ge=0)
    duplicate_gap: float = spec(0.05, gt=0.0, le=1.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if 2 * node.duplicates > node.n:
            raise ConfigError(f"{prefix}.duplicates", f"must be ≤ {prefix}.n/2 = {node.n // 2} (each near copy "
                                                      f"duplicates one of the first inputs), got {node.duplicates}")
        # W0 and a (d×m), the n×m softmax features and their gradient
        check_memory(f"{prefix}.m", int(8 * (2 * node.d * node.m + 4 * node.n * node.m)))


def sphere_points(rng: np.random.Generator, n: int, d: int, duplicates: int = 0, gap: float = 0.05) -> np.ndarray:
    """n points uniform on S^{d−1}; the last ``duplicates`` are near copies (angle ≈ gap) of the first."""
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    k = int(duplicates)
    if k:
        xi = rng.standard_normal((k, d))
        xi -= (xi * X[:k]).sum(1, keepdims=True) * X[:k]  # orthogonal to the copied point: the angle is atan(gap)
        xi /= np.linalg.norm(xi, axis=1, keepdims=True)
        Z = X[:k] + gap * xi
        X[n - k:] = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    return X


def tanh_targets(rng: np.random.Generator, X: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(G, Y): G (d×d) with N(0, scale²) entries and y_i = tanh(G x_i)."""
    d = X.shape[1]
    G = scale * rng.standard_normal((d, d))
    return G, np.tanh(X @ G.T)


def initial_weights(rng: np.random.Generator, d: int, m: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(W0, a): W(0) (d×m) with N(0, σ²) entries and the output signs a (d×m), i.i.d. ±1."""
    W0 = sigma * rng.standard_normal((d, m))
    a = np.where(rng.random((d, m)) < 0.5, -1.0, 1.0)
    return W0, a


def synthesize_e01(cfg: DictConfig, seed: int) -> dict[str, np.ndarray]:
    """The instance of docs/theory/e01.md §E01.5 for ``cfg`` (a :class:`SphereData` node): the data from the
    stream (seed, 0), the initialisation from the stream (seed, 1)."""
    data, init = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    X = sphere_points(data, int(cfg.n), int(cfg.d), int(cfg.duplicates), float(cfg.duplicate_gap))
    G, Y = tanh_targets(data, X, float(cfg.target_scale))
    W0, a = initial_weights(init, int(cfg.d), int(cfg.m), float(cfg.sigma))
    return {"X": X, "Y": Y, "G": G, "W0": W0, "a": a, "sigma": np.array(float(cfg.sigma))}
