"""E10's instances and the evaluation shared by its checks (docs/theory/e10.md §E10.4).

Instances: bounded entries (Q, K ~ U[−B, B], V ~ U[−1, 1], scale d: logits in [−B², B²]) and planted
instances that leave the bounded regime (a few query–key pairs set to ±B·u with u a sign pattern, and
large values ±A at the planted keys, so that each output column has a few heavy entries). The exact
output is computed in float64 by chunks of rows (no n×n matrix). The evaluation compares the
recovered k-sparse columns with the exact ones, with the additive slack of the polynomial error.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from kernels import streaming as S
from pipeline.papers import Context


def bounded_instance(ctx: Context, stream: int, n: int, d: int, B: float) -> tuple[Tensor, Tensor, Tensor]:
    """Q, K ~ U[−B, B]^{n×d}, V ~ U[−1, 1]^{n×d} (float64, ctx's generator ``stream``)."""
    g = ctx.generator(stream)
    Q = (torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1) * B
    K = (torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1) * B
    V = torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1
    return Q, K, V


def planted_instance(ctx: Context, stream: int, n: int, d: int, B: float, pairs: int, value: float,
                     background: float) -> tuple[Tensor, Tensor, Tensor]:
    """A bounded background (entries ±``background``) with ``pairs`` planted pairs: query i_a and key j_a
    both equal B·u_a (u_a distinct sign patterns, logit B²), and v_{j_a} = ±``value`` per column."""
    Q, K, V = bounded_instance(ctx, stream, n, d, background)
    g = ctx.generator(stream + 500_000)
    patterns = torch.tensor([[1.0 if (m >> b) & 1 else -1.0 for b in range(d)] for m in range(2 ** min(d, 16))],
                            dtype=torch.float64)
    u = patterns[torch.randperm(len(patterns), generator=g)[:pairs]]
    rows = torch.randperm(n, generator=g)[:2 * len(u)]
    Q[rows[:len(u)]] = B * u
    K[rows[len(u):]] = B * u
    V[rows[len(u):]] = value * (torch.randint(2, (len(u), d), generator=g) * 2 - 1).double()
    return Q, K, V


def exact_attention(Q: Tensor, K: Tensor, V: Tensor, scale: float, chunk: int = 1024) -> Tensor:
    """D⁻¹exp(QKᵀ/scale)V by chunks of rows, max-subtracted (float64; n×chunk memory)."""
    out = []
    for a in range(0, Q.shape[0], chunk):
        L = Q[a:a + chunk] @ K.T / scale
        E = L.sub_(L.amax(dim=1, keepdim=True)).exp_()
        out.append((E @ V) / E.sum(dim=1, keepdim=True))
    return torch.cat(out)


def relative_error(coef: Tensor, radius: float, points: int = 4001) -> float:
    """ε = max over s ∈ [−radius, radius] (a grid) of |P(s)/eˢ − 1| for P(s) = Σ c_l sˡ."""
    s = np.linspace(-radius, radius, points)
    return float(np.max(np.abs(np.polyval(coef.numpy()[::-1], s) * np.exp(-s) - 1.0)))


def taylor_bound_degree(radius: float, target: float, limit: int = 400) -> int:
    """The least Taylor degree g whose Lagrange bound on the relative error on [−radius, radius],
    e^{2 radius}·radius^{g+1}/(g+1)!, is ≤ ``target`` (exact in logs: no rounding of the polynomial)."""
    for g in range(limit + 1):
        if 2 * radius + (g + 1) * math.log(max(radius, 1e-300)) - math.lgamma(g + 2) <= math.log(target):
            return g
    return limit


def eps2_apriori(n: int, eps: float, v_inf: float, eps1: float) -> float:
    """The additive slack from the polynomial a priori: (2 + ε₁)·√n·2ε/(1 − ε)·‖V‖∞ (∞ when ε ≥ 1)."""
    return math.inf if eps >= 1 else (2 + eps1) * math.sqrt(n) * 2 * eps / (1 - eps) * v_inf


def judge(y: Tensor, rows: Tensor, recovered: Tensor, k: int, eps1: float, centred: bool) -> list[dict]:
    """Per column: ‖T_i − y_i‖, the best k-sparse error tail_k (of y_i − mean, ``centred``), the measured
    slack ε₂ = (2 + ε₁)‖ŷ_i − y_i‖ (ŷ the polynomial rows that were sketched) and whether
    ‖T_i − y_i‖ ≤ (1 + ε₁)·tail_k + ε₂ (the guarantee, transferred from ŷ to y by the triangle inequality)."""
    target = y - y.mean(dim=0) if centred else y
    err = torch.linalg.vector_norm(recovered - y, dim=0)
    tail = S.best_k_sparse_error(target, k)
    eps2 = (2 + eps1) * torch.linalg.vector_norm(rows - y, dim=0)
    norm = torch.linalg.vector_norm(target, dim=0)
    return [{"ratio": float(err[i] / tail[i]), "tail_over_norm": float(tail[i] / norm[i]),
             "eps2_over_tail": float(eps2[i] / tail[i]), "trivial_ratio": float(norm[i] / tail[i]),
             "ok": bool(err[i] <= (1 + eps1) * tail[i] + eps2[i])} for i in range(y.shape[1])]


def recovered(rows: Tensor, k: int, R: int, W: int, seed: int, centred: bool) -> Tensor:
    """The dense recovery from a sketch of ``rows`` made afresh with R repetitions of W buckets (the
    controls: the same rows, another sketch)."""
    table = S.sketch(rows, R, W, seed)
    return S.recover(table, rows.shape[0], k, seed, rows.mean(dim=0) if centred else None).dense()


def summary(runs: list[dict]) -> dict:
    """Fraction of runs meeting the guarantee, and quantiles of the ratio."""
    r = np.array([x["ratio"] for x in runs])
    return {"runs": len(runs), "fraction_ok": float(np.mean([x["ok"] for x in runs])),
            "ratio_median": float(np.median(r)), "ratio_q99": float(np.quantile(r, 0.99)), "ratio_max": float(r.max()),
            "tail_over_norm_median": float(np.median([x["tail_over_norm"] for x in runs])),
            "eps2_over_tail_max": float(max(x["eps2_over_tail"] for x in runs)),
            "trivial_ratio_median": float(np.median([x["trivial_ratio"] for x in runs]))}
