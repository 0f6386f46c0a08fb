"""Sizes of E03's checks (E03.C1–E03.C4). The defaults are the sizes of docs/theory/e03.md §E03.4 (the
``full`` profile); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    e03_tail_ns: List[int] = spec([1024, 2048, 4096, 8192, 16384, 32768, 65536])  # C1: row lengths n
    e03_tail_Cs: List[float] = spec([0.25, 0.5, 0.75])        # C1: k = ⌈n^C⌉
    e03_tail_cs: List[float] = spec([0.5, 0.75, 1.0, 1.5, 2.0])  # C1: σ = c √(2 ln n)
    e03_tail_rows: int = spec(512, ge=2)                      # C1: i.i.d. rows per n (repetitions)
    e03_error_n: int = spec(4096, ge=16)                      # C2: row length
    e03_error_rows: int = spec(32, ge=1)                      # C2: rows per (c, k)
    e03_error_ks: List[int] = spec([1, 4, 16, 64, 256, 1024])  # C2: kept entries
    e03_mix_ns: List[int] = spec([1024, 4096, 16384])         # C3: the mixture of lengths
    e03_mix_rows: int = spec(128, ge=1)                       # C3: rows per length and model
    e03_collapse_ns: List[int] = spec([256, 1024, 4096, 16384])  # C4: sequence lengths
    e03_collapse_ds: List[int] = spec([16, 64])               # C4: head dimension
    e03_collapse_gs: List[float] = spec([0.25, 0.5, 1.0, 2.0])  # C4: W = g I
    e03_collapse_rows: int = spec(64, ge=1)                   # C4: query rows per (n, d, g)


PROFILES = {
    "quick": {"e03_tail_ns": [1024, 2048, 4096, 8192, 16384], "e03_tail_rows": 256, "e03_error_rows": 16,
              "e03_mix_rows": 32, "e03_collapse_ns": [256, 1024, 4096], "e03_collapse_rows": 32},
    "ci": {"e03_tail_ns": [1024, 2048, 4096, 8192, 16384], "e03_tail_rows": 128, "e03_error_n": 1024,
           "e03_error_rows": 4, "e03_error_ks": [1, 4, 16, 64, 256], "e03_mix_ns": [256, 1024, 4096],
           "e03_mix_rows": 24, "e03_collapse_ns": [128, 512, 2048], "e03_collapse_rows": 8},
}
