"""Sizes of E08's checks (E08.C1–E08.C3). The defaults are the sizes of docs/theory/e08.md §E08.5 (the ``full``
profile: a finite sum of m = 2000 softmax regressions in d = 50, batches {1, 8, 64}, 5 seeds); :data:`PROFILES`
lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    e08_m: int = spec(2000, ge=8)                              # components of the finite sum (the paper's n)
    e08_rows: int = spec(12, ge=2)                             # rows per softmax regression
    e08_d: int = spec(50, ge=2)                                # parameters
    e08_noise: float = spec(0.3, ge=0.0)                       # spread of the components' targets (non-interpolating)
    e08_c1_dims: List[int] = spec([2, 10, 50, 1000])           # C1: dimensions of the random vectors
    e08_c1_draws: int = spec(200, ge=1)                        # C1: pairs (∇f, v) per dimension
    e08_c1_steps: int = spec(200, ge=1)                        # C1: optimizer steps whose identities are checked
    e08_c2_T: int = spec(2000, ge=10)                          # C2: steps per run
    e08_c2_batches: List[int] = spec([1, 8, 64])               # C2: batch sizes
    e08_c2_seeds: int = spec(5, ge=1)                          # C2: runs per method and batch size
    e08_c2_control_seeds: int = spec(3, ge=1)                  # C2 control: SGD runs at η = 1/L, batch 1
    e08_c3_T: int = spec(2000, ge=10)                          # C3: steps per run
    e08_c3_batches: List[int] = spec([1, 2, 4, 8, 16, 32, 64])  # C3: batch sizes (≥ 5 for the fit)
    e08_c3_seeds: int = spec(5, ge=1)                          # C3: runs per batch size
    e08_c3_radius: float = spec(0.1, gt=0.0)                   # C3: ‖x0 − x*‖ of the noise-dominated start
    e08_checkpoints: int = spec(40, ge=4)                      # full evaluations per run: log-spaced and as many evenly


PROFILES = {
    "quick": {"e08_m": 500, "e08_c1_draws": 100, "e08_c1_steps": 100, "e08_c2_T": 1000, "e08_c2_seeds": 2,
              "e08_c2_control_seeds": 2, "e08_c3_T": 1000, "e08_c3_seeds": 2},
    "ci": {"e08_m": 120, "e08_d": 20, "e08_c1_dims": [2, 10, 50], "e08_c1_draws": 30, "e08_c1_steps": 30,
           "e08_c2_T": 300, "e08_c2_seeds": 1, "e08_c2_control_seeds": 1, "e08_c3_T": 300,
           "e08_c3_batches": [1, 2, 4, 8, 16], "e08_c3_seeds": 1, "e08_checkpoints": 20},
}
