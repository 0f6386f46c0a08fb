"""What E05's training checks share (docs/theory/e05.md §E05.5): a network of width m trained from its random start
θ(0) by full-batch Adam on the cross-entropy over all p^k inputs plus the regulariser, with γ/γ* and the Fourier
power recorded along the run; and the anatomy of a trained network (each neuron's power per frequency, its
cosine fits, the phase relation Σ_j θ_{i,j} = θ_{w,i} and the balance of its k+1 norms)."""
from __future__ import annotations

import math

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import Tensor

from kernels import modular as K
from pipeline.data.modular import ModularData, synthesize_e05
from pipeline.papers import Context
from pipeline.problems import CountingOracle, ModularAddition
from pipeline.problems.modular_addition import SINGLE_FREQUENCY, ModularAdditionConfig
from pipeline.solvers.adam import Adam, AdamParams
from pipeline.solvers.base import StopRule


def sig(x: float, digits: int = 6) -> float:
    """x at ``digits`` significant digits (verdicts are byte-stable)."""
    return float(f"{float(x):.{digits}g}")


def decade(x: float) -> float:
    """The decade ceiling 10^⌈log10 x⌉ of a round-off-level quantity (0 stays 0)."""
    x = abs(float(x))
    return 0.0 if x == 0 else 10.0 ** math.ceil(math.log10(x))


def problem(ctx: Context, p: int, k: int, m: int, regulariser: str, stream: int) -> ModularAddition:
    """The training problem: width m, θ(0) drawn from stream ``stream`` of the check's seed."""
    s = ctx.sizes
    cfg = OmegaConf.structured(ModularData(p=p, k=k, m=m, init_scale=float(s.e05_init_scale)))
    arrays = synthesize_e05(cfg, ctx.seed * 1_000_003 + stream)
    params = ModularAdditionConfig(paper="E05", regulariser=regulariser, weight_decay=float(s.e05_weight_decay))
    return ModularAddition.from_arrays(arrays, dtype=ctx.dtype, device=ctx.device, params=params)


def train(ctx: Context, p: int, k: int, m: int, regulariser: str = "margin_norm", stream: int = 0) -> dict:
    """Full-batch Adam (lr ``e05_lr``, ``e05_steps`` steps) from θ(0); γ/γ* and the median largest Fourier power
    at the log-spaced observation iterations; the final θ and its measures."""
    s = ctx.sizes
    prob = problem(ctx, p, k, m, regulariser, stream)

    def observe(rec) -> None:
        return None

    observe.monitor = prob.monitor
    trace = Adam(AdamParams(lr=float(s.e05_lr))).run(CountingOracle(prob), prob.initial_point(),
                                                     StopRule(eps=None, gtol=0.0, max_iter=int(s.e05_steps)), observe)
    ratio, power = trace.extra["margin_ratio"], trace.extra["power_median"]
    its = sorted(ratio)
    theta = prob.theta(trace.x)
    return {"problem": prob, "theta": theta, "status": trace.status, "steps": int(trace.iterations),
            "final_loss": sig(trace.column("loss")[-1]), "final": {k_: sig(v) for k_, v in prob.measure(trace.x).items()},
            "start": {k_: sig(v) for k_, v in prob.measure(prob.initial_point()).items()},
            "curve": {"iteration": its, "margin_ratio": [sig(ratio[i], 5) for i in its],
                      "power_median": [sig(power[i], 5) for i in its]}}


def cosine_fit(v: Tensor, zeta: int) -> tuple[float, float, float]:
    """v(a) ≈ A cos(θ + 2πζa/p) + c by least squares (cos, sin at ζ and 1 are orthogonal on ℤ_p): (A, θ, share of
    ‖v − mean‖² explained)."""
    p = v.shape[-1]
    ang = 2 * math.pi * zeta * torch.arange(p, dtype=v.dtype, device=v.device) / p
    alpha, beta = 2.0 / p * float((v * torch.cos(ang)).sum()), 2.0 / p * float((v * torch.sin(ang)).sum())
    centred = float(((v - v.mean()) ** 2).sum())
    fit = alpha * torch.cos(ang) + beta * torch.sin(ang)
    explained = 1.0 - float(((v - v.mean() - fit) ** 2).sum()) / centred if centred > 0 else math.nan
    return math.hypot(alpha, beta), math.atan2(-beta, alpha), explained


