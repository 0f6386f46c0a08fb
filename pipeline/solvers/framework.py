"""framework_sgd: SGD, SGD with momentum and Adam in the unified framework of Deng, Song and Yang
(arXiv 2402.01515), with Reject Accelerating and Random Vector Accelerating, on a finite sum
(docs/theory/e08.md §1–§4).

    x_{t+1} = x_t − η g_t,   g_t = ∇f_t + 2|⟨v_t, ∇f_t⟩|/‖v_t‖² v_t,   ∇f_t = ∇L(x_t; 𝓑_t)

𝓑_t: ``batch`` component indices drawn with replacement from the solver's explicit generator (``batch: null``:
all m components, the full gradient). The step itself is :class:`pipeline.solvers.accelerating.FrameworkOptimizer`.

The method's oracle is ``batch_loss_grad`` (counted as ``batch_grad``, with ``component_grad`` the component
gradients it costs). The full loss and gradient are evaluated only at the checkpoints — the log-spaced
observation schedule plus ``checkpoints`` evenly spaced iterations — through the counted oracle (``loss``,
``grad``) and outside the solver's clock; there too, outside the clock and uncounted, the exact second moment
E‖∇f_t‖² = ‖∇L‖² + tr Σ/|𝓑| of the batch gradient (from the instance gradients when the problem has them, else
from ``sigma_draws`` batches) and, at ``hessian_points`` of them, λ_max(∇²L) by power iteration.

``trace.info`` holds what the theorem needs (docs/theory/e08.md §3–§4): T, k, l, u_a, u_b, B, σ² (the largest
second moment over the checkpoints), L (the largest Hessian eigenvalue seen, or the instance's ℓ at x* if
larger), Δ = f(x0) − f_min (f_min: the reference optimum's loss, or the lowest loss seen), the step η, the bound
with the step used (``bound``), the theorem's form at its own step (``bound_theorem``), the measured
min_t ‖∇f(x_t)‖² over the checkpoints and their ratio. ``lr_rule: theorem`` sets η = lr_scale·√(2Δ/(Lσ₀²T)) from
x0's second moment σ₀², λ_max at x0 (or ℓ at x*), T = stop.max_iter and k = 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor

from kernels import framework as fw
from pipeline.core.errors import ConfigError
from pipeline.core.spec import spec
from pipeline.solvers.accelerating import ACCELERATIONS, BASES, FrameworkOptimizer
from pipeline.solvers.base import Observer, Recorder, StopRule, Trace


@dataclass
class FrameworkSGDParams:
    name: str = "framework_sgd"
    label: str = "framework_sgd"
    base: str = spec("sgdm", choices=BASES)                 # the base method: its v_t (docs/theory/e08.md §4)
    accelerate: str = spec("framework", choices=ACCELERATIONS)  # none | framework | ra | rva
    rva_rule: str = spec("sign", choices=fw.RVA_RULES)      # sign: the ledger's reading of RVA; mix: own v + Gaussian
    rva_mix: float = spec(1.0, gt=0.0)                      # mix: the Gaussian's size relative to the own direction
    batch: Optional[int] = spec(1, ge=1)                    # components per step, with replacement; null: all (GD)
    lr_rule: str = spec("fixed", choices=("fixed", "theorem"))  # fixed: η = lr; theorem: the theorem's step (module)
    lr: float = spec(0.1, gt=0.0)
    lr_scale: float = spec(1.0, gt=0.0)                     # multiplies the theorem's step
    momentum: float = spec(0.9, ge=0.0, lt=1.0)             # sgdm: β of m_t = β m_{t−1} + ∇f_t
    beta1: float = spec(0.9, ge=0.0, lt=1.0)                # adam
    beta2: float = spec(0.999, ge=0.0, lt=1.0)
    eps: float = spec(1e-8, gt=0.0)
    seed: int = spec(0, ge=0)                               # batches and RVA's vectors (two streams)
    #: iid: B indices drawn independently (with replacement) | repeat: one index drawn and used B times (a control:
    #: the draws of a batch are not independent, so its variance does not fall as 1/B)
    sampling: str = spec("iid", choices=("iid", "repeat"))
    checkpoints: int = spec(50, ge=2)                       # log-spaced and as many evenly spaced full evaluations
    hessian_points: int = spec(3, ge=0)                     # checkpoints at which ‖∇²L‖ is measured (Lanczos)
    lanczos_iters: int = spec(20, ge=2)
    sigma_draws: int = spec(32, ge=2)                       # batches for E‖∇f_t‖² on a problem without instance gradients

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.accelerate == "rva" and node.rva_rule == "mix" and node.base == "sgd":
            raise ConfigError(f"{prefix}.rva_rule", "mix needs the method's own direction; base=sgd has none "
                                                    "(use rva_rule=sign)")


def _json_number(v: float) -> Optional[float]:
    return float(v) if math.isfinite(v) else None


def hessian_norm(problem, x: Tensor, iters: int, generator: torch.Generator) -> float:
    """‖∇²L(x)‖ = max |λ| by Lanczos on Hessian-vector products (``iters`` products at most), with full
    reorthogonalisation and the Rayleigh–Ritz values of QᵀHQ formed from the stored products (so that they stay
    inside the spectrum after an early breakdown, e.g. on a Hessian of low rank): the smoothness L "seen" at x
    (docs/theory/e08.md §4)."""
    d = problem.dim
    q = torch.randn(d, generator=generator, dtype=torch.float64).to(dtype=x.dtype, device=x.device)
    Q, HQ = [q / torch.linalg.vector_norm(q)], []
    scale = 0.0
    for _ in range(min(iters, d)):
        hq = problem.hvp(x, Q[-1])
        HQ.append(hq)
        scale = max(scale, float(torch.linalg.vector_norm(hq)))
        if len(Q) == d:
            break
        basis = torch.stack(Q, 1)
        w = hq - basis @ (basis.T @ hq)
        w = w - basis @ (basis.T @ w)                     # twice is enough (Kahan–Parlett)
        b = float(torch.linalg.vector_norm(w))
        if b <= 1e-10 * scale:                            # the Krylov space is invariant: its Ritz values are exact
            break
        Q.append(w / b)
    basis, products = torch.stack(Q[:len(HQ)], 1), torch.stack(HQ, 1)
    T = basis.T @ products
    return float(torch.linalg.eigvalsh(0.5 * (T + T.T)).abs().max())


class FrameworkSGD:
    """The framework's step around SGD / SGDm / Adam on mini-batches of a finite sum (module docstring)."""

    name: ClassVar[str] = "framework_sgd"
    paper: ClassVar[str] = "E08"
    Params: ClassVar[type] = FrameworkSGDParams
    problems: ClassVar[tuple[str, ...]] = ("zo_softmax",)

    def __init__(self, params: Optional[FrameworkSGDParams] = None, **kw):
        self.params = params or FrameworkSGDParams(**kw)

    @property
    def battery_eps(self) -> float:
        """Plain Adam with a constant step does not converge linearly even under interpolation (its step is
        about lr·sign(∇f) near x*); every framework-form variant does (‖g_t‖ ≤ 3‖∇f_t‖)."""
        p = self.params
        return 1e-6 if (p.base == "adam" and p.accelerate == "none") else 1e-10

    # ------------------------------------------------------------------ measurements (outside the clock)
    @staticmethod
    def second_moment(problem, x: Tensor, B: int, m: int, gen: torch.Generator, draws: int) -> float:
        """E‖∇f_t(x)‖² for a batch of B components drawn with replacement: ‖∇L‖² + (mean_k ‖∇L_k‖² − ‖∇L‖²)/B,
        exact from the instance gradients, else the mean over ``draws`` batches."""
        if hasattr(problem, "instance_gradients"):
            G = problem.instance_gradients(x)
            mean = G.mean(0)
            g2 = float(mean @ mean)
            return g2 + (float((G * G).sum(1).mean()) - g2) / B
        vals = [float(torch.linalg.vector_norm(problem.batch_loss_grad(x, torch.randint(m, (B,), generator=gen))[1]) ** 2)
                for _ in range(draws)]
        return float(np.mean(vals))

    def step_size(self, oracle, problem, x0: Tensor, stop: StopRule, B: int, m: int, gen) -> dict[str, float]:
        p = self.params
        if p.lr_rule == "fixed":
            return {"eta": p.lr}
        if stop.f_star is None:
            raise ConfigError("solver.lr_rule", "lr_rule=theorem needs Δ = f(x0) − f_min, i.e. a reference optimum "
                                             "(reference.method other than none), or give lr_rule=fixed with lr")
        delta = float(problem.loss(x0)) - float(stop.f_star)
        L = max(hessian_norm(problem, x0, p.lanczos_iters, torch.Generator(device="cpu").manual_seed(p.seed)),
                float(getattr(problem, "constants", {}).get("ell", 0.0)))
        s2 = self.second_moment(problem, x0, 1 if p.sampling == "repeat" else B, m, gen, p.sigma_draws) \
            if p.batch is not None else float(torch.linalg.vector_norm(problem.grad(x0)) ** 2)
        T = int(stop.max_iter)
        if not (delta > 0 and L > 0 and s2 > 0):
            raise ConfigError("solver.lr_rule", f"lr_rule=theorem needs Δ, L, σ² > 0 at x0; got Δ = {delta:.3g}, "
                                             f"L = {L:.3g}, σ² = {s2:.3g}")
        return {"eta": p.lr_scale * fw.theorem_step(T, 0, 0.0, delta, L, s2), "eta_delta": delta, "eta_L": L,
                "eta_sigma2": s2, "eta_T": T}

    # ------------------------------------------------------------------ the run
    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        problem = getattr(oracle, "problem", oracle)   # monitoring goes to the problem itself (uncounted)
        m = int(getattr(problem, "m", 1))
        B = int(p.batch) if p.batch is not None else m
        probe_gen = torch.Generator(device="cpu").manual_seed(p.seed + 2_000_006)
        extra: dict[str, float] = {}
        rec = Recorder(p.label, stop, _with_extra(observe, extra), x_star, schedule_points=p.checkpoints)
        with rec.excluded():
            setting = self.step_size(oracle, problem, x0, stop, B, m, probe_gen)
        param = torch.nn.Parameter(x0.detach().clone())
        opt = FrameworkOptimizer([param], lr=float(setting["eta"]), base=p.base, accelerate=p.accelerate,
                                 momentum=p.momentum, betas=(p.beta1, p.beta2), eps=p.eps, rva_rule=p.rva_rule,
                                 rva_mix=p.rva_mix, generator=torch.Generator(device="cpu").manual_seed(p.seed + 1_000_003),
                                 keep_log=False)
        check = _Checkpoints(self, oracle, problem, rec, opt, B, m, probe_gen, extra)
        T_max = int(stop.max_iter)
        draw = _batches(p, m, B, x0.device)
        sq_sum, t = 0.0, 0
        stopped = check(0, param.detach())
        while not stopped:
            _, g = oracle.batch_loss_grad(param.detach(), next(draw))
            sq_sum += float(g @ g)
            param.grad = g
            opt.step()
            t += 1
            if t in check.marks or t >= T_max:
                stopped = check(t, param.detach())
        rec.trace.info = self.summary(opt, check.seen, setting, stop, B, m, sq_sum, problem)
        rec.trace.oracle_calls = dict(oracle.calls)
        return rec.trace

    def summary(self, opt: FrameworkOptimizer, seen: dict, setting: dict, stop: StopRule, B: int, m: int,
                sq_sum: float, problem) -> dict[str, Optional[float]]:
        """trace.info: the theorem's quantities measured on the run and the bound evaluated with them."""
        c = opt.counts()
        T = int(c["T"])
        eta = float(setting["eta"])
        g2 = np.asarray(seen["g2"])
        loss = np.asarray(seen["loss"])
        f_min = min(float(loss.min()), float(stop.f_star)) if stop.f_star is not None else float(loss.min())
        delta = float(loss[0]) - f_min
        ell = float(getattr(problem, "constants", {}).get("ell", 0.0))
        L = max(seen["L"] + [ell]) if (seen["L"] or ell) else math.nan
        sigma2 = float(max(seen["sigma2"]))
        info: dict[str, Optional[float]] = {
            **{k: float(v) for k, v in c.items()}, "framework_form": float(opt.framework_form),
            "batch": float(B), "m": float(m), "eta": eta, **{k: float(v) for k, v in setting.items() if k != "eta"},
            "sigma2": sigma2, "sigma2_x0": float(seen["sigma2"][0]), "sigma2_end": float(seen["sigma2"][-1]),
            "sq_grad_mean": sq_sum / T if T else math.nan, "L": L, "delta": delta, "f_min": f_min,
            "grad_norm2_x0": float(g2[0]), "min_grad_norm2": float(g2.min()),
            "min_grad_norm2_iteration": float(seen["it"][int(g2.argmin())]),
            "min_grad_norm2_after_x0": float(g2[1:].min()) if g2.size > 1 else math.nan,
            "accelerating_fraction": c["k"] / T if T else 0.0, "checkpoints": float(g2.size)}
        ok = T > 0 and math.isfinite(L) and delta > 0
        if ok and opt.framework_form:
            args = (T, c["k"], c["l"], c["u_a"], c["u_b"], c["B"], delta, L, sigma2)
            bound = fw.bound_at_step(eta, *args)
            info.update(bound=bound, bound_theorem=fw.theorem_bound(*args),
                        bound_sgd=fw.bound_at_step(eta, T, 0, 0, 0.0, 0.0, 0.0, delta, L, sigma2),
                        bound_ratio=float(g2.min()) / bound, bound_over_x0=bound / float(g2[0]))
        return {k: (_json_number(v) if isinstance(v, float) else v) for k, v in info.items()}


