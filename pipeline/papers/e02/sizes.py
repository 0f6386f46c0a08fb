"""Sizes of E02's checks (E02.C1–E02.C3). The defaults are the sizes of docs/theory/e02.md §E02.5 (the ``full``
profile); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    e02_n: int = spec(60, ge=3)                   # C1–C3: rows of A (the reference instance: n = 60, d = 5)
    e02_d: int = spec(5, ge=1)
    e02_c1_seeds: int = spec(10, ge=1)            # C1: instances for the differences and the zero-residual spectrum
    e02_c2_seeds: int = spec(10, ge=1)            # C2: Newton and GD runs (one instance each)
    e02_c2_r0: float = spec(0.05, gt=0.0)         # C2: x0 = x_true + r0·N(0, I)
    e02_gd_max_iter: int = spec(500, ge=10)       # C2: GD iterations (the reference reached 6e-16 within 500)
    e02_agn_n: int = spec(400, ge=10)             # C2: approximate Gauss–Newton instance (n = 400, d = 8)
    e02_agn_d: int = spec(8, ge=1)
    e02_agn_r0: float = spec(0.03, gt=0.0)        # C2: x0 = x_true + 0.03·N(0, I)
    e02_agn_iters: int = spec(10, ge=2)           # C2: iterations per run (the reference's 10)
    e02_agn_factors: List[float] = spec([2, 3, 4, 6, 8, 12, 16, 24, 32])  # C2: s/d
    e02_agn_seeds: int = spec(10, ge=1)
    e02_basin_radii: List[float] = spec([0.01, 0.03, 0.1, 0.3, 1.0, 3.0])  # C3: ‖x0 − x*‖
    e02_basin_starts: int = spec(10, ge=1)        # C3: random directions per radius and instance
    e02_c3_seeds: int = spec(10, ge=1)            # C3: instances per setting
    e02_s_mins: List[float] = spec([0.1, 0.2, 0.5, 1.0, 2.0])           # C3: |s_true| ~ U[s_min, 3]
    e02_pole_s: List[float] = spec([0.01, 0.03, 0.1, 0.3, 1.0])         # C3: two rows at |s| = pole_s, 1.5·pole_s
    e02_kappas: List[float] = spec([1, 3, 10, 30, 100, 300, 1000])      # C3: κ(A)
    e02_noise: float = spec(1.0, gt=0.0)          # C3: target noise (units of the mean score d/n)
    e02_w: float = spec(0.03, gt=0.0)             # C3: regulariser weight w_i = w for the noisy target


PROFILES = {
    "quick": {"e02_c1_seeds": 6, "e02_c2_seeds": 5, "e02_agn_seeds": 5, "e02_basin_starts": 6, "e02_c3_seeds": 5},
    "ci": {"e02_c1_seeds": 2, "e02_c2_seeds": 1, "e02_gd_max_iter": 300, "e02_agn_factors": [2, 4, 8, 16, 24, 32],
           "e02_agn_seeds": 1, "e02_basin_radii": [0.03, 0.3, 1.0, 3.0], "e02_basin_starts": 2, "e02_c3_seeds": 1,
           "e02_s_mins": [0.1, 0.5, 2.0], "e02_pole_s": [0.01, 1.0], "e02_kappas": [10, 30, 100, 300, 1000]},
}
