"""The coherent factors of E06's checks (docs/theory/e06.md §E06.6): A1, A2 n×d with N(0, 1/n) entries and their
first d rows scaled by the coherence (30 in the paper's check), drawn from the check's seed and a stream number."""
from __future__ import annotations

import numpy as np
import torch

from pipeline.data.kronecker import coherent_factor
from pipeline.papers import Context


def rng(ctx: Context, stream: int) -> np.random.Generator:
    """The numpy generator of one stream of one check."""
    return np.random.default_rng(ctx.seed * 1_000_003 + stream)


def factors(ctx: Context, stream: int, n: int, d: int, coherence: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two coherent n×d factors (the generator of data kind ``kronecker``, pipeline/data/kronecker.py)."""
    g = rng(ctx, stream)
    return tuple(torch.as_tensor(coherent_factor(g, n, d, coherence), dtype=ctx.dtype, device=ctx.device)
                 for _ in range(2))


def theory_eps(d: int, s: int) -> float:
    """√(d² ln(d²)/s): the sample size s = d² ln(d²)/ε² of the matrix Chernoff bound read with constant 1."""
    k = d * d
    return float(np.sqrt(k * np.log(k) / s))
