"""Sizes of P1's checks (C1.1–C1.10). The defaults are the sizes of docs/theory/p1.md §P1.6 (the ``full``
profile); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    gradient_points: int = spec(20, ge=1)                       # C1.1, C1.2: random points
    bound_ns: List[int] = spec([2, 3, 5, 10, 20])               # C1.3: lengths n of f and b
    bound_restarts: int = spec(15, ge=1)                        # C1.3: restarts of the maximisation
    pd_points: int = spec(1000, ge=1)                           # C1.4: points per case
    pd_Rs: List[float] = spec([1.0, 2.0, 4.0])                  # C1.4: ‖A‖ = R
    lipschitz_points: int = spec(4000, ge=1)                    # C1.5: samples per (R, n)
    lipschitz_Rs: List[float] = spec([0.5, 1.0, 2.0, 3.0, 4.0])
    lipschitz_ns: List[int] = spec([20, 200, 2000])
    sparsifier_n: int = spec(50_000, ge=100)                    # C1.6: rows of A
    sparsifier_trials: int = spec(20, ge=1)                     # C1.6: sketches per (ε0, scores)
    newton_n: int = spec(4000, ge=100)                          # C1.7, C1.8, C1.10: rows of A
    newton_seeds: int = spec(100, ge=1)                         # C1.8: seeds
    cost_ns: List[int] = spec([100_000, 1_000_000])             # C1.9: rows of the sparse A
    cost_densities: List[float] = spec([0.00125, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16])
    cost_d: int = spec(20, ge=1)
    cost_repeats: int = spec(7, ge=1)                           # C1.9: timed iterations per point


PROFILES = {
    # C1.9 (quick): five sizes nnz ≈ 2e6·density above 2d³ = 16000, a factor 2 apart (the grid of study p1_nnz)
    "quick": {"gradient_points": 10, "bound_ns": [2, 3, 5], "bound_restarts": 5, "pd_points": 300,
              "lipschitz_points": 200, "lipschitz_ns": [20, 100, 500], "cost_ns": [100_000],
              "cost_densities": [0.01, 0.02, 0.04, 0.08, 0.16], "cost_repeats": 5},
    "ci": {"gradient_points": 5, "bound_ns": [2, 3], "bound_restarts": 3, "pd_points": 100, "pd_Rs": [1.0, 4.0],
           "lipschitz_points": 50, "lipschitz_Rs": [0.5, 2.0, 4.0], "lipschitz_ns": [20, 50, 100],
           "sparsifier_n": 5000, "sparsifier_trials": 5, "newton_n": 1000, "newton_seeds": 10,
           "cost_ns": [100_000], "cost_densities": [0.01, 0.04, 0.16], "cost_repeats": 3},
}
