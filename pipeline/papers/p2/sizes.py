"""Sizes of P2's checks (C2.1–C2.6; C2.7–C2.11 are judged on the zo_* studies). The defaults are the
sizes of docs/theory/p2.md §P2.6 (the ``full`` profile); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    zo_bias_draws: int = spec(100_000, ge=100)           # C2.1: SPSA draws per ε
    zo_moment_draws: int = spec(400_000, ge=100)         # C2.2/C2.3: draws of ĝ_n at n = 1 (draws/n at n)
    zo_decrease_points: int = spec(20, ge=1)             # C2.4: points on the ZO trajectory
    zo_decrease_draws: int = spec(100_000, ge=100)       # C2.4: (z, 𝓑) draws per point and kind of z
    zo_ball_points: int = spec(200, ge=1)                # C2.4: points of the ball for the local ℓ
    zo_constant_points: int = spec(1000, ge=1)           # C2.5: points per radius
    zo_constant_Rs: List[float] = spec([1.0, 2.0, 4.0])  # C2.5: radii of the balls
    zo_noise_points: int = spec(500, ge=2)               # C2.6: points near x*


PROFILES = {
    "quick": {"zo_moment_draws": 100_000, "zo_decrease_draws": 3000, "zo_ball_points": 50, "zo_constant_points": 300},
    "ci": {"zo_bias_draws": 50_000, "zo_moment_draws": 100_000, "zo_decrease_points": 6, "zo_decrease_draws": 2000,
           "zo_ball_points": 20, "zo_constant_points": 100, "zo_constant_Rs": [1.0, 4.0], "zo_noise_points": 100},
}
