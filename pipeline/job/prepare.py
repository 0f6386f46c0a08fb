"""Step 1 of a job: the instance (with its reference optimum), the problem on the job's device, the
start point, the solver and its stop rule."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from kernels.backend import resolve as resolve_backend
from pipeline.core.paths import project_root
from pipeline.problems import PROBLEMS
from pipeline.core.errors import ConfigError
from pipeline.reference import Instance, build_instance
from pipeline.solvers import StopRule, make_solver


def instance_cache() -> Path:
    """The content-addressed instance cache, ``<project>/.cache/instances``: shared by every job and stage of
    the project (``SOFTMAX_LAB_ROOT`` moves it with the results), whatever the run folder or tracking store."""
    return Path(project_root()) / ".cache" / "instances"


@dataclass
class Prepared:
    """Everything a solve needs, made from the config."""

    instance: Instance
    problem: Any
    x0: torch.Tensor
    x_star: torch.Tensor
    f_star: Optional[float]
    solver: Any
    solver_params: Any
    stop: StopRule
    device: torch.device
    backend: str


def initial_point(cfg: DictConfig, dim: int, dtype, device, x_star: Optional[torch.Tensor] = None,
                  problem=None) -> torch.Tensor:
    """x0 = 0 (``zeros``); a point of norm ``x0_radius`` in a direction drawn from ``seed`` (``sphere``);
    x* plus such a point (``near_reference``: a local start, e.g. for P3's local claim); or the problem's
    own initialisation (``problem``: ``problem.initial_point()``, part of its instance)."""
    if cfg.x0 == "problem":
        init = getattr(problem, "initial_point", None)
        if init is None:
            raise ConfigError("x0", f"x0=problem needs a problem with its own initialisation; "
                              f"problem {getattr(problem, 'name', '?')!r} has none (use zeros or sphere)")
        return init().to(dtype=dtype, device=device)
    if cfg.x0 == "zeros":
        return torch.zeros(dim, dtype=dtype, device=device)
    g = torch.Generator(device="cpu").manual_seed(int(cfg.seed) + 7919)
    v = torch.randn(dim, generator=g, dtype=torch.float64)
    x0 = (cfg.x0_radius * v / torch.linalg.vector_norm(v)).to(dtype=dtype, device=device)
    if cfg.x0 == "near_reference":
        if x_star is None:
            raise ValueError("x0=near_reference needs the reference optimum x*")
        x0 = x0 + x_star
    return x0


def stop_rule(cfg: DictConfig, f_star: Optional[float]) -> StopRule:
    s = cfg.stop
    return StopRule(eps=s.eps, gtol=s.gtol, max_iter=s.max_iter, max_time_s=s.max_time_s, f_star=f_star,
                    blowup=s.blowup, max_step=math.inf if s.max_step is None else s.max_step,
                    patience=s.patience)


def prepare(cfg: DictConfig, cache_dir: Path) -> Prepared:
    """Build (or read from the cache) the instance and set the problem, x0, solver and stop rule up."""
    inst = build_instance(cfg, cache_dir)
    dtype, device = getattr(torch, cfg.dtype), torch.device(cfg.device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # Triton launches on the current device: make it the job's (cuda:1, ...)
    backend = resolve_backend(cfg.kernels.backend, device)
    cls = PROBLEMS[cfg.problem.name]
    options = {"params": OmegaConf.to_object(cfg.problem)} if hasattr(cls, "Params") else {}  # the problem's own keys
    problem = cls.from_arrays(inst.arrays, dtype=dtype, device=device, backend=backend, **options)
    if hasattr(problem, "constants"):
        problem.constants = dict(inst.constants)  # measured at x* (e.g. for ZO-SGD's theory step)
    x_star = torch.as_tensor(inst.x_star, dtype=dtype, device=device)
    f_star = inst.f_star if math.isfinite(inst.f_star) else None  # None: reference.method=none
    params = OmegaConf.to_object(cfg.solver)
    return Prepared(inst, problem, initial_point(cfg, problem.dim, dtype, device, x_star, problem), x_star, f_star,
                    make_solver(params), params, stop_rule(cfg, f_star), device, backend)
