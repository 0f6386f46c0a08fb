"""Everything MLflow: store and schema, experiments, parent and child runs, batched logging.

Results of record are files; MLflow mirrors them for the dashboard (DESIGN.md §4).
The client API is used throughout (no fluent global state), so that several
stores can be used in one process and nothing leaks between tests.
"""
from __future__ import annotations

import functools
import json
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from omegaconf import DictConfig, OmegaConf

PARENT_FILE = "parent_run.json"
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def ensure_store(uri: str) -> None:
    """Create the SQLite schema once (before parallel workers start; ENVIRONMENT.md)."""
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    _client(uri).search_experiments(max_results=1)


def experiment_id(client, name: str, artifact_root: str) -> str:
    """The id of experiment ``name``, created with an absolute artifact location if new."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        location = Path(artifact_root).joinpath(name).resolve().as_uri()
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # created concurrently by another worker
        return client.get_experiment_by_name(name).experiment_id


@functools.lru_cache(maxsize=None)
def git_commit(root: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def flatten(d: Any, prefix: str = "") -> dict[str, str]:
    """Flatten nested containers to dotted keys with string values (MLflow params)."""
    out: dict[str, str] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and any(isinstance(v, (dict, list)) for v in d):
        for i, v in enumerate(d):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = json.dumps(d) if isinstance(d, list) else str(d)
    return out


def base_tags(cfg: DictConfig, root: str) -> dict[str, str]:
    study = cfg.get("study")
    tags = {
        "study": study.name if study else "",
        "paper": study.paper if study else str(cfg.problem.paper),
        "claims": ",".join(study.claims) if study else "",
        "mlflow.source.name": "python -m pipeline",
        "mlflow.source.type": "LOCAL",
    }
    commit = git_commit(root)
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


class RunLogger:
    """One MLflow run: buffered metrics flushed in batches, params, tags, artifacts, status.

    Use as a context manager: an exception ends the run FAILED with tag status=failed,
    so no run is ever left RUNNING.
    """

    def __init__(self, uri: str, experiment: str, artifact_root: str, run_name: str,
                 tags: dict[str, str], parent_run_id: Optional[str] = None):
        self.client = _client(uri)
        self.experiment_id = experiment_id(self.client, experiment, artifact_root)
        tags = dict(tags, status="running")
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        self.run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.run_id = self.run.info.run_id
        self._metrics: list = []
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not self._closed:
            try:
                self.flush()
                self.client.set_tag(self.run_id, "status", "failed")
                self.client.set_tag(self.run_id, "error", f"{exc_type.__name__}: {exc}"[:5000])
            finally:
                self.end("FAILED")
        return False

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i:i + MAX_PARAMS_PER_BATCH])

    def metric(self, key: str, value: float, step: int = 0) -> None:
        from mlflow.entities import Metric

        self._metrics.append(Metric(key, float(value), int(time.time() * 1000), int(step)))
        if len(self._metrics) >= MAX_METRICS_PER_BATCH:
            self.flush()

    def metrics(self, values: dict[str, Optional[float]], step: int = 0) -> None:
        for k, v in values.items():
            if v is not None:
                self.metric(k, v, step)

    def flush(self) -> None:
        for i in range(0, len(self._metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=self._metrics[i:i + MAX_METRICS_PER_BATCH])
        self._metrics = []

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def artifacts(self, paths: Iterable[Path]) -> None:
        for p in paths:
            if Path(p).exists():
                self.client.log_artifact(self.run_id, str(p))

    def end(self, status: str = "FINISHED") -> None:
        if not self._closed:
            self.flush()
            self.client.set_terminated(self.run_id, status)
            self._closed = True


def start_parent(cfg: DictConfig, sweep_dir: str, root: str) -> Optional[str]:
    """Create the parent run of a multirun and record its id in the sweep folder."""
    t = cfg.tracking
    if t.backend == "off":
        return None
    ensure_store(t.uri)
    study = cfg.get("study")
    name = f"{study.name} sweep" if study else "sweep"
    tags = dict(base_tags(cfg, root), kind="sweep", sweep_dir=str(sweep_dir))
    logger = RunLogger(t.uri, t.experiment, t.artifact_root, name, tags)
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    (Path(sweep_dir) / PARENT_FILE).write_text(json.dumps(
        {"run_id": logger.run_id, "uri": t.uri, "experiment_id": logger.experiment_id}))
    return logger.run_id


def end_parent(uri: str, run_id: str, failed: bool = False) -> None:
    """Close a parent run: FINISHED, or FAILED when a child failed or the sweep broke off."""
    client = _client(uri)
    run = client.get_run(run_id)
    if run.info.status != "RUNNING":
        return
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'",
                                  max_results=50000)
    statuses = [c.data.tags.get("status", "") for c in children]
    failed = failed or any(s in ("failed", "running") for s in statuses)
    client.set_tag(run_id, "status", "failed" if failed else "finished")
    client.log_metric(run_id, "children", len(children))
    client.set_terminated(run_id, "FAILED" if failed else "FINISHED")


def parent_of(sweep_dir: str) -> Optional[str]:
    p = Path(sweep_dir) / PARENT_FILE
    return json.loads(p.read_text())["run_id"] if p.is_file() else None


def config_params(cfg: DictConfig) -> dict[str, str]:
    c = OmegaConf.to_container(cfg, resolve=True)
    c.pop("hydra", None)
    return flatten(c)
