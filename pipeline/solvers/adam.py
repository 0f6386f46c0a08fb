"""torch.optim.Adam on the full gradient: the first-order method attention is trained with in practice,
as a baseline for the second-order methods of P1 and P3."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from pipeline.core.spec import spec
from pipeline.solvers.base import Observer, Recorder, StopRule, Trace


@dataclass
class AdamParams:
    name: str = "adam"
    label: str = "adam"
    lr: float = spec(1e-2, gt=0.0)
    beta1: float = spec(0.9, ge=0.0, lt=1.0)
    beta2: float = spec(0.999, ge=0.0, lt=1.0)
    eps: float = spec(1e-8, gt=0.0)
    amsgrad: bool = False


class Adam:
    """x_{t+1} = Adam step of torch.optim.Adam with the full (deterministic) gradient ∇L(x_t).

    A constant learning rate does not converge linearly: near x* the step is about lr·sign(∇L)
    until the second-moment estimate decays, so the accuracy it reaches is stated for the shared
    solver battery (``battery_eps``).
    """

    name: ClassVar[str] = "adam"
    paper: ClassVar[str] = "baseline"
    Params: ClassVar[type] = AdamParams
    battery_eps: ClassVar[float] = 1e-6

    def __init__(self, params: Optional[AdamParams] = None, **kw):
        self.params = params or AdamParams(**kw)

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        rec = Recorder(p.label, stop, observe, x_star)
        param = torch.nn.Parameter(x0.clone())
        opt = torch.optim.Adam([param], lr=p.lr, betas=(p.beta1, p.beta2), eps=p.eps, amsgrad=p.amsgrad)
        loss, g = oracle.loss_grad(param.data)
        k = 0
        while not rec.step(k, param.data, float(loss), g):
            param.grad = g.clone()
            opt.step()
            loss, g = oracle.loss_grad(param.data)  # a non-finite loss ends the run as diverged (Recorder)
            k += 1
        rec.trace.oracle_calls = dict(oracle.calls)
        return rec.trace