def _with_extra(observe: Optional[Observer], extra: dict) -> Optional[Observer]:
    """The observer handed to the Recorder: ``observe`` itself, with a ``monitor`` that adds the solver's own
    measurements at the checkpoint (``extra``: σ², c², the accelerating fractions) to the problem's, so that they
    become MLflow curves beside loss and grad_norm."""
    if observe is None:
        return None
    monitor = getattr(observe, "monitor", None)

    def observed(rec):
        return observe(rec)

    observed.monitor = lambda x: {**(monitor(x) if monitor is not None else {}), **extra}
    return observed


def _batches(p: FrameworkSGDParams, m: int, B: int, device):
    """The batches ∇f_t is taken on, from the solver's own generator: B i.i.d. indices, B copies of one index
    (``sampling: repeat``), or all m components (``batch: null``)."""
    gen = torch.Generator(device="cpu").manual_seed(p.seed)
    everything = torch.arange(m, device=device)
    while True:
        if p.batch is None:
            yield everything
        elif p.sampling == "repeat":
            yield torch.randint(m, (1,), generator=gen).repeat(B).to(device)
        else:
            yield torch.randint(m, (B,), generator=gen).to(device)


class _Checkpoints:
    """The full evaluations of a run, outside the solver's clock: at the log-spaced schedule and ``checkpoints``
    evenly spaced iterations, the loss and gradient (counted), the exact second moment of the batch gradient,
    and at ``hessian_points`` of them ‖∇²L‖; the solver's per-step values (c², the fractions) as trace columns."""

    def __init__(self, solver: FrameworkSGD, oracle, problem, rec: Recorder, opt: FrameworkOptimizer, B: int, m: int,
                 gen: torch.Generator, extra: dict):
        p = solver.params
        self.solver, self.oracle, self.problem, self.rec, self.opt, self.gen, self.extra = \
            solver, oracle, problem, rec, opt, gen, extra
        self.B, self.m = (1 if p.sampling == "repeat" else B), m
        T = int(rec.stop.max_iter)
        marks = sorted(rec.schedule | set(np.unique(np.linspace(0, T, p.checkpoints).round().astype(int)).tolist()))
        self.marks = set(marks)
        picks = np.unique(np.geomspace(1, len(marks), p.hessian_points).round().astype(int) - 1) if p.hessian_points else []
        self.hess_at = {marks[i] for i in picks}
        self.seen: dict[str, list] = {"sigma2": [], "L": [], "g2": [], "loss": [], "it": []}

    def __call__(self, t: int, x: Tensor) -> bool:
        p = self.solver.params
        with self.rec.excluded():
            loss, grad = self.oracle.loss_grad(x)
            g2 = float(grad @ grad)
            s2 = g2 if p.batch is None else self.solver.second_moment(self.problem, x, self.B, self.m, self.gen,
                                                                      p.sigma_draws)
            for key, value in (("sigma2", s2), ("g2", g2), ("loss", float(loss)), ("it", t)):
                self.seen[key].append(value)
            if t in self.hess_at:
                self.seen["L"].append(hessian_norm(self.problem, x, p.lanczos_iters, self.gen))
            c, last = self.opt.counts(), self.opt.last
            self.extra.clear()
            self.extra.update(sigma2=s2, c2=last.c2 if last is not None else 0.0,
                              accelerating=float(last is not None and last.kind == fw.ACCELERATING),
                              accelerating_fraction=c["k"] / max(c["T"], 1),
                              decelerating_fraction=c["l"] / max(c["T"], 1))
            self.rec.trace.annotate(t, **self.extra)
        return self.rec.step(t, x, float(loss), grad)
