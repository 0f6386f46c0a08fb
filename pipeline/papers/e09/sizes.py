"""Sizes of E09's checks (E09.C1–E09.C3). The defaults are the sizes of docs/theory/e09.md §E09.5 (the ``full``
profile: n = 256 softmax outputs, d = 16 parameters, m = 512 outputs); :data:`PROFILES` lists what the smaller
profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    e09_n: int = spec(256, ge=4)                                    # softmax outputs (rows of C)
    e09_d: int = spec(16, ge=2)                                     # parameters (columns of C)
    e09_m: int = spec(512, ge=4)                                    # outputs (rows of A)
    e09_c1_points: int = spec(5, ge=1)                              # C1: points per model for the differences
    e09_r0s: List[float] = spec([0.01, 0.05, 0.1, 0.12])            # C2: start radii ‖x0 − x*‖ (0.12: the reference run's)
    e09_sample_factors: List[float] = spec([2.0, 4.0, 8.0, 16.0, 32.0])  # C2: s/d of the sketch
    e09_sweep_r0: float = spec(0.12, gt=0.0)                        # C2: the start radius of the sweep over s (the reference run's)
    e09_factor: float = spec(16.0, gt=0.0)                          # C2 (every r0), C3: the sketch's s/d
    e09_c2_seeds: int = spec(10, ge=1)                              # C2: start directions and sketch seeds per setting
    e09_tol: float = spec(1e-10, gt=0.0)                            # C2, C3: ‖x_t − x*‖ at which a run has converged
    e09_max_iter: int = spec(60, ge=5)
    e09_lipschitz_directions: int = spec(16, ge=1)                  # C2, C3: extra directions on which M is measured
    e09_kappas: List[float] = spec([1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0])  # C3: κ(C)
    e09_logit_scales: List[float] = spec([0.1, 0.3, 1.0, 2.0, 3.0, 5.0, 8.0])  # C3: ‖Cx_true‖_∞
    e09_c3_seeds: int = spec(3, ge=1)                               # C3: instances per setting
    e09_c3_r0: float = spec(0.05, gt=0.0)                           # C3: start radius of the sketched runs
    e09_basin_directions: int = spec(3, ge=1)                       # C3: directions per radius of the basin search
    e09_gd_iterations: int = spec(200, ge=1)                        # C3 control: gradient-descent budget


PROFILES = {
    "quick": {"e09_c1_points": 3, "e09_c2_seeds": 5, "e09_lipschitz_directions": 8, "e09_c3_seeds": 2, "e09_basin_directions": 2},
    "ci": {"e09_n": 64, "e09_d": 6, "e09_m": 128, "e09_c1_points": 1, "e09_r0s": [0.01, 0.12],
           "e09_c2_seeds": 1, "e09_lipschitz_directions": 4, "e09_kappas": [1.0, 3.0, 10.0, 30.0, 100.0, 1000.0], "e09_c3_seeds": 1,
           "e09_basin_directions": 1, "e09_gd_iterations": 100},
}
