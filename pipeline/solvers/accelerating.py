"""The framework step of Deng, Song and Yang (arXiv 2402.01515) around SGD, SGD with momentum and Adam, as a
``torch.optim.Optimizer`` (docs/theory/e08.md §1–§4).

Each step reads the stochastic gradient ∇f_t from ``p.grad`` and the method's "acceleration" direction v_t from
its state (docs/theory/e08.md §4):

* ``sgd``: no direction (every step is plain: g_t = ∇f_t);
* ``sgdm``: v_t = m_{t−1}, the momentum buffer before this step (m_t = β m_{t−1} + ∇f_t);
* ``adam``: v_t = (Adam's direction m̂_t/(√ŝ_t + ε)) − ∇f_t, the moments updated with ∇f_t first.

``accelerate`` picks the step: ``none`` — the base method's own update (SGD: ∇f_t; SGDm: m_t = ∇f_t + β m_{t−1};
Adam: m̂_t/(√ŝ_t + ε)), not of the framework's form; ``framework`` — g_t = ∇f_t + 2|⟨v_t,∇f_t⟩|/‖v_t‖² v_t;
``ra`` — Reject Accelerating: a decelerating direction (⟨v_t,∇f_t⟩ < 0) is dropped, g_t = ∇f_t;
``rva`` — Random Vector Accelerating: v_t from :func:`kernels.framework.rva_direction` (rule ``sign``, the
ledger's reading, or ``mix``), drawn from the optimizer's explicit generator. In every case the method's state
is updated with ∇f_t, and x ← x − lr·(step).

Inner products run over all parameters at once (the parameters as one vector), so the hyperparameters (lr,
momentum, betas, eps) are those of the first parameter group. Every step is logged
(:attr:`FrameworkOptimizer.log`: the step's kind — +1 accelerating, −1 decelerating, 0 plain —, ⟨v_t,∇f_t⟩ ≥ 0 and
c_t²) and summarised in :meth:`FrameworkOptimizer.counts` (k, l, u_a, u_b, B of docs/theory/e08.md §3). For
``none``, the log classifies the method's own direction the same way, for information only: its steps are not
framework steps, so the theorem's bound is not evaluated on them.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional

import torch
from torch import Tensor

from kernels import framework as fw

BASES = ("sgd", "sgdm", "adam")
ACCELERATIONS = ("none", "framework", "ra", "rva")


class FrameworkOptimizer(torch.optim.Optimizer):
    """x ← x − lr·g_t with the framework's g_t around a base method (module docstring; docs/theory/e08.md §4).

    ``generator``: the explicit torch.Generator RVA draws its Gaussian vectors from (required for ``rva``).
    ``keep_log``: keep the per-step log (kind, ⟨v,∇f⟩, c²); the running counts are kept either way.
    """

    def __init__(self, params: Iterable, lr: float, base: str = "sgd", accelerate: str = "framework",
                 momentum: float = 0.9, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 rva_rule: str = "sign", rva_mix: float = 1.0, generator: Optional[torch.Generator] = None,
                 keep_log: bool = True):
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        if accelerate not in ACCELERATIONS:
            raise ValueError(f"accelerate must be one of {ACCELERATIONS}, got {accelerate!r}")
        if rva_rule not in fw.RVA_RULES:
            raise ValueError(f"rva_rule must be one of {fw.RVA_RULES}, got {rva_rule!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if accelerate == "rva" and generator is None:
            raise ValueError("accelerate='rva' needs an explicit torch.Generator (generator=...)")
        defaults = dict(lr=lr, momentum=momentum, betas=tuple(betas), eps=eps)
        super().__init__(params, defaults)
        self.base, self.accelerate, self.rva_rule, self.rva_mix = base, accelerate, rva_rule, float(rva_mix)
        self.generator, self.keep_log = generator, keep_log
        self.steps = 0
        self.log: dict[str, list] = {"kind": [], "ip_nonnegative": [], "c2": []}
        self._k = self._l = self._plain = self._rejected = 0
        self._u_a, self._B, self._u_b = math.inf, 0.0, 0.0
        self.last: Optional[fw.FrameworkStep] = None

    # ------------------------------------------------------------------ the base methods' directions
    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"] if p.grad is not None]

    def _own(self, params: list[Tensor], grads: list[Tensor]) -> tuple[Optional[list[Tensor]], list[Tensor]]:
        """(v_t per parameter or None, the base method's own step per parameter); updates the state with ∇f_t."""
        group = self.param_groups[0]
        if self.base == "sgd":
            return None, grads
        if self.base == "sgdm":
            beta = group["momentum"]
            vs, steps = [], []
            for p, g in zip(params, grads):
                st = self.state[p]
                buf = st.get("momentum_buffer")
                vs.append(torch.zeros_like(g) if buf is None else buf.clone())
                st["momentum_buffer"] = g.clone() if buf is None else buf.mul_(beta).add_(g)
                steps.append(st["momentum_buffer"])
            return vs, steps
        b1, b2 = group["betas"]
        eps = group["eps"]
        vs, steps = [], []
        for p, g in zip(params, grads):
            st = self.state[p]
            if not st:
                st["step"], st["exp_avg"], st["exp_avg_sq"] = 0, torch.zeros_like(g), torch.zeros_like(g)
            st["step"] += 1
            st["exp_avg"].mul_(b1).add_(g, alpha=1 - b1)
            st["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
            t = st["step"]
            direction = (st["exp_avg"] / (1 - b1**t)) / ((st["exp_avg_sq"] / (1 - b2**t)).sqrt() + eps)
            vs.append(direction - g)
            steps.append(direction)
        return vs, steps

    # ------------------------------------------------------------------ one step
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = self._params()
        if not params:
            return loss
        grads = [p.grad.detach() for p in params]
        vs, own_steps = self._own(params, grads)
        flat_g = torch.cat([g.reshape(-1) for g in grads])
        flat_v = None if vs is None else torch.cat([v.reshape(-1) for v in vs])
        if self.accelerate == "rva":
            flat_v = fw.rva_direction(flat_g, self.generator, self.rva_rule, flat_v, self.rva_mix)
        res = fw.framework_step(flat_g, flat_v, reject=self.accelerate == "ra")
        self._count(res)
        lr = self.param_groups[0]["lr"]
        if self.accelerate == "none":
            for p, s in zip(params, own_steps):
                p.add_(s, alpha=-lr)
        else:
            offset = 0
            for p in params:
                n = p.numel()
                p.add_(res.g[offset:offset + n].view_as(p), alpha=-lr)
                offset += n
        self.steps += 1
        self.last = res
        return loss

    def _count(self, res: fw.FrameworkStep) -> None:
        if res.kind == fw.ACCELERATING:
            self._k += 1
            self._u_a, self._B = min(self._u_a, res.c2), max(self._B, res.c2)
        elif res.kind == fw.DECELERATING:
            self._l += 1
            self._u_b = max(self._u_b, res.c2)
        else:
            self._plain += 1
            self._rejected += int(res.rejected)
        if self.keep_log:
            self.log["kind"].append(res.kind)
            self.log["ip_nonnegative"].append(res.ip >= 0.0 if res.kind != fw.PLAIN or res.rejected else None)
            self.log["c2"].append(res.c2)

    def counts(self) -> dict[str, float]:
        """T, k, l, plain and rejected steps, u_a = min c² and B = max c² over the accelerating steps, u_b = max c²
        over the decelerating ones (docs/theory/e08.md §3; 0 where there is no such step)."""
        return {"T": self.steps, "k": self._k, "l": self._l, "plain": self._plain, "rejected": self._rejected,
                "u_a": self._u_a if self._k else 0.0, "B": self._B, "u_b": self._u_b}

    @property
    def framework_form(self) -> bool:
        """Whether the steps taken are the framework's g_t (every ``accelerate`` but ``none``; plain SGD too)."""
        return self.accelerate != "none" or self.base == "sgd"
