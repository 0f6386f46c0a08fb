"""Step 4 of a job: the files of record in the output folder, mirrored to the run.

What the run shows for comparison is decided here: its params are the config that shaped the job
(:func:`run_params`: no verify sizes, no study bookkeeping, no tracking or output settings) with the
top-level ``solver``, ``problem`` and ``study`` to filter on (``params.solver = "gd"``); its name is the
solver, the seed and the job's own overrides (:func:`run_label`); its instance is a dataset input whose
digest is the instance's content hash (:func:`instance_dataset`); its tag ``outcome`` says how it ended.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from pipeline.core.records import NON_RESULT_KEYS, flatten, resolved, write_json, write_solution
from pipeline.core.sink import Run
from pipeline.job.prepare import instance_cache
from pipeline.solvers import Trace

SUMMARY = "summary.json"
#: The files of record of a job, all logged as the run's artifacts; a resumed job restores them.
RECORD_FILES = (SUMMARY, "solution.npz", "trace.parquet", "config.yaml")
#: Config keys that are not params of a solve job: other stages' settings, the tracking mirror, output
#: folders, the study (its name is the param ``study``). ``threads`` stays: it fixes the solution's bits.
NOT_PARAMS = tuple(k for k in NON_RESULT_KEYS if k != "threads") + ("study",)
#: Override keys left out of a run's name, with their subkeys (bookkeeping, the thread count) ...
NOT_IN_NAME = NOT_PARAMS + ("profile", "threads")
#: ... and on their own only: the name's own fields and the cache switch (``solver.batch=64`` stays).
NOT_IN_NAME_EXACT = ("solver", "seed", "data.cache")


def write_files(cfg: DictConfig, summary: dict[str, Any], x, trace: Trace, output_dir: Path, t_start: float) -> None:
    """``solution.npz``, ``trace.parquet``, ``config.yaml`` (resolved, without Hydra's node) and, last,
    ``summary.json`` with the job's total time."""
    output_dir.mkdir(parents=True, exist_ok=True)
    write_solution(output_dir / "solution.npz", x.detach().cpu().numpy())
    trace.to_frame().to_parquet(output_dir / "trace.parquet", index=False)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(resolved(cfg)), resolve=True))
    summary["job_time_s"] = time.perf_counter() - t_start
    write_json(output_dir / SUMMARY, summary)


def top_params(solver: str, problem: str, study: Optional[str]) -> dict[str, str]:
    """The params to filter runs on: ``solver`` (its label), ``problem`` and, in a study, ``study``."""
    return {"solver": solver, "problem": problem} | ({"study": study} if study else {})


def run_params(cfg: DictConfig, constants: Optional[dict[str, float]] = None) -> dict[str, str]:
    """A solve job's params: the resolved config without :data:`NOT_PARAMS`, with the profile's name only
    (not the verify sizes) and the data cache switch left out, plus :func:`top_params` and the measured
    instance constants as ``instance.*``."""
    c = {k: v for k, v in resolved(cfg).items() if k not in NOT_PARAMS}
    c["profile"] = cfg.profile.name if cfg.get("profile") is not None else None
    if isinstance(c.get("data"), dict):
        c["data"] = {k: v for k, v in c["data"].items() if k != "cache"}
    study = cfg.study.name if cfg.get("study") is not None else None
    return (flatten(c) | top_params(str(cfg.solver.label), str(cfg.problem.name), study)
            | {f"instance.{k}": f"{v:.6g}" for k, v in (constants or {}).items()})


def outcome(summary: dict[str, Any]) -> str:
    """How the job ended: converged, max_iter, stalled, stopped or diverged (the summary's ``outcome``; for
    an older summary without it, read off its status, ``converged`` flag and message)."""
    if summary.get("outcome"):
        return str(summary["outcome"])
    if summary.get("converged"):
        return "converged"
    if summary.get("status") == "diverged":
        return "diverged"
    message = str(summary.get("message") or "")
    return ("max_iter" if message.startswith("reached max_") else "stalled" if message.startswith("no loss below")
            else "stopped")


def instance_dataset(summary: dict[str, Any]) -> dict[str, Any]:
    """The job's instance as a dataset input: named by its problem and key, digest = the content hash
    (:func:`pipeline.reference.instance_key`), source = its file in the instance cache, profile = its
    measured constants."""
    key = str(summary["instance_key"])
    return {"name": f"{summary['problem']}-{key[:8]}", "digest": key, "source": str(instance_cache() / f"{key}.npz"),
            "profile": dict(summary.get("instance") or {})}


def mirror(run: Run, summary: dict[str, Any], metrics: dict[str, Optional[float]], output_dir: Path) -> None:
    """The filter params, the instance, the final metrics, the status and outcome tags and the files of
    record to the run, which then ends FINISHED."""
    run.params(top_params(summary["solver"], summary["problem"], summary.get("study")))
    run.dataset(**instance_dataset(summary))
    run.metrics(metrics, step=summary["iterations"])
    run.tags({"status": summary["status"], "outcome": outcome(summary)})
    run.artifacts([output_dir / name for name in RECORD_FILES])
    run.end("FINISHED")


def run_label(solver: str, seed: int, overrides: Optional[list[str]]) -> str:
    """A short run name: the solver, the seed, then the job's own overrides that change its config
    (no study, profile, tracking, Hydra, resume or output settings)."""
    def kept(o: str) -> bool:
        key = o.lstrip("+~").split("=", 1)[0]
        return "=" in o and key not in NOT_IN_NAME_EXACT and not any(
            key == k or key.startswith((f"{k}.", f"{k}/")) for k in NOT_IN_NAME)

    return " ".join([solver, f"seed={seed}", *(o.lstrip("+~") for o in overrides or [] if kept(o))])
