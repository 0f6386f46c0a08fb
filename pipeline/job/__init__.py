"""One job: prepare → solve → summarize → record.

:func:`run` holds no mathematics (that is in kernels/, problems/, solvers/) and no tracking code: it
mirrors what it does to the :class:`~pipeline.core.sink.Sink` it is given (a no-op sink when
``tracking=off``). The config has been validated by the front door's precheck before any job starts.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig

from pipeline.core.records import config_hash, study_tags
from pipeline.core.sink import Sink
from pipeline.job.prepare import Prepared, initial_point, instance_cache, prepare
from pipeline.job.record import RECORD_FILES, SUMMARY, mirror, run_label, run_params, write_files
from pipeline.job.solve import solve
from pipeline.job.summarize import final_metrics, summarize


def tags(cfg: DictConfig, job: Prepared, chash: str) -> dict[str, str]:
    """The run's tags (DESIGN.md §4): study, paper, claims, config hash, and what ran where."""
    return dict(study_tags(cfg), config_hash=chash, solver=job.solver_params.label, instance=job.instance.key,
                device=str(job.device), kernels_backend=job.backend)


def resumed(sink: Sink, cfg: DictConfig, chash: str, output_dir: Path) -> Optional[dict[str, Any]]:
    """With ``resume=true``, the summary of a FINISHED run of the same config hash whose files of record
    were restored into ``output_dir`` (``resumed_from`` = its run id, not written to the file); else None."""
    run_id = sink.resume(chash, output_dir, RECORD_FILES) if cfg.resume else None
    if run_id is None:
        return None
    return json.loads((output_dir / SUMMARY).read_text()) | {"resumed_from": run_id}


def run(cfg: DictConfig, output_dir: Path, sink: Sink, parent: Optional[str] = None,
        overrides: Optional[list[str]] = None) -> dict[str, Any]:
    """Run one job and return its summary (also written to ``output_dir/summary.json``)."""
    t_start = time.perf_counter()
    chash = config_hash(cfg)
    done = resumed(sink, cfg, chash, output_dir)
    if done is not None:
        return done
    job = prepare(cfg, instance_cache())
    output_dir.mkdir(parents=True, exist_ok=True)
    name = run_label(job.solver_params.label, int(cfg.seed), overrides)[:250]
    with sink.run(name, tags(cfg, job, chash), parent) as mirror_run:
        mirror_run.params(run_params(cfg, job.instance.constants))
        trace = solve(job, mirror_run, bool(cfg.progress))
        summary, x = summarize(cfg, job, trace, chash, mirror_run.run_id, overrides)
        write_files(cfg, summary, x, trace, output_dir, t_start)
        mirror(mirror_run, summary, final_metrics(summary, trace), output_dir)
    return summary


def limit_threads(n: int) -> None:
    """Run this process's torch and BLAS (numpy, scipy) compute on ``n`` threads (config key ``threads``).

    Reductions split across threads add in another order, so the thread count is part of what makes a
    solution bitwise reproducible: with the same ``threads`` a job gives the same bits whichever
    launcher (basic, joblib, submitit, Ray) runs it."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


__all__ = ["Prepared", "initial_point", "limit_threads", "prepare", "run"]
