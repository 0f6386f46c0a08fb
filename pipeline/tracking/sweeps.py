"""A sweep is one parent run with a child run per job (DESIGN.md §4): the Hydra callback opens the
parent before any worker starts and closes it at the end; the command line's cleanup closes it when
the sweep breaks off.

The callback also records how each job ended (``on_job_end``, in whichever process ran the job: one
small file per job in a folder of the sweep's own) and, when the sweep ends or breaks off, prints a
table of outcomes per solver (converged, max_iter, stalled, stopped, diverged, failed: a job that
raised) and where the results are: the sweep folder, the MLflow experiment and the parent run, whose
metrics ``jobs.<outcome>`` and ``jobs.<solver>.<outcome>`` hold the same counts.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from pipeline.core.records import study_tags, write_json
from pipeline.job.record import outcome
from pipeline.tracking.client import client
from pipeline.tracking.store import sink

PARENT_FILE = "parent_run.json"
#: Parent runs opened in this process: {run_id: uri}. Closed at the end of the sweep,
#: or by the command line's cleanup if the sweep broke off.
OPEN_PARENTS: dict[str, str] = {}
#: Sweeps started in this process, summarised when they end or break off: {token: where the sweep is}.
OPEN_SWEEPS: dict[str, dict[str, Any]] = {}
#: The columns of the sweep's table: the four outcomes always shown, then the others when they occur.
SHOWN, OPTIONAL = ("converged", "max_iter", "diverged", "failed"), ("stalled", "stopped", "completed")


def start_parent(cfg: DictConfig, sweep_dir: str) -> Optional[str]:
    """Create the parent run of a multirun and record its id in the sweep folder.

    Runs that an earlier, killed sweep left RUNNING are marked KILLED first. None with tracking off.
    """
    store = sink(cfg.tracking)
    store.open()
    study = cfg.get("study")
    name = f"{study.name} sweep" if study else "sweep"
    parent = store.run(name, dict(study_tags(cfg), kind="sweep", sweep_dir=str(sweep_dir)))
    if parent.run_id is None:
        return None
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    (Path(sweep_dir) / PARENT_FILE).write_text(json.dumps(
        {"run_id": parent.run_id, "uri": cfg.tracking.uri, "experiment_id": parent.experiment_id}))
    return parent.run_id


def end_parent(uri: str, run_id: str, failed: bool = False, killed: bool = False) -> None:
    """Close a parent run: FINISHED; FAILED when a child failed or the sweep broke off; KILLED when
    the sweep was interrupted (Ctrl-C, SIGTERM)."""
    c = client(uri)
    run = c.get_run(run_id)
    if run.info.status != "RUNNING":
        return
    children = c.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'", max_results=50000)
    statuses = [ch.data.tags.get("status", "") for ch in children]
    failed = failed or any(s in ("failed", "running", "killed") for s in statuses)
    status = "killed" if killed else "failed" if failed else "finished"
    c.set_tag(run_id, "status", status)
    c.log_metric(run_id, "children", len(children))
    c.set_terminated(run_id, status.upper())


def parent_of(sweep_dir: str | Path) -> Optional[str]:
    """The parent run id recorded in a sweep folder, or None (no sweep, or tracking off)."""
    p = Path(sweep_dir) / PARENT_FILE
    return json.loads(p.read_text())["run_id"] if p.is_file() else None


def job_outcome(config: DictConfig, job_return: Any) -> dict[str, Any]:
    """How one job of the sweep ended: its solver, its outcome (``failed`` when it raised), resumed or not."""
    from hydra.core.utils import JobStatus

    solver = str(OmegaConf.select(config, "solver.label", default=None) or "-")
    if job_return.status != JobStatus.COMPLETED:
        return {"solver": solver, "outcome": "failed", "error": repr(job_return._return_value)[:500]}
    value = job_return.return_value
    if isinstance(value, dict) and "status" in value:
        return {"solver": solver, "outcome": outcome(value), "resumed": bool(value.get("resumed_from"))}
    return {"solver": solver, "outcome": "completed"}


def outcome_table(records: list[dict[str, Any]]) -> tuple[list[str], dict[str, Counter]]:
    """The columns shown and the counts per solver (``total`` and ``resumed`` included)."""
    per: dict[str, Counter] = {}
    for r in records:
        c = per.setdefault(r["solver"], Counter())
        c["jobs"] += 1
        c[r["outcome"]] += 1
        c["resumed"] += int(bool(r.get("resumed")))
    seen = Counter(r["outcome"] for r in records)
    extra = [o for o in OPTIONAL if seen[o]] + sorted(o for o in seen if o not in SHOWN + OPTIONAL)
    resumed = ["resumed"] if any(c["resumed"] for c in per.values()) else []
    return ["jobs", *SHOWN, *extra, *resumed], per


def format_summary(records: list[dict[str, Any]], sweep: dict[str, Any]) -> str:
    """The sweep's table of outcomes per solver, then where its results are."""
    cols, per = outcome_table(records)
    rows = [["solver", *cols]] + [[s, *(str(per[s][c]) for c in cols)] for s in sorted(per)]
    rows.append(["all", *(str(sum(per[s][c] for s in per)) for c in cols)])
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, width))) for r in rows]
    where = [f"sweep folder: {sweep['dir']}"]
    if sweep.get("parent"):
        where.append(f"MLflow: experiment {sweep['experiment']} (id {sweep['experiment_id']}), parent run "
                     f"{sweep['parent']}, store {sweep['uri']}")
    else:
        where.append("MLflow: tracking off")
    return "\n".join([f"sweep of {len(records)} jobs: outcomes per solver", *lines, *where])


