"""Sizes of E06's checks (E06.C1–E06.C3). The defaults are the sizes of docs/theory/e06.md §E06.6 (the ``full``
profile: the paper's check at n = 400, d = 4, coherence 30); :data:`PROFILES` lists what the smaller profiles
change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    e06_n: int = spec(400, ge=8)                       # C1, C2: rows per factor (𝖠 has n² rows)
    e06_d: int = spec(4, ge=2)                         # columns per factor (𝖠 has d² columns)
    e06_coherence: float = spec(30.0, gt=0.0)          # the first d rows of each factor scaled by this
    e06_check_n: int = spec(40, ge=4)                  # C1: the product rule τ(A1 ⊗ A2) = τ(A1)τ(A2) on the formed product
    # C1: sample sizes s (the reference table's 200, 800, 3200, 12800 and the points between)
    e06_c1_samples: List[int] = spec([200, 400, 800, 1600, 3200, 6400, 12800])
    e06_c1_repeats: int = spec(11, ge=1)               # C1: repetitions per s (the reference: median over 5)
    # C2: from s = 400 (≈ 9·d² ln d²), where the excess follows its first-order law d²/s
    e06_c2_samples: List[int] = spec([400, 800, 1600, 3200, 6400, 12800, 25600])
    e06_c2_repeats: int = spec(15, ge=1)
    e06_c3_ns: List[int] = spec([400, 1600, 6400, 25600, 102400, 409600, 1638400])  # C3: rows per factor
    e06_c3_eps: float = spec(0.25, gt=0.0, lt=1.0)     # C3: target ε (s = ⌈d² ln(d²)/ε²⌉)
    e06_c3_repeats: int = spec(5, ge=1)


PROFILES = {
    "quick": {"e06_c3_ns": [400, 1600, 6400, 25600, 102400, 409600]},
    "ci": {"e06_check_n": 24, "e06_c1_samples": [200, 400, 800, 1600, 3200], "e06_c1_repeats": 5,
           "e06_c2_samples": [400, 800, 1600, 3200, 6400], "e06_c2_repeats": 5,
           "e06_c3_ns": [400, 1600, 6400, 25600, 102400], "e06_c3_repeats": 3},
}
