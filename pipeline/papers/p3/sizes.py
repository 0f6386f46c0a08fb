"""Sizes of P3's checks (C3.1–C3.11). The defaults are the sizes of docs/theory/p3.md §P3.6 (the ``full``
profile); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    p3_points: int = spec(20, ge=1)                          # C3.1–C3.4, C3.8: random (X, Y) per size
    p3_bound_restarts: int = spec(50, ge=1)                  # C3.5: restarts of the maximisation over f
    p3_pd_points: int = spec(500, ge=1)                      # C3.6: random (X, Y) in the R-ball
    p3_lipschitz_points: int = spec(2000, ge=1)              # C3.7: samples per (n, R)
    p3_lipschitz_ns: List[int] = spec([8, 16, 32])
    p3_lipschitz_Rs: List[float] = spec([0.5, 1.0, 2.0])
    p3_newton_starts: int = spec(20, ge=1)                   # C3.9: random starts per radius ρ
    p3_outer_iters: int = spec(300, ge=1)                    # C3.10: alternating iterations per start
    p3_cost_ns: List[int] = spec([64, 128, 256, 512, 1024, 2048, 4096])  # C3.11: n at d = 8
    p3_cost_ds: List[int] = spec([8, 12, 16, 24, 32, 48, 64])  # C3.11: d of the d²×d² solve
    p3_cost_repeats: int = spec(7, ge=1)                     # C3.11: timed repeats per point


PROFILES = {
    "quick": {"p3_points": 5, "p3_bound_restarts": 20, "p3_pd_points": 200, "p3_lipschitz_points": 500,
              "p3_newton_starts": 10, "p3_outer_iters": 200, "p3_cost_ns": [128, 256, 512, 1024, 2048],
              "p3_cost_ds": [8, 12, 16, 24, 32, 48], "p3_cost_repeats": 5},
    "ci": {"p3_points": 2, "p3_bound_restarts": 5, "p3_pd_points": 50, "p3_lipschitz_points": 100,
           "p3_lipschitz_ns": [8, 16], "p3_lipschitz_Rs": [0.5, 2.0], "p3_newton_starts": 3, "p3_outer_iters": 150,
           "p3_cost_ns": [128, 256, 512], "p3_cost_ds": [8, 12, 16], "p3_cost_repeats": 3},
}
