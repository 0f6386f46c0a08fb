"""nevergrad's SPSA optimiser (Spall's classical gains) behind the solver contract: a zeroth-order
baseline for ZO-SGD (docs/theory/p2.md §P2.5), counted in forward passes at the same budget of loss evaluations.

nevergrad 1.0.12 (``nevergrad.optimizers.SPSA``) runs, in its standardized space θ (here
x = x0 + scale·θ, θ_0 = 0), with Rademacher perturbations δ_k ∈ {±1}^d:

    y^± = L(x0 + scale·(θ_k ± c_k δ_k)),   θ_{k+1} = θ_k - a_{k+1} (y⁺ - y⁻)/(2 c_{k+1}) δ_k,
    a_j = a/(j + 1 + A)^0.602,   c_j = c/(j + 1)^0.101,

with its hard-wired constants a = 1e-5, c = 0.1 and A = max(10, budget // 20) (the practical
guidelines of Spall's ISSO book for A and the exponents; nevergrad's own comments call a and c
arbitrary). Spall's recursion uses a_k and c_k in step k; nevergrad's indices are one ahead
(read from its source and kept as they are: this wrapper does not tune the method), so its
first step uses a_1 and every gradient estimate divides by c_{k+1} instead of the c_k it was
measured with: a step ((k+2)/(k+1))^0.101 too long, 7% at the first step, under 1% after 10.
Its recommendation (``optimizer.recommend()``, what a nevergrad user gets as the answer) is the
running average of θ_0, …, θ_k (iterate averaging from θ_0 = x0), not the last iterate. In
expectation (E δδᵀ = I, up to O(c²) bias) x follows gradient descent with steps scale²·a_{k+1}:
on the P2 E2 instances (scale 1, budget 2·max_iter) a_1 is 6·10³–2·10⁴ times below ZO-SGD's
step 1/(ℓγ) ≈ 5·10⁻³, and a_k keeps shrinking. ``scale`` cannot repair this alone: it multiplies
the step by scale² and the perturbation by scale.

Counting. Every loss nevergrad asks for goes through ``oracle.column_losses`` (one forward pass a
column): 2 per SPSA step, like ZO-SGD with n = 1, and nothing else; no gradient is ever asked
for. One trace iteration = one SPSA step = 2 loss evaluations, made one after the other
(nevergrad's SPSA takes no parallel asks), so each is a forward pass of one column where ZO-SGD
evaluates its pair in one product. The budget (in loss evaluations, default 2·stop.max_iter) is
what nevergrad is told, which sets A, and the run ends when it is spent (status "stopped"). A
non-finite loss is never told to nevergrad (it would emit BadLossWarning and go on): the run
ends as diverged. Otherwise nevergrad emits no warning here, so none is filtered.

Recording. At every step the trace holds the full loss and gradient of ``point``:
``recommendation`` (default: nevergrad's answer, the iterate average) or ``current`` (the SPSA
iterate θ_k itself, read from the optimiser's state). Both are monitoring: they are computed
uncounted on the problem, with their time excluded from the solver's time. nevergrad applies a
step lazily, when it is asked for the next point; the wrapper therefore asks for the next point
before recording (that point is only evaluated if the run goes on).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import Tensor

from pipeline.core.spec import spec
from pipeline.solvers.base import DIVERGED, STOPPED, Observer, Recorder, StopRule, Trace

#: The exponents nevergrad 1.0.12 hard-wires in SPSA._ak and SPSA._ck (Spall's 0.602 and 0.101);
#: tests/pipeline/solvers/test_ng_spsa.py checks them against the installed nevergrad.
GAIN_ALPHA = 0.602
GAIN_GAMMA = 0.101


@dataclass
class NevergradSPSAParams:
    name: str = "ng_spsa"
    label: str = "ng_spsa"
    budget: Optional[int] = spec(None, ge=2)      # loss evaluations; null: 2·stop.max_iter (ZO-SGD with n = 1)
    scale: float = spec(1.0, gt=0.0)              # x = x0 + scale·θ (nevergrad's Array sigma); 1: nevergrad's default
    #: recorded point: recommendation (nevergrad's answer, the iterate average) | current (the SPSA iterate)
    point: str = spec("recommendation", choices=("recommendation", "current"))
    seed: int = spec(0, ge=0)


class NevergradSPSA:
    """``nevergrad.optimizers.SPSA`` driven by ask/tell, two loss evaluations per step (see module doc)."""

    name: ClassVar[str] = "ng_spsa"
    paper: ClassVar[str] = "baseline"
    Params: ClassVar[type] = NevergradSPSAParams
    zeroth_order: ClassVar[bool] = True  # asks only for losses (forward passes)
    # With nevergrad's gains (a = 1e-5) the battery instance's relative gap (recommendation) falls
    # only from 1 to 0.9705 in 50 000 steps (seeds 0 and 1; 0.98 after about 27 700 steps); the battery
    # asks for 0.99, which it reaches in about half of that.
    battery_eps: ClassVar[float] = 0.99

    def __init__(self, params: Optional[NevergradSPSAParams] = None, **kw):
        self.params = params or NevergradSPSAParams(**kw)

    def settings(self, opt, budget: int) -> dict[str, float]:
        """The gains nevergrad chose and the settings of the run, as recorded in the trace."""
        p = self.params
        return {"budget": float(budget), "scale": float(p.scale), "gain_a": float(opt.a),
                "gain_c": float(opt.c), "gain_A": float(opt.A), "gain_alpha": GAIN_ALPHA,
                "gain_gamma": GAIN_GAMMA, "step_a_x": float(opt.a) * p.scale**2,
                "perturbation_c_x": float(opt.c) * p.scale,
                "point_is_recommendation": float(p.point == "recommendation"),
                "evaluations": 0.0, "seed": float(p.seed)}

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        import nevergrad as ng  # about 2 s to import: only when this solver runs

        p = self.params
        dtype, device = x0.dtype, x0.device
        rec = Recorder(p.label, stop, observe, x_star)
        budget = int(p.budget) if p.budget is not None else 2 * int(stop.max_iter)
        param = ng.p.Array(init=x0.detach().cpu().numpy().astype(np.float64)).set_mutation(sigma=p.scale)
        param.random_state = np.random.RandomState(p.seed)  # δ_k are drawn from it: the run is seeded
        opt = ng.optimizers.SPSA(parametrization=param, budget=budget, num_workers=1)
        rec.trace.info = self.settings(opt, budget)
        monitor = getattr(oracle, "problem", oracle)
        state = {"evals": 0}

        def to_torch(v) -> Tensor:
            return torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype, device=device)

        def evaluate(cand) -> Optional[float]:
            """The loss at an asked candidate (one counted forward pass), told to nevergrad."""
            f = float(oracle.column_losses(to_torch(cand.value).unsqueeze(1))[0])
            state["evals"] += 1
            if not math.isfinite(f):  # never tell it: nevergrad would warn (BadLossWarning) and go on
                return None
            opt.tell(cand, f)
            return f

        def held_point() -> Tensor:
            if p.point == "recommendation":
                return to_torch(opt.recommend().value)
            child = opt.parametrization.spawn_child()
            child.set_standardized_data(np.asarray(opt.t, dtype=np.float64))  # θ_k, nevergrad's iterate
            return to_torch(child.value)

        def finish(tr: Trace) -> Trace:
            tr.info["evaluations"] = float(state["evals"])
            tr.oracle_calls = dict(oracle.calls)
            return tr

        x = x0.clone()
        with rec.excluded():
            loss, grad = monitor.loss_grad(x)
        pending = opt.ask()  # θ_0 - c_0 δ_0
        k = 0
        while not rec.step(k, x, float(loss), grad):
            if state["evals"] + 2 > budget:
                return finish(rec.fail(x, STOPPED, f"nevergrad budget of {budget} loss evaluations spent"))
            if evaluate(pending) is None:
                return finish(rec.fail(x, DIVERGED, f"non-finite loss at a perturbed point of step {k}"))
            plus = opt.ask()  # θ_k + c_k δ_k
            if evaluate(plus) is None:
                return finish(rec.fail(x, DIVERGED, f"non-finite loss at a perturbed point of step {k}"))
            pending = opt.ask()  # nevergrad applies step k now (θ_k → θ_{k+1}) and proposes the next point
            k += 1
            with rec.excluded():
                x = held_point()
                loss, grad = monitor.loss_grad(x)
        return finish(rec.trace)
