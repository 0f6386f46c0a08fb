"""E05 instances (docs/theory/e05.md §E05.5): k-input modular addition over ℤ_p and the network's start point.

The data set is the whole of D_p = ℤ_p^k with labels (a_1 + … + a_k) mod p, so nothing about it is drawn;
what an instance holds is the random start θ(0) of the network of width m, entries init_scale·N(0, 1), drawn
from the seed, and the sizes:

- ``theta0``: (m, k+1, p); row j < k of neuron i is u_{i,j+1}, row k is w_i (kernels/modular.py's layout);
- ``p``, ``k``: 0-d integer arrays.

``m`` null means the width 2^{2k−2}(p−1) of the paper's theorem (the smallest width at which the maximum
normalised margin is γ*). ``p`` must be an odd prime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec


def odd_prime(p: int) -> bool:
    """Whether p is an odd prime (kernels/modular.py's ``is_odd_prime``; the data layer does not import kernels)."""
    return p > 2 and p % 2 == 1 and all(p % q for q in range(3, math.isqrt(p) + 1, 2))


def width(p: int, k: int, m: Optional[int]) -> int:
    """m, or 2^{2k−2}(p−1) when m is null (Thm 4.1's width)."""
    return 2 ** (2 * k - 2) * (p - 1) if m is None else int(m)


@dataclass
class ModularData:
    """E05 instance (docs/theory/e05.md §E05.5): the modulus p (an odd prime), the number of inputs k, the
    width m (null: 2^{2k−2}(p−1)) and the scale of the random start θ(0) (entries init_scale·N(0, 1))."""

    kind: str = spec("modular", choices=("modular",))
    p: int = spec(11, ge=3)
    k: int = spec(3, ge=2, le=8)
    m: Optional[int] = spec(None, ge=1)
    init_scale: float = spec(0.1, gt=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if not odd_prime(int(node.p)):
            raise ConfigError(f"{prefix}.p", f"must be an odd prime (the modulus of k-input modular addition), "
                                             f"got {node.p}")
        m = width(int(node.p), int(node.k), node.m)
        # the hidden layer and its adjoint on one block of p^{k−1} inputs (the least the problem can use, with
        # problem.chunk; by default it takes all p^k at once and checks that itself), float64
        check_memory(f"{prefix}.k", int(8 * 4 * m * int(node.p) ** (int(node.k) - 1)))


def synthesize_e05(cfg: DictConfig, seed: int) -> dict[str, np.ndarray]:
    """θ(0) ~ init_scale·N(0, 1) of shape (m, k+1, p), drawn from ``seed``, with p and k."""
    p, k = int(cfg.p), int(cfg.k)
    if not odd_prime(p):
        raise ConfigError("data.p", f"must be an odd prime, got {p}")
    m = width(p, k, cfg.m)
    rng = np.random.default_rng(seed)
    theta0 = float(cfg.init_scale) * rng.standard_normal((m, k + 1, p))
    return {"theta0": theta0, "p": np.array(p), "k": np.array(k)}
