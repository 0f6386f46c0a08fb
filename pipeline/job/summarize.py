"""Step 3 of a job: the summary of record (``summary.json``, DESIGN.md §3) and the final metrics."""
from __future__ import annotations

from typing import Any, Optional

import torch
from omegaconf import DictConfig

from pipeline.job.prepare import Prepared
from pipeline.reference import diagnostics
from pipeline.solvers import Trace
from pipeline.solvers.base import DIVERGED, FINISHED

#: how a run ended, in the words of the job line and the sweep's table (Trace.status → outcome)
OUTCOMES = {FINISHED: "converged"}


def override_map(overrides: Optional[list[str]]) -> dict[str, str]:
    """The job's own overrides as {key: value} (the swept values of a study's run)."""
    out = {}
    for o in overrides or []:
        if "=" in o:
            k, v = o.split("=", 1)
            out[k.lstrip("+~")] = v
    return out


def final_point(job: Prepared, trace: Trace) -> dict[str, Any]:
    """The loss, gradient norm and distance to x* at the solver's last point."""
    x = trace.x if trace.x is not None else job.x0
    loss_x, grad_x = job.problem.loss_grad(x)
    return {"x": x, "final_loss": float(loss_x), "final_grad_norm": float(torch.linalg.vector_norm(grad_x)),
            "final_distance": float(torch.linalg.vector_norm(x - job.x_star))}


def observed(problem) -> dict[str, float]:
    """What the problem recorded along the run (its ``observed()``, e.g. the largest ‖A1X‖_∞ of E07's
    problem over the points the solver evaluated); {} for a problem that records nothing."""
    fn = getattr(problem, "observed", None)
    return dict(fn()) if fn is not None else {}


def summarize(cfg: DictConfig, job: Prepared, trace: Trace, config_hash: str, run_id: Optional[str],
              overrides: Optional[list[str]]) -> tuple[dict[str, Any], Any]:
    """The summary of the run (``job_time_s`` is filled in when the files are written) and its final x."""
    end = final_point(job, trace)
    summary = {
        "status": "diverged" if trace.status == DIVERGED else "finished",
        "converged": trace.status == FINISHED,
        "outcome": OUTCOMES.get(trace.status, trace.status),
        "message": trace.message,
        "final_loss": end["final_loss"],
        "final_grad_norm": end["final_grad_norm"],
        "final_distance": end["final_distance"],
        "final_relative_gap": float(trace.relative_gap()[-1]) if len(trace) else None,
        "iterations": trace.iterations,
        "iterations_to_eps": trace.iterations_to_eps(cfg.stop.eps_grid),
        "iterations_per_decade": trace.iterations_per_decade(),
        "decay_r2": trace.log_linearity(),
        "wall_time_s": trace.last.time_s if len(trace) else 0.0,
        "time_per_iteration_s": (trace.last.time_s / trace.iterations) if trace.iterations else None,
        "job_time_s": None,
        "config_hash": config_hash,
        "solver": job.solver_params.label,
        "problem": cfg.problem.name,
        "paper": cfg.problem.paper,
        "study": cfg.study.name if cfg.get("study") else None,
        "seed": int(cfg.seed),
        "device": str(job.device),
        "kernels_backend": job.backend,
        "instance_key": job.instance.key,
        "instance": job.instance.constants,
        "f_star": job.f_star,
        "oracle_calls": trace.oracle_calls,
        "solver_info": trace.info,
        "diagnostics": diagnostics.measure(job.problem, cfg),
        "observed": observed(job.problem),
        "overrides": override_map(overrides),
        "mlflow_run_id": run_id,
    }
    return summary, end["x"]


def final_metrics(summary: dict[str, Any], trace: Trace) -> dict[str, Optional[float]]:
    """The run's last metrics: final values, iteration counts, oracle calls, diagnostics, solver settings."""
    return {"final_loss": summary["final_loss"], "final_grad_norm": summary["final_grad_norm"],
            "final_distance": summary["final_distance"], "iterations": trace.iterations,
            "wall_time_s": summary["wall_time_s"], "iterations_per_decade": summary["iterations_per_decade"],
            **{f"iterations_to_eps_{k}": v for k, v in summary["iterations_to_eps"].items()},
            **{f"oracle_{k}": v for k, v in trace.oracle_calls.items()},
            **{f"diagnostics_{k}": v for k, v in summary["diagnostics"].items()},
            **{f"observed_{k}": v for k, v in summary.get("observed", {}).items() if isinstance(v, (int, float))},
            **{f"info_{k}": v for k, v in trace.info.items() if isinstance(v, (int, float))}}
