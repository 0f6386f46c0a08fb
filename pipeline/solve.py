"""``python -m pipeline.solve [overrides]`` (also ``python -m pipeline``): one job, or a sweep with ``-m``.

Synthesizes (or loads from the cache or a file) the instance, solves it and writes ``summary.json``,
``solution.npz``, ``trace.parquet`` and ``config.yaml``, mirrored to the tracking sink.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from omegaconf import DictConfig

from pipeline import job, tracking
from pipeline.cli import JOBS_ENV, main as front_door


def job_task(cfg: DictConfig) -> dict:
    """One job (or one job of a sweep), with the sweep's parent run when there is one."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    sweep = hc.mode == RunMode.MULTIRUN
    sink = tracking.sink(cfg.tracking)
    parent = tracking.parent_of(hc.sweep.dir) if sweep else None
    if not sweep:
        sink.open()  # a sweep did this once, before its jobs (tracking.sweeps.start_parent)
    job.limit_threads(int(cfg.threads))
    summary = job.run(cfg, Path(hc.runtime.output_dir), sink, parent, list(hc.overrides.task))
    report_job(summary, hc.runtime.output_dir, hc.job.num if sweep else None)
    return summary


def report_job(summary: dict, output_dir: str, job_num: Optional[int]) -> None:
    """One line per finished job; in a sweep, prefixed by the job's number out of the sweep's total."""
    from rich.console import Console
    from rich.markup import escape

    outcome = summary.get("outcome", summary["status"])
    color = {"converged": "green", "max_iter": "yellow", "stalled": "yellow", "stopped": "yellow"}.get(outcome, "red")
    gap = summary["final_relative_gap"]
    prefix = escape(f"[job {job_num + 1}/{os.environ.get(JOBS_ENV, '?')}] ") if job_num is not None else ""
    console = Console(highlight=False, soft_wrap=True)
    if summary.get("resumed_from"):
        console.print(f"{prefix}{summary['solver']}: resumed from run {summary['resumed_from']} (same config and code; "
                      f"resume=false reruns it) -> {escape(str(output_dir))}")
        return
    why = "" if outcome == "converged" else f" ({escape(str(summary['message']))})"
    console.print(
        f"{prefix}{summary['solver']}: [{color}]{outcome}[/{color}]{why} after {summary['iterations']} "
        f"iterations, final gap {gap:.2e}, ‖∇L‖ = {summary['final_grad_norm']:.2e} -> {escape(str(output_dir))}"
        if gap is not None else f"{prefix}{summary['solver']}: {outcome}{why} -> {output_dir}")


def main() -> None:
    sys.exit(front_door(job_task))


if __name__ == "__main__":
    main()
