"""Sizes of E05's checks (E05.C1–E05.C3). The defaults are the sizes of docs/theory/e05.md §E05.6 (the ``full``
profile: the construction at the reference table's (p, k) and more, training at k = 3, p = 11, m = 160 = 2^{2k−2}(p−1));
:data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    # C1: the construction at these "p,k" (the reference table's five, then larger ones)
    e05_c1_cases: List[str] = spec(["5,2", "7,2", "5,3", "7,3", "5,4", "3,2", "11,2", "13,2", "11,3", "7,4", "5,5"])
    e05_p: int = spec(11, ge=3)                    # C2, C3: the modulus
    e05_k: int = spec(3, ge=2)                     # C2, C3: inputs
    e05_init_scale: float = spec(0.1, gt=0.0)      # C2, C3: θ(0) entries init_scale·N(0, 1)
    e05_lr: float = spec(0.03, gt=0.0)             # C2, C3: Adam's learning rate (full batch)
    e05_weight_decay: float = spec(1e-4, gt=0.0)   # C2, C3: λ of the regulariser
    e05_steps: int = spec(4000, ge=10)             # C2, C3: Adam steps
    # C3: widths as fractions of 2^{2k−2}(p−1) (the quarter width that E05.C3 judges among them)
    e05_c3_widths: List[float] = spec([0.125, 0.25, 0.5, 0.75, 1.0, 2.0])


PROFILES = {
    "quick": {"e05_steps": 1000, "e05_c3_widths": [0.125, 0.25, 0.5, 0.75, 1.0]},
    "ci": {"e05_c1_cases": ["5,2", "7,2", "5,3", "7,3", "5,4"], "e05_p": 7, "e05_k": 3, "e05_steps": 400,
           "e05_c3_widths": [0.25, 0.5, 1.0]},
}
