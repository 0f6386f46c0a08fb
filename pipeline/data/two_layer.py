"""E09 instances (docs/theory/e09.md §E09.4): the data of two-layer regression with a softmax first layer.

Every instance is a dict of arrays for :class:`pipeline.problems.TwoLayerRegression`: the input matrix ``C``
(n×d), the fixed second layer ``A`` (m×n), the target ``b`` (m), the regulariser weights ``w`` (n), the
planted point ``x_true`` (d) and the model that made b, ``activation`` and ``reading`` (0-d string arrays).

- ``C``: with ``kappa_C`` null, c_scale·N(0, 1)/√d (a Gaussian matrix, κ(C) ≈ (√n + √d)/(√n − √d));
  with ``kappa_C`` = κ, U diag(σ) Vᵀ with U, V Haar-orthonormal and σ geometric from c_scale·√(n/d) down
  to c_scale·√(n/d)/κ (the largest singular value of the Gaussian case, and κ(C) = κ exactly);
- ``x_true``: a Gaussian direction scaled so that the planted logits have ‖C x_true‖_∞ = ``logit_scale``
  (the softmax's peakedness);
- ``A`` = (N(0, 1) + a_mean)·√n: with a_mean = 1 every pre-activation A u(x) is positive (ReLU is locally
  linear), and the √n makes the data term O(1) although u ≈ 1/n;
- ``b`` = v(x_true) + noise·N(0, 1): v = φ(A u) (``reading: composed``) or A φ(u) (``readout``), so that
  without noise L(x_true) is the regulariser alone and the regularised minimiser x* lies within about
  w²‖C‖²‖x_true‖/λ_min of x_true;
- ``w`` = w·1_n.

The target depends on the model, so the data kind carries ``activation`` and ``reading`` too;
conf/data/two_layer.yaml ties them to the problem's keys (``problem.activation``, ``problem.reading``),
which is also what makes them part of the instance's cache key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec

ACTIVATIONS = ("relu", "identity", "exp")  # kernels/two_layer.py's (the data layer does not import kernels)
READINGS = ("composed", "readout")


@dataclass
class TwoLayerData:
    """E09 planted instance (docs/theory/e09.md §E09.4): n softmax outputs, d parameters, m outputs; C's scale
    and condition number, the planted logit scale ‖Cx_true‖_∞, A's mean, the target's noise, the
    regulariser weight w and the model (activation, reading) that made b."""

    kind: str = spec("two_layer", choices=("two_layer",))
    n: int = spec(256, ge=2)
    d: int = spec(16, ge=1)
    m: int = spec(512, ge=1)
    c_scale: float = spec(1.5, gt=0.0)
    kappa_C: Optional[float] = spec(None, ge=1.0)
    logit_scale: float = spec(3.0, gt=0.0)
    a_mean: float = spec(1.0)
    noise: float = spec(0.0, ge=0.0)
    w: float = spec(1e-3, ge=0.0)
    activation: str = spec("relu", choices=ACTIVATIONS)
    reading: str = spec("composed", choices=READINGS)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.n < node.d:
            raise ConfigError(f"{prefix}.n", f"must be ≥ {prefix}.d = {node.d} (C is n×d of rank d), got {node.n}")
        if node.m < node.d:
            raise ConfigError(f"{prefix}.m", f"must be ≥ {prefix}.d = {node.d} (the Gauss–Newton factor GC is m×d "
                                             f"and its rows are sampled), got {node.m}")
        if node.activation == "exp" and node.reading == "composed" and node.a_mean * math.sqrt(node.n) > 300:
            raise ConfigError(f"{prefix}.a_mean", f"exp(Au) with pre-activations near a_mean·√n = "
                                                  f"{node.a_mean * math.sqrt(node.n):.3g} overflows; lower it")
        # A (m×n), the n×n products of the Hessian and the m×n Gauss–Newton factor
        check_memory(f"{prefix}.n", int(8 * (3 * node.m * node.n + 4 * node.n * node.n)))


def input_matrix(rng: np.random.Generator, n: int, d: int, c_scale: float, kappa: Optional[float]) -> np.ndarray:
    """C: c_scale·N(0, 1)/√d, or U diag(σ)Vᵀ with σ geometric from c_scale√(n/d) to c_scale√(n/d)/κ."""
    if kappa is None:
        return c_scale * rng.standard_normal((n, d)) / math.sqrt(d)
    U, _ = np.linalg.qr(rng.standard_normal((n, d)))
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    sigma = c_scale * math.sqrt(n / d) * np.geomspace(1.0, 1.0 / kappa, d)
    return (U * sigma) @ V.T


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def phi(activation: str, y: np.ndarray) -> np.ndarray:
    """φ(y) entrywise (kernels/two_layer.py's activations)."""
    return {"relu": lambda t: np.maximum(t, 0.0), "identity": lambda t: t, "exp": np.exp}[activation](y)


def output(C: np.ndarray, A: np.ndarray, x: np.ndarray, activation: str, reading: str) -> np.ndarray:
    """v(x): φ(A softmax(Cx)) (composed) or A φ(softmax(Cx)) (readout)."""
    u = softmax(C @ x)
    return phi(activation, A @ u) if reading == "composed" else A @ phi(activation, u)


def synthesize_e09(cfg, seed: int) -> dict[str, np.ndarray]:
    """The planted instance of docs/theory/e09.md §E09.4, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    n, d, m = int(cfg.n), int(cfg.d), int(cfg.m)
    kappa = None if cfg.kappa_C is None else float(cfg.kappa_C)
    C = input_matrix(rng, n, d, float(cfg.c_scale), kappa)
    x0 = rng.standard_normal(d)
    x_true = x0 * (float(cfg.logit_scale) / np.abs(C @ x0).max())
    A = (rng.standard_normal((m, n)) + float(cfg.a_mean)) * math.sqrt(n)
    b = output(C, A, x_true, str(cfg.activation), str(cfg.reading))
    if cfg.noise > 0:
        b = b + float(cfg.noise) * rng.standard_normal(m)
    return {"C": C, "A": A, "b": b, "w": np.full(n, float(cfg.w)), "x_true": x_true,
            "activation": np.array(str(cfg.activation)), "reading": np.array(str(cfg.reading))}
