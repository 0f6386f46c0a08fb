"""Sizes of E04's checks (E04.C1–E04.C3). The defaults are the sizes of docs/theory/e04.md §E04.4 (the
``full`` profile); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    e04_rank_taus: List[int] = spec([1024, 4096, 16384])     # C1: M = L = τ
    e04_rank_d: int = spec(4, ge=1)                           # C1: pattern dimension d
    e04_rank_xs: List[float] = spec([0.05, 0.08, 0.125, 0.2, 0.315, 0.5, 0.8, 1.25, 2.0])  # C1: B²/ln τ grid
    e04_rank_bisect: int = spec(5, ge=0)                      # C1: bisection steps of the threshold in its bracket
    e04_retrieval_d: int = spec(8, ge=2)                      # C2: pattern dimension d
    e04_retrieval_M: int = spec(256, ge=2)                    # C2: patterns (= queries, one per pattern)
    e04_retrieval_seeds: int = spec(4, ge=1)                  # C2: pattern sets
    e04_retrieval_bR2: List[float] = spec([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])  # C2: βR²
    e04_cost_taus: List[int] = spec([1024, 2048, 4096, 8192, 16384, 32768, 65536])  # C3: M = L = τ
    e04_cost_exact_max: int = spec(32768, ge=1)               # C3: exact retrieval is timed up to this τ
    e04_cost_d: int = spec(4, ge=1)                           # C3: pattern dimension
    e04_cost_g: int = spec(6, ge=1)                           # C3: degree of the low-rank retrieval (t = C(d+g, g))
    e04_cost_repeats: int = spec(5, ge=1)                     # C3: timed samples per size


PROFILES = {
    "quick": {"e04_rank_taus": [256, 512, 1024], "e04_retrieval_seeds": 2,
              "e04_cost_taus": [512, 1024, 2048, 4096, 8192, 16384], "e04_cost_exact_max": 8192,
              "e04_cost_repeats": 3},
    "ci": {"e04_rank_taus": [128, 256, 512], "e04_rank_xs": [0.05, 0.1, 0.2, 0.4, 0.8, 2.0], "e04_rank_bisect": 4,
           "e04_retrieval_M": 128, "e04_retrieval_seeds": 1,
           "e04_retrieval_bR2": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
           "e04_cost_taus": [256, 512, 1024, 2048, 4096, 8192, 16384], "e04_cost_exact_max": 4096,
           "e04_cost_repeats": 2},
}
