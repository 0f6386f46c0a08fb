"""Timing helper shared by the benchmarks run by hand (ntk.py, modular_training.py)."""
from __future__ import annotations

import time
from typing import Callable


def seconds_per_call(fn: Callable[[], object], min_time: float, sync: Callable[[], None]) -> float:
    """Seconds per call of ``fn``: one warm call to size the sample, then enough back-to-back calls to last
    about ``min_time`` seconds, bracketed by ``sync`` (the device's synchronisation; a no-op on the CPU)."""
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    calls = max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - t0) / calls
