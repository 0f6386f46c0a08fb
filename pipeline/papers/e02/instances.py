"""The instances of E02's checks: the planted data of docs/theory/e02.md §E02.4 (pipeline/data/leverage_target.py),
as a problem, its planted point and the arrays, from one seed."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from omegaconf import OmegaConf

from pipeline.data.leverage_target import LeverageTargetData, synthesize_e02
from pipeline.papers import Context
from pipeline.problems import LeverageInversion


class Instance(NamedTuple):
    problem: LeverageInversion
    x_true: torch.Tensor
    arrays: dict[str, np.ndarray]
    seed: int


def seed_of(ctx: Context, k: int) -> int:
    """The data seed of a check's k-th instance (the context's seed shifts every instance)."""
    return ctx.seed * 100_003 + k


def instance(ctx: Context, k: int, **data) -> Instance:
    """The k-th instance with the data keys ``data`` (LeverageTargetData's: n, d, s_min, kappa, noise, w, ...)."""
    seed = seed_of(ctx, k)
    arrays = synthesize_e02(OmegaConf.structured(LeverageTargetData(**data)), seed)
    problem = LeverageInversion.from_arrays(arrays, dtype=ctx.dtype, device=ctx.device)
    return Instance(problem, torch.as_tensor(arrays["x_true"], dtype=ctx.dtype, device=ctx.device), arrays, seed)


def gaussian_start(ctx: Context, stream: int, x: torch.Tensor, r0: float) -> torch.Tensor:
    """x + r0·N(0, I) (docs/theory/e02.md §E02.5's start)."""
    g = ctx.generator(stream)
    return x + r0 * torch.randn(x.shape[0], generator=g, dtype=torch.float64).to(x)


def sphere_start(ctx: Context, stream: int, x: torch.Tensor, r0: float) -> torch.Tensor:
    """x + r0·u with u a random unit vector: a start at distance exactly r0."""
    g = ctx.generator(stream)
    v = torch.randn(x.shape[0], generator=g, dtype=torch.float64).to(x)
    return x + r0 * v / torch.linalg.vector_norm(v)
