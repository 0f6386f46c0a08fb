"""One job: synthesize (or load) the instance, solve it, write the files of record, mirror to MLflow.

The stage modules and ``python -m pipeline`` call :func:`run`; it holds no
mathematics (that is in kernels/, problems/, solvers/).
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Optional

import torch
from omegaconf import DictConfig, OmegaConf

from kernels.backend import resolve as resolve_backend

from pipeline import diagnostics, tracking
from pipeline.data import Instance, build_instance
from pipeline.paths import project_root
from pipeline.problems import PROBLEMS, CountingOracle
from pipeline.results import config_hash, write_json, write_solution
from pipeline.schema import validate
from pipeline.solvers import StopRule, make_solver
from pipeline.solvers.base import DIVERGED, FINISHED

SUMMARY = "summary.json"


def initial_point(cfg: DictConfig, dim: int, dtype, device, x_star: Optional[torch.Tensor] = None) -> torch.Tensor:
    """x0 = 0 (``zeros``); a point of norm ``x0_radius`` in a direction drawn from ``seed`` (``sphere``);
    or x* plus such a point (``near_reference``: a local start, e.g. for P3's local claim)."""
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


def setup(cfg: DictConfig) -> Instance:
    """Validate the config and build the instance; raises ConfigError/DataError (exit 2)."""
    validate(cfg)
    return build_instance(cfg, Path(project_root()) / ".cache" / "instances")


class Progress:
    """A rich progress line for long solves (only on a terminal)."""

    def __init__(self, enabled: bool, label: str, max_iter: int):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress as RP, TextColumn, TimeElapsedColumn

            self.bar = RP(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                          TimeElapsedColumn(), transient=True)
            self.task = self.bar.add_task(label, total=max_iter, info="")
            self.bar.start()

    def update(self, iteration: int, info: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=iteration, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run(cfg: DictConfig, output_dir: Path, parent_run_id: Optional[str] = None,
        overrides: Optional[list[str]] = None) -> dict:
    """Run one job and return its summary (also written to ``output_dir/summary.json``)."""
    t_start = time.perf_counter()
    validate(cfg)
    chash = config_hash(cfg)
    if cfg.tracking.backend != "off":
        if parent_run_id is None:  # a single run; a sweep does this once, before its jobs (tracking.start_parent)
            tracking.ensure_store(cfg.tracking.uri)
            tracking.reap_orphans(cfg.tracking.uri, cfg.tracking.experiment)
        if cfg.resume:
            resumed = resume(cfg, chash, output_dir)
            if resumed is not None:
                return resumed
    inst = setup(cfg)
    dtype = getattr(torch, cfg.dtype)
    device = torch.device(cfg.device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # Triton launches on the current device: make it the job's (cuda:1, ...)
    backend = resolve_backend(cfg.kernels.backend, device)
    problem = PROBLEMS[cfg.problem.name].from_arrays(inst.arrays, dtype=dtype, device=device, backend=backend)
    if hasattr(problem, "constants"):
        problem.constants = dict(inst.constants)  # measured at x* (e.g. for ZO-SGD's theory step)
    x_star = torch.as_tensor(inst.x_star, dtype=dtype, device=device)
    x0 = initial_point(cfg, problem.dim, dtype, device, x_star)
    solver_params = OmegaConf.to_object(cfg.solver)
    solver = make_solver(solver_params)
    f_star = inst.f_star if math.isfinite(inst.f_star) else None  # None: reference.method=none
    stop = StopRule(eps=cfg.stop.eps, gtol=cfg.stop.gtol, max_iter=cfg.stop.max_iter,
                    max_time_s=cfg.stop.max_time_s, f_star=f_star, blowup=cfg.stop.blowup,
                    max_step=math.inf if cfg.stop.max_step is None else cfg.stop.max_step)
    output_dir.mkdir(parents=True, exist_ok=True)

    logger = None
    if cfg.tracking.backend != "off":
        tags = dict(tracking.base_tags(cfg, project_root()), config_hash=chash,
                    solver=solver_params.label, instance=inst.key, device=str(device), kernels_backend=backend)
        run_name = run_label(solver_params.label, int(cfg.seed), overrides)
        logger = tracking.RunLogger(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_root,
                                    run_name[:250], tags, parent_run_id)
    with logger if logger is not None else contextlib.nullcontext():
        if logger is not None:
            params = tracking.config_params(cfg)
            params.update({f"instance.{k}": f"{v:.6g}" for k, v in inst.constants.items()})
            logger.log_params(params)
        prog = Progress(cfg.progress, solver_params.label, cfg.stop.max_iter)
        gap0 = {}

        def observe(rec) -> None:
            if f_star is None:
                rel = math.nan
            else:
                gap0.setdefault("g", rec.loss - f_star)
                rel = (rec.loss - f_star) / gap0["g"] if gap0["g"] > 0 else 0.0
            if logger is not None:
                logger.metrics({"loss": rec.loss, "grad_norm": rec.grad_norm, "distance": rec.distance,
                                "relative_gap": rel if math.isfinite(rel) else None}, step=rec.iteration)
            prog.update(rec.iteration, f"gap {rel:.2e}")

        try:
            trace = solver.run(CountingOracle(problem), x0, stop, observe, x_star=x_star)
        finally:
            prog.close()

        x = trace.x if trace.x is not None else x0
        loss_x, grad_x = problem.loss_grad(x)
        final_loss, final_grad = float(loss_x), float(torch.linalg.vector_norm(grad_x))
        status = "diverged" if trace.status == DIVERGED else "finished"
        measured = diagnostics.measure(problem, cfg)
        to_eps = trace.iterations_to_eps(cfg.stop.eps_grid)
        summary = {
            "status": status,
            "converged": trace.status == FINISHED,
            "message": trace.message,
            "final_loss": final_loss,
            "final_grad_norm": final_grad,
            "final_distance": float(torch.linalg.vector_norm(x - x_star)),
            "final_relative_gap": float(trace.relative_gap()[-1]) if len(trace) else None,
            "iterations": trace.iterations,
            "iterations_to_eps": to_eps,
            "iterations_per_decade": trace.iterations_per_decade(),
            "decay_r2": trace.log_linearity(),
            "wall_time_s": trace.last.time_s if len(trace) else 0.0,
            "time_per_iteration_s": (trace.last.time_s / trace.iterations) if trace.iterations else None,
            "job_time_s": None,
            "config_hash": chash,
            "solver": solver_params.label,
            "problem": cfg.problem.name,
            "paper": cfg.problem.paper,
            "study": cfg.study.name if cfg.get("study") else None,
            "seed": int(cfg.seed),
            "device": str(device),
            "kernels_backend": backend,
            "instance_key": inst.key,
            "instance": inst.constants,
            "f_star": f_star,
            "oracle_calls": trace.oracle_calls,
            "solver_info": trace.info,
            "diagnostics": measured,
            "overrides": _override_map(overrides),
            "mlflow_run_id": logger.run_id if logger else None,
        }
        write_solution(output_dir / "solution.npz", x.detach().cpu().numpy())
        trace.to_frame().to_parquet(output_dir / "trace.parquet", index=False)
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(_no_hydra(cfg), resolve=True))
        summary["job_time_s"] = time.perf_counter() - t_start
        write_json(output_dir / SUMMARY, summary)
        if logger is not None:
            logger.metrics({"final_loss": final_loss, "final_grad_norm": final_grad,
                            "final_distance": summary["final_distance"], "iterations": trace.iterations,
                            "wall_time_s": summary["wall_time_s"],
                            "iterations_per_decade": summary["iterations_per_decade"],
                            **{f"iterations_to_eps_{k}": v for k, v in to_eps.items()},
                            **{f"oracle_{k}": v for k, v in trace.oracle_calls.items()},
                            **{f"diagnostics_{k}": v for k, v in measured.items()},
                            **{f"info_{k}": v for k, v in trace.info.items() if isinstance(v, (int, float))}},
                           step=trace.iterations)
            logger.set_tags({"status": status})
            logger.artifacts([output_dir / name for name in tracking.RESTORED_FILES])
            logger.end("FINISHED")
    return summary


def resume(cfg: DictConfig, chash: str, output_dir: Path) -> Optional[dict]:
    """Skip a job whose config hash already has a FINISHED run in the store (``resume=true``, the
    default): its files of record are restored into ``output_dir`` from that run's artifacts and its
    summary is returned, with ``resumed_from`` = that run's id (not written to the file). None when
    there is no such run or its files cannot be restored: the job then runs."""
    t = cfg.tracking
    prior = tracking.finished_run(t.uri, t.experiment, chash)
    if prior is None or not tracking.restore_files(t.uri, prior.info.run_id, output_dir):
        return None
    import json

    summary = json.loads((output_dir / SUMMARY).read_text())
    return summary | {"resumed_from": prior.info.run_id}


def limit_threads(n: int) -> None:
    """Run this process's torch and BLAS (numpy, scipy) compute on ``n`` threads (config key ``threads``).

    Reductions split across threads add in another order, so the thread count is part of what makes a
    solution bitwise reproducible: with the same ``threads`` a job gives the same bits whichever
    launcher (basic, joblib, submitit, Ray) runs it."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


def run_label(solver: str, seed: int, overrides: Optional[list[str]]) -> str:
    """A readable MLflow run name: the solver, then the job's own overrides (no bookkeeping keys)."""
    skip = ("solver=", "seed=", "+study=", "study=", "profile=", "tracking", "hydra", "results_dir=", "progress=")
    rest = [o for o in overrides or [] if not o.lstrip("+~").startswith(skip)]
    return " ".join([solver, f"seed={seed}", *rest])


def _override_map(overrides: Optional[list[str]]) -> dict[str, str]:
    out = {}
    for o in overrides or []:
        if "=" in o:
            k, v = o.split("=", 1)
            out[k.lstrip("+~")] = v
    return out


def _no_hydra(cfg: DictConfig) -> DictConfig:
    c = OmegaConf.to_container(cfg, resolve=True)
    c.pop("hydra", None)
    return OmegaConf.create(c)

