"""Argument checks shared by the Triton kernels: tensors of one floating dtype, float32 or float64,
on one device; every message names the argument at fault."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

FLOATS = (torch.float32, torch.float64)


def check_dtypes(**named: Optional[Tensor]) -> torch.dtype:
    """The one dtype shared by the tensors given (None entries are skipped); ValueError otherwise."""
    named = {name: t for name, t in named.items() if t is not None}
    for name, t in named.items():
        if not isinstance(t, Tensor):
            raise ValueError(f"{name} must be a torch tensor, got {type(t).__name__}")
        if t.dtype not in FLOATS:
            raise ValueError(f"{name} must be float32 or float64, got {t.dtype}")
    first, t0 = next(iter(named.items()))
    for name, t in named.items():
        if t.dtype != t0.dtype:
            raise ValueError(f"{name} has dtype {t.dtype} but {first} has {t0.dtype}: all arguments must share "
                             "one dtype, float32 or float64")
        if t.device != t0.device:
            raise ValueError(f"{name} is on {t.device} but {first} is on {t0.device}: all arguments must share "
                             "one device")
    return t0.dtype
