"""A sweep is one parent run with a child run per job (DESIGN.md §4): the Hydra callback opens the
parent before any worker starts and closes it at the end; the command line's cleanup closes it when
the sweep breaks off."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pipeline.core.records import study_tags
from pipeline.tracking.client import client
from pipeline.tracking.store import sink

PARENT_FILE = "parent_run.json"
#: Parent runs opened in this process: {run_id: uri}. Closed at the end of the sweep,
#: or by the command line's cleanup if the sweep broke off.
OPEN_PARENTS: dict[str, str] = {}


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


class TrackingCallback(Callback):
    """Hydra callback of the primary config: one parent run per multirun."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_id = start_parent(config, config.hydra.sweep.dir)
        if run_id:
            OPEN_PARENTS[run_id] = config.tracking.uri

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        close_open_parents(failed=False)


def close_open_parents(failed: bool, killed: bool = False) -> None:
    while OPEN_PARENTS:
        run_id, uri = OPEN_PARENTS.popitem()
        end_parent(uri, run_id, failed=failed, killed=killed)