def read_outcomes(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def summarize_sweep(sweep: dict[str, Any]) -> None:
    """Print the sweep's table, log its counts to the parent run, and remove the jobs' outcome files."""
    records = read_outcomes(Path(sweep["outcomes"]))
    if sweep.get("parent"):
        _, per = outcome_table(records)
        counts = {f"jobs.{o}": float(sum(per[s][o] for s in per)) for o in (*SHOWN, "stalled", "stopped")}
        counts |= {f"jobs.{s}.{o}": float(per[s][o]) for s in per for o in (*SHOWN, "stalled", "stopped") if per[s][o]}
        sink_of(sweep).attach_metrics(sweep["parent"], counts)
    print(format_summary(records, sweep), flush=True)
    shutil.rmtree(sweep["outcomes"], ignore_errors=True)


def sink_of(sweep: dict[str, Any]):
    return sink(OmegaConf.create(sweep["tracking"]))


class TrackingCallback(Callback):
    """Hydra callback of the primary config: one parent run per multirun, each job's outcome, the
    sweep's summary."""

    def __init__(self) -> None:
        self.outcomes: Optional[str] = None  # this sweep's folder of outcome files (None: not a sweep)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir, token = str(config.hydra.sweep.dir), f"{os.getpid()}-{time.time_ns()}"
        self.outcomes = str(Path(sweep_dir) / f".outcomes-{token}")
        Path(self.outcomes).mkdir(parents=True, exist_ok=True)
        tracking = OmegaConf.to_container(config.tracking, resolve=True)
        sweep = OPEN_SWEEPS[token] = {"dir": sweep_dir, "outcomes": self.outcomes, "parent": None, "tracking": tracking,
                                      "uri": tracking.get("uri"), "experiment": tracking.get("experiment")}
        run_id = start_parent(config, sweep_dir)
        if run_id:
            OPEN_PARENTS[run_id] = config.tracking.uri
            exp = client(tracking["uri"]).get_experiment_by_name(tracking["experiment"])
            sweep.update(parent=run_id, experiment_id=exp.experiment_id)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if self.outcomes is None:
            return
        num = OmegaConf.select(config, "hydra.job.num", default=0)
        write_json(Path(self.outcomes) / f"{int(num):06d}.json", job_outcome(config, job_return))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        close_open_parents(failed=False)


def close_open_parents(failed: bool, killed: bool = False) -> None:
    """Summarise the sweeps of this process, then close their parent runs."""
    while OPEN_SWEEPS:
        _, sweep = OPEN_SWEEPS.popitem()
        try:
            summarize_sweep(sweep)
        except Exception as exc:  # noqa: BLE001 - a summary that cannot be made must not keep the parent open
            print(f"sweep summary not available: {type(exc).__name__}: {exc}", flush=True)
    while OPEN_PARENTS:
        run_id, uri = OPEN_PARENTS.popitem()
        end_parent(uri, run_id, failed=failed, killed=killed)
