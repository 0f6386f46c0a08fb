"""What E08's checks share: the non-interpolating finite sum of docs/theory/e08.md §E08.5 (P2's ``finite_sum`` data,
realizable = false, softmax regime), its reference optimum, its measured constants, and runs of the framework_sgd
solver reduced to the numbers the claims read (the theorem's quantities from ``trace.info`` and ‖∇f(x_t)‖² at the
checkpoints)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import Tensor

from pipeline.data.zo import FiniteSumData, finite_sum
from pipeline.papers import Context
from pipeline.problems import CountingOracle, ZOSoftmax
from pipeline.solvers import StopRule, make_solver
from pipeline.solvers.framework import hessian_norm
from pipeline.solvers.newton import Newton

#: seed stream of the instance (the same instance for C2 and C3)
INSTANCE_STREAM = 8
#: Lanczos steps for ‖∇²L‖ at the hessian points of a run
LANCZOS = 15
#: the methods of C2 as (base, accelerate, rva_rule); RVA's ledger reading (sign) ignores the base's own
#: direction, so it runs once (base sgd); the alternative reading (mix) runs around SGDm and Adam
METHODS = (("sgd", "none", "sign"), ("sgd", "rva", "sign"),
           ("sgdm", "none", "sign"), ("sgdm", "framework", "sign"), ("sgdm", "ra", "sign"), ("sgdm", "rva", "mix"),
           ("adam", "none", "sign"), ("adam", "framework", "sign"), ("adam", "ra", "sign"), ("adam", "rva", "mix"))


def method_name(base: str, accelerate: str, rule: str) -> str:
    """``sgdm+ra``, ``sgd+rva(sign)``, ``adam`` (the base method's own step)."""
    if accelerate == "none":
        return base
    return f"{base}+{accelerate}" + (f"({rule})" if accelerate == "rva" else "")


@dataclass
class Instance:
    problem: ZOSoftmax
    x_star: Tensor
    f_star: float
    x0: Tensor
    constants: dict[str, float]


_CACHE: dict[tuple, Instance] = {}


def instance(ctx: Context) -> Instance:
    """The finite sum of the checks (m components of ``rows`` rows in dimension d; targets b_k = softmax(A(x_true +
    noise·ξ_k)) with one shared A, so no point fits every component), x* by Newton (least-squares steps) from 0,
    and the constants: L at 0 and at x* (Lanczos), tr Σ(x*) = mean_k ‖∇L_k(x*)‖², ‖∇f(0)‖²."""
    s = ctx.sizes
    key = (ctx.seed, s.e08_m, s.e08_rows, s.e08_d, s.e08_noise, str(ctx.dtype), str(ctx.device))
    if key in _CACHE:
        return _CACHE[key]
    cfg = OmegaConf.structured(FiniteSumData(m=s.e08_m, rows=s.e08_rows, d=s.e08_d, realizable=False, centred=True,
                                             regime="softmax", noise=s.e08_noise))
    arr = finite_sum(cfg, ctx.seed * 1_000_003 + INSTANCE_STREAM)
    problem = ZOSoftmax.from_arrays(arr, dtype=ctx.dtype, device=ctx.device)
    x0 = torch.zeros(problem.dim, dtype=ctx.dtype, device=ctx.device)
    ref = Newton(solve="pinv").run(CountingOracle(problem), x0, StopRule(eps=None, gtol=1e-10, max_iter=100))
    x_star = ref.x
    G = problem.instance_gradients(x_star)
    f0, g0 = problem.loss_grad(x0)
    L0 = hessian_norm(problem, x0, 2 * LANCZOS, ctx.generator(INSTANCE_STREAM))
    Ls = hessian_norm(problem, x_star, 2 * LANCZOS, ctx.generator(INSTANCE_STREAM + 1))
    consts = {"L_x0": L0, "L_star": Ls, "f_star": float(problem.loss(x_star)), "f_x0": float(f0),
              "grad_norm2_x0": float(g0 @ g0), "noise_star": float((G * G).sum(1).mean()),
              "ref_grad_norm": float(ref.last.grad_norm), "rank_A": float(np.linalg.matrix_rank(arr["A"][0]))}
    problem.constants = {"ell": max(L0, Ls)}
    _CACHE[key] = Instance(problem, x_star, consts["f_star"], x0, consts)
    return _CACHE[key]


def direction(ctx: Context, stream: int, d: int) -> Tensor:
    """A unit vector drawn from stream ``stream`` of the check's seed."""
    v = torch.randn(d, generator=ctx.generator(stream), dtype=torch.float64)
    return (v / torch.linalg.vector_norm(v)).to(ctx.device, ctx.dtype)


def run(inst: Instance, x0: Tensor, T: int, checkpoints: int, **params: Any) -> dict[str, Any]:
    """One framework_sgd run of T steps from x0 (no other stop): its ``trace.info`` and the checkpoints' iterations
    and ‖∇f(x_t)‖²."""
    solver = make_solver({"name": "framework_sgd", "checkpoints": checkpoints, "hessian_points": 3,
                          "lanczos_iters": LANCZOS, **params})
    trace = solver.run(CountingOracle(inst.problem), x0, StopRule(eps=None, f_star=inst.f_star, max_iter=T))
    it = np.asarray(trace.columns["iteration"], dtype=int)
    g2 = np.asarray(trace.columns["grad_norm"], dtype=float) ** 2
    return {"info": dict(trace.info), "iterations": it, "g2": g2, "status": trace.status}


def first_below(it: np.ndarray, values: np.ndarray, target: float):
    """The first checkpoint iteration whose value is ≤ target (None if never)."""
    hit = np.flatnonzero(values <= target)
    return int(it[hit[0]]) if hit.size else None


def sig(v: float, digits: int = 6) -> float:
    """``v`` at ``digits`` significant digits (verdicts are byte-stable across reruns)."""
    if v is None or not math.isfinite(v) or v == 0:
        return v
    return float(f"{v:.{digits}g}")


def decade(v: float) -> float:
    """The decade ceiling 10^⌈log10 v⌉ of a round-off-level quantity (0 stays 0)."""
    return 0.0 if v <= 0 else 10.0 ** math.ceil(math.log10(v))


def rounded(obj, digits: int = 6):
    """Every float of a nested structure at ``digits`` significant digits; non-finite floats as None."""
    if isinstance(obj, float):
        return sig(obj, digits) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return [rounded(float(v), digits) for v in obj.tolist()]
    if isinstance(obj, (np.floating,)):
        return rounded(float(obj), digits)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj
