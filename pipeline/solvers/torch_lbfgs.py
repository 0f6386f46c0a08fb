"""torch.optim.LBFGS (strong-Wolfe line search) behind the solver contract: a baseline that keeps
the iterate on the problem's device and dtype."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from pipeline.core.spec import spec
from pipeline.solvers.base import DIVERGED, Observer, Recorder, StopRule, Trace


@dataclass
class TorchLBFGSParams:
    name: str = "torch_lbfgs"
    label: str = "torch_lbfgs"
    memory: int = spec(10, ge=1)
    line_search: str = spec("strong_wolfe", choices=("strong_wolfe", "none"))
    lr: float = spec(1.0, gt=0.0)


class _Stop(Exception):
    pass


class TorchLBFGS:
    """A single ``optimizer.step(closure)`` with max_iter from the stop rule (calling step() once
    per iteration with max_iter=1 stalls in torch: the line search restarts each call). An
    iteration is recorded when torch starts the next one: the last point evaluated before
    ``n_iter`` advances is the accepted iterate. torch's own tolerances are zero, so the shared
    stop rule decides (through an exception out of the closure)."""

    name: ClassVar[str] = "torch_lbfgs"
    paper: ClassVar[str] = "baseline"
    Params: ClassVar[type] = TorchLBFGSParams

    def __init__(self, params: Optional[TorchLBFGSParams] = None, **kw):
        self.params = params or TorchLBFGSParams(**kw)

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        rec = Recorder(p.label, stop, observe, x_star)
        param = torch.nn.Parameter(x0.clone())
        opt = torch.optim.LBFGS([param], lr=p.lr, max_iter=stop.max_iter, max_eval=50 * stop.max_iter + 100,
                                history_size=p.memory, tolerance_grad=0.0, tolerance_change=0.0,
                                line_search_fn=None if p.line_search == "none" else "strong_wolfe")
        seen = {"k": 0, "last": None}

        def record(k: int, x: Tensor, f: Tensor, g: Tensor) -> None:
            if not math.isfinite(float(f)):
                raise _Stop("diverged")
            if rec.step(k, x, float(f), g):
                raise _Stop("stop")

        def closure():
            k = opt.state[param].get("n_iter", 0)
            if k != seen["k"] and seen["last"] is not None:
                record(k, *seen["last"])  # the point accepted by iteration k
                seen["k"] = k
            with torch.no_grad():
                f, g = oracle.loss_grad(param.data)
            if seen["last"] is None:
                record(0, param.data.clone(), f, g)
            seen["last"] = (param.data.clone(), f, g)
            param.grad = g.clone()
            return f

        try:
            opt.step(closure)
            x, f, g = seen["last"]
            k = opt.state[param].get("n_iter", 0)
            if k != seen["k"]:
                record(k, x, f, g)
            rec.trace.x = x
            rec.trace.message = "torch.optim.LBFGS ended on its own criteria"
        except _Stop as reason:
            if str(reason) == "diverged":
                return rec.fail(seen["last"][0], DIVERGED, "non-finite loss")
        rec.trace.oracle_calls = dict(oracle.calls)
        return rec.trace
