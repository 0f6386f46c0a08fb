"""Sizes of E07's checks (E07.C1–E07.C3, E07.C3.time). The defaults are the sizes of docs/theory/e07.md §E07.5 (the
``full`` profile); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    e07_fd_points: int = spec(5, ge=1)                              # C1: random X per scale for the differences
    e07_c1_n: int = spec(300, ge=8)                                 # C1: rows (the reference table's n = 300, d = 2)
    e07_c1_Bs: List[float] = spec([0.3, 0.6, 1.0, 1.5, 2.0, 2.4])   # C1: entry bounds, up to B² ≈ ln n
    e07_c1_degrees: List[int] = spec([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    e07_c1_seeds: int = spec(20, ge=1)                              # C1: instances per (B, g) of the reference table
    e07_c2_ns: List[int] = spec([1024, 2048, 4096, 8192, 16384, 32768, 65536])  # C2: n = 2^10 … 2^16
    # C2: B²/ln n; at fixed d the crossing rank = n drifts to larger ratios as n grows, so the grid reaches far
    e07_c2_ratios: List[float] = spec([0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0])
    e07_c2_d: int = spec(4, ge=1)
    e07_c2_rows: int = spec(1024, ge=16)                            # C2: query rows at which the error is measured
    e07_time_ns: List[int] = spec([2048, 4096, 8192, 16384, 32768, 65536, 131072])  # C3.time: n of the low-rank gradient
    e07_time_exact_ns: List[int] = spec([512, 1024, 2048, 4096, 8192, 16384])       # C3.time: n of the exact gradient
    e07_time_repeats: int = spec(5, ge=1)


PROFILES = {
    # C2 (quick): n = 2^10 … 2^13 and seven values of B²/ln n, the error on 512 query rows per instance
    "quick": {"e07_fd_points": 3, "e07_c1_seeds": 10, "e07_c2_ns": [1024, 2048, 4096, 8192],
              "e07_c2_ratios": [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], "e07_c2_rows": 512,
              "e07_time_ns": [2048, 4096, 8192, 16384, 32768], "e07_time_exact_ns": [256, 512, 1024, 2048, 4096],
              "e07_time_repeats": 3},
    "ci": {"e07_fd_points": 1, "e07_c1_Bs": [0.3, 0.6, 1.0, 2.2], "e07_c1_degrees": [2, 3, 4, 5, 6],
           "e07_c1_seeds": 2, "e07_c2_ns": [256, 1024], "e07_c2_ratios": [0.1, 0.25, 0.5, 1.0, 2.0, 4.0],
           "e07_c2_rows": 64, "e07_time_ns": [2048, 4096, 8192, 16384, 32768],
           "e07_time_exact_ns": [128, 256, 512, 1024, 2048], "e07_time_repeats": 2},
}