def wrap(angle: float) -> float:
    """The angle in (−π, π]."""
    return math.pi - (math.pi - angle) % (2 * math.pi)


def anatomy(theta: Tensor, examples: int = 3) -> dict:
    """The Fourier anatomy of a network: per-neuron power shares (rows sorted by dominant frequency), the histogram
    of dominant frequencies among single-frequency neurons (largest share ≥ 0.9), for those neurons the phase
    residuals Σ_j θ_{i,j} − θ_{w,i} (the paper's constraint) and Σ_j θ_{i,j} + θ_{w,i} (the other sign), the ratio
    of the largest to the smallest of their k+1 cosine amplitudes, and ``examples`` neurons with their vectors and
    cosine fits (the largest-norm neuron of the most common frequencies)."""
    p, k = theta.shape[-1], theta.shape[1] - 1
    fp = K.fourier_power(theta)
    norms = torch.linalg.vector_norm(theta.reshape(theta.shape[0], -1), dim=1)
    single = (fp.max_power >= SINGLE_FREQUENCY).nonzero().flatten().tolist()
    counts = [int(((fp.dominant == z) & (fp.max_power >= SINGLE_FREQUENCY)).sum()) for z in range(1, (p - 1) // 2 + 1)]
    same, other, balance, explained = [], [], [], []
    for i in single:
        z = int(fp.dominant[i])
        fits = [cosine_fit(theta[i, j], z) for j in range(k + 1)]
        phases = [f[1] for f in fits]
        same.append(abs(wrap(sum(phases[:k]) - phases[k])))
        other.append(abs(wrap(sum(phases[:k]) + phases[k])))
        amps = [f[0] for f in fits]
        balance.append(max(amps) / min(amps) if min(amps) > 0 else math.inf)
        explained.append(min(f[2] for f in fits))
    order = sorted(range(theta.shape[0]), key=lambda i: (int(fp.dominant[i]), -float(fp.max_power[i])))
    shown = []
    for z in sorted(range(1, (p - 1) // 2 + 1), key=lambda z: -counts[z - 1])[:examples]:
        cands = [i for i in single if int(fp.dominant[i]) == z]
        if not cands:
            continue
        i = max(cands, key=lambda i: float(norms[i]))
        vecs = [[sig(v, 5) for v in theta[i, j].tolist()] for j in range(k + 1)]
        fits = [[sig(x, 6) for x in cosine_fit(theta[i, j], z)[:2]] for j in range(k + 1)]
        shown.append({"neuron": i, "frequency": z, "vectors": vecs, "fits": fits,
                      "max_power": sig(fp.max_power[i], 5)})
    med = (lambda xs: sig(float(np.median(xs)), 4) if xs else math.nan)
    return {"width": int(theta.shape[0]), "single_frequency": len(single), "counts": counts,
            "frequencies_present": sum(c > 0 for c in counts),
            "power_median": sig(fp.max_power.median(), 5), "power_min": sig(fp.max_power.min(), 5),
            "power": [[sig(v, 3) for v in fp.power[i].tolist()] for i in order],
            "phase_residual_median": med(same), "phase_residual_other_sign_median": med(other),
            "phase_residual_max": sig(max(same), 4) if same else math.nan,
            "amplitude_ratio_median": med(balance), "cosine_explained_median": med(explained),
            "norm_ratio": sig(float(norms.max() / norms.min()), 4) if float(norms.min()) > 0 else math.inf,
            "examples": shown}


def shuffled(ctx: Context, theta: Tensor, stream: int) -> Tensor:
    """Every vector of every neuron with its p entries permuted at random: the norms are kept, the Fourier
    structure is not (a control)."""
    g = ctx.generator(stream)
    out = theta.clone()
    for i in range(theta.shape[0]):
        for j in range(theta.shape[1]):
            out[i, j] = theta[i, j, torch.randperm(theta.shape[-1], generator=g).to(theta.device)]
    return out


def measure(theta: Tensor) -> dict:
    """γ/γ* and the power statistics of a network (as the problem's monitor measures them)."""
    p, k = theta.shape[-1], theta.shape[1] - 1
    fp = K.fourier_power(theta)
    single = fp.dominant[fp.max_power >= SINGLE_FREQUENCY]
    return {"margin_ratio": sig(float(K.normalised_margin(theta)) / K.optimal_margin(p, k)),
            "power_median": sig(fp.max_power.median(), 5),
            "frequencies_present": int(torch.unique(single[single > 0]).numel())}
