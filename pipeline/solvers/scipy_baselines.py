"""scipy.optimize baselines (L-BFGS-B, trust-exact, Newton-CG) behind the solver contract."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import scipy.optimize
import torch
from torch import Tensor

from pipeline.core.spec import spec
from pipeline.solvers.base import STOPPED, Observer, Recorder, StopRule, Trace


@dataclass
class ScipyParams:
    name: str = "scipy"
    label: str = "lbfgsb"
    method: str = spec("L-BFGS-B", choices=("L-BFGS-B", "trust-exact", "Newton-CG"))
    memory: int = spec(10, ge=1)


class ScipyMinimize:
    """``scipy.optimize.minimize`` with exact gradients (and Hessians or Hessian-vector
    products where the method uses them). Each iterate passes through the recorder
    via scipy's ``callback(intermediate_result)``; the stop rule ends the run by
    raising StopIteration. scipy's own tolerances are set to zero so that the
    shared stop rule decides.

    Newton-CG sees the loss divided by ‖∇L(x0)‖: its inner CG stops on an absolute curvature test
    (pᵀHp ≤ 3·machine ε), which on a loss of scale 1e-6 (a softmax-regime instance: w² = 1/n²) ends every
    run at the first step with a zero direction; the scaling makes the test relative and does not change
    the iterates of an exact method otherwise."""

    name: ClassVar[str] = "scipy"
    paper: ClassVar[str] = "baseline"
    Params: ClassVar[type] = ScipyParams

    def __init__(self, params: Optional[ScipyParams] = None, **kw):
        self.params = params or ScipyParams(**kw)

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        dtype, device = x0.dtype, x0.device
        T = lambda z: torch.from_numpy(np.ascontiguousarray(z)).to(dtype=dtype, device=device)  # noqa: E731
        N = lambda t: t.detach().cpu().numpy().astype(np.float64)  # noqa: E731
        rec = Recorder(p.label, stop, observe, x_star)
        state = {"k": 0}
        last = {}
        f0, g0 = oracle.problem.loss_grad(x0)
        g0n = float(torch.linalg.vector_norm(g0))
        c = 1.0 / g0n if p.method == "Newton-CG" and g0n > 0 else 1.0  # see the class docstring

        def fun(z):
            f, g = oracle.loss_grad(T(z))
            last["x"], last["g"] = z.copy(), g
            return c * float(f), c * N(g)

        def callback(intermediate_result):
            state["k"] += 1
            z = intermediate_result.x
            g = last["g"] if "x" in last and np.array_equal(last["x"], z) else oracle.problem.grad(T(z))
            if rec.step(state["k"], T(z), float(intermediate_result.fun) / c, g):
                raise StopIteration

        if rec.step(0, x0, float(f0), g0):
            rec.trace.oracle_calls = dict(oracle.calls)
            return rec.trace
        options = {"maxiter": stop.max_iter + 1}
        kwargs = {}
        if p.method == "L-BFGS-B":
            options.update(maxcor=p.memory, gtol=0.0, ftol=0.0, maxfun=50 * stop.max_iter + 100)
        elif p.method == "trust-exact":
            options.update(gtol=max(stop.gtol, 1e-300))
            kwargs["hess"] = lambda z: N(oracle.hess(T(z)))
        else:
            options.update(xtol=1e-300)
            kwargs["hessp"] = lambda z, v: c * N(oracle.hvp(T(z), T(v)))
        res = scipy.optimize.minimize(fun, N(x0), jac=True, method=p.method, callback=callback,
                                      options=options, **kwargs)
        tr = rec.trace
        if tr.x is None:  # scipy ended on its own criteria before the stop rule fired
            tr.x = T(res.x)
            tr.status, tr.message = STOPPED, f"scipy: {res.message}"
        tr.oracle_calls = dict(oracle.calls)
        return tr
