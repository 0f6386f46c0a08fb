"""Step 4 of a job: the files of record in the output folder, mirrored to the run."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from pipeline.core.records import resolved, write_json, write_solution
from pipeline.core.sink import Run
from pipeline.solvers import Trace

SUMMARY = "summary.json"
#: The files of record of a job, all logged as the run's artifacts; a resumed job restores them.
RECORD_FILES = (SUMMARY, "solution.npz", "trace.parquet", "config.yaml")


def write_files(cfg: DictConfig, summary: dict[str, Any], x, trace: Trace, output_dir: Path, t_start: float) -> None:
    """``solution.npz``, ``trace.parquet``, ``config.yaml`` (resolved, without Hydra's node) and, last,
    ``summary.json`` with the job's total time."""
    output_dir.mkdir(parents=True, exist_ok=True)
    write_solution(output_dir / "solution.npz", x.detach().cpu().numpy())
    trace.to_frame().to_parquet(output_dir / "trace.parquet", index=False)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(resolved(cfg)), resolve=True))
    summary["job_time_s"] = time.perf_counter() - t_start
    write_json(output_dir / SUMMARY, summary)


def mirror(run: Run, summary: dict[str, Any], metrics: dict[str, Optional[float]], output_dir: Path) -> None:
    """The final metrics, the status tag and the files of record to the run, which then ends FINISHED."""
    run.metrics(metrics, step=summary["iterations"])
    run.tags({"status": summary["status"]})
    run.artifacts([output_dir / name for name in RECORD_FILES])
    run.end("FINISHED")


def run_label(solver: str, seed: int, overrides: Optional[list[str]]) -> str:
    """A readable run name: the solver, then the job's own overrides (no bookkeeping keys)."""
    skip = ("solver=", "seed=", "+study=", "study=", "profile=", "tracking", "hydra", "results_dir=", "progress=")
    rest = [o for o in overrides or [] if not o.lstrip("+~").startswith(skip)]
    return " ".join([solver, f"seed={seed}", *rest])
