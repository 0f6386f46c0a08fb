"""Sizes of E01's checks (E01.C1–E01.C3). The defaults are the sizes of docs/theory/e01.md §E01.5 (the ``full``
profile: n = 20 and 32 inputs in d = 4, widths m from 256 to 16384, 2000 gradient-descent steps, the score toy at
n = 256, 1024, 4096); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec

WIDTHS = [256, 512, 1024, 2048, 4096, 8192, 16384]


@dataclass
class Sizes:
    e01_d: int = spec(4, ge=2)                                  # input and output dimension
    e01_sigma: float = spec(1.0, gt=0.0)                        # W(0) ~ N(0, σ²)
    e01_c1_n: int = spec(20, ge=4)                              # C1: inputs
    e01_c1_widths: List[int] = spec(list(WIDTHS))               # C1: widths m (≥ 5 for the fit)
    e01_c1_seeds: int = spec(5, ge=1)                           # C1: initialisations per width
    e01_c1_check_widths: List[int] = spec([64, 512])            # C1: closed form against torch.func here
    e01_c1_lambda_width: int = spec(4096, ge=1)                 # C1: λ_min within 10 % from this width on
    e01_c2_n: int = spec(32, ge=4)                              # C2: inputs
    e01_c2_widths: List[int] = spec(list(WIDTHS))               # C2: widths (≥ 5 for the drift fits)
    e01_c2_seeds: int = spec(3, ge=1)                           # C2: instances (data and W(0)) per width
    e01_c2_steps: int = spec(2000, ge=20)                       # C2: gradient-descent steps
    e01_c2_lazy_width: int = spec(4096, ge=1)                   # C2: the rate is judged from this width on
    e01_c2_control_width: int = spec(1024, ge=1)                # C2 control: κ_m = m with the √m step
    e01_c2_control_steps: int = spec(200, ge=2)
    e01_step: float = spec(1.0, gt=0.0, le=1.9)                 # C2, C3: c in η = c/λ_max
    e01_c3_width: int = spec(4096, ge=16)                       # C3: width of the softmax, exp and ReLU networks
    e01_c3_eps: float = spec(1e-3, gt=0.0)                      # C3: loss target ½‖F − Y‖² ≤ ε
    e01_c3_max_steps: int = spec(20000, ge=10)                  # C3: step budget per network
    e01_c3_ns: List[int] = spec([256, 1024, 4096])              # C3 score toy: training sizes
    e01_c3_score_width: int = spec(256, ge=8)                   # C3 score toy: width
    e01_c3_score_steps: int = spec(1000, ge=10)                 # C3 score toy: gradient-descent budget (early stopped)
    e01_c3_test: int = spec(4000, ge=100)                       # C3 score toy: test points


PROFILES = {
    "quick": {"e01_c2_widths": [256, 512, 1024, 2048, 4096, 8192], "e01_c2_seeds": 1, "e01_c2_steps": 1000,
              "e01_c3_ns": [128, 512, 2048], "e01_c3_score_steps": 600},
    "ci": {"e01_c1_widths": [256, 512, 1024, 2048, 4096], "e01_c1_seeds": 3, "e01_c1_check_widths": [64],
           "e01_c2_widths": [128, 256, 512, 1024, 2048], "e01_c2_seeds": 1, "e01_c2_steps": 400, "e01_c2_lazy_width": 2048,
           "e01_c2_control_width": 256, "e01_c2_control_steps": 50, "e01_c3_width": 1024, "e01_c3_max_steps": 6000,
           "e01_c3_ns": [128, 512, 2048], "e01_c3_score_width": 128, "e01_c3_score_steps": 300, "e01_c3_test": 1000},
}
