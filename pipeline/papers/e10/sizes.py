"""Sizes of E10's checks (E10.C1–E10.C3). The defaults are the full sizes of docs/theory/e10.md §E10.4
(the ``full`` profile); :data:`PROFILES` lists what the smaller profiles change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from pipeline.core.spec import spec


@dataclass
class Sizes:
    e10_d: int = spec(3, ge=1)                                    # all: head dimension d
    e10_g: int = spec(4, ge=0)                                    # C1, C2: Taylor degree (t = C(d + g, g) = 35)
    e10_k: int = spec(20, ge=1)                                   # C2, C3: sparsity k of the recovery
    e10_eps1: float = spec(0.5, gt=0.0)                           # C2, C3: ε₁ (W = ⌈4k/ε₁⌉ buckets)
    e10_B: float = spec(0.8, gt=0.0)                              # C2, C3: bounded entries, Q, K ~ U[−B, B]
    e10_memory_ns: List[int] = spec([2**e for e in range(12, 21)])  # C1: stream lengths n
    e10_reference_n: int = spec(2**14, ge=2)                      # C2: the reference instance
    e10_guarantee_n: int = spec(2**14, ge=2)                      # C2: n of the bounded sweep
    e10_seeds: int = spec(200, ge=1)                              # C2: seeds of the bounded sweep
    e10_planted_n: int = spec(2**14, ge=64)                       # C2: n of the planted (sparse-output) instances
    e10_planted_Bs: List[float] = spec([1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])  # C2: planted entries ±B
    e10_planted_seeds: int = spec(20, ge=1)                       # C2: seeds per planted B
    e10_planted_pairs: int = spec(4, ge=1, le=8)                  # C2: planted query–key pairs (distinct sign patterns)
    e10_planted_value: float = spec(10.0, gt=0.0)                 # C2: |v| of the planted values
    e10_error_ns: List[int] = spec([2**e for e in range(10, 17)])  # C3: n at fixed sketch size


PROFILES = {
    "quick": {"e10_guarantee_n": 2**12, "e10_seeds": 40, "e10_planted_n": 2**12, "e10_planted_seeds": 3,
              "e10_error_ns": [2**e for e in range(9, 14)]},
    "ci": {"e10_memory_ns": [2**e for e in range(10, 19, 2)], "e10_reference_n": 2**11, "e10_guarantee_n": 2**10,
           "e10_seeds": 8, "e10_planted_n": 2**10, "e10_planted_Bs": [1.0, 2.0, 3.0], "e10_planted_seeds": 2,
           "e10_error_ns": [2**e for e in range(8, 13)]},
}
