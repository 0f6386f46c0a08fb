"""Everything MLflow: store and schema, experiments, parent and child runs, batched logging.

Results of record are files; MLflow mirrors them for the dashboard (DESIGN.md §4).
The client API is used throughout (no fluent global state), so that several
stores can be used in one process and nothing leaks between tests.
"""
from __future__ import annotations

import functools
import json
import os
import socket
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


def experiment_id(client, name: str, artifact_root: Optional[str]) -> str:
    """The id of experiment ``name``, created if new: with an absolute artifact location under
    ``artifact_root``, or, when that is None (a tracking server), in the server's artifact store."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        if artifact_root is None:
            return client.create_experiment(name)
        location = (f"{artifact_root.rstrip('/')}/{name}" if "://" in artifact_root
                    else Path(artifact_root).joinpath(name).resolve().as_uri())
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
        tags = dict(tags, status="running", **process_tags())
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
            killed = issubclass(exc_type, KeyboardInterrupt)  # Ctrl-C, or SIGTERM (pipeline.cli)
            try:
                self.flush()
                self.client.set_tag(self.run_id, "status", "killed" if killed else "failed")
                self.client.set_tag(self.run_id, "error", f"{exc_type.__name__}: {exc}"[:5000])
            finally:
                self.end("KILLED" if killed else "FAILED")
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
    """Create the parent run of a multirun and record its id in the sweep folder.

    Runs that an earlier, killed sweep left RUNNING are marked KILLED first (:func:`reap_orphans`).
    """
    t = cfg.tracking
    if t.backend == "off":
        return None
    ensure_store(t.uri)
    reap_orphans(t.uri, t.experiment)
    study = cfg.get("study")
    name = f"{study.name} sweep" if study else "sweep"
    tags = dict(base_tags(cfg, root), kind="sweep", sweep_dir=str(sweep_dir))
    logger = RunLogger(t.uri, t.experiment, t.artifact_root, name, tags)
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    (Path(sweep_dir) / PARENT_FILE).write_text(json.dumps(
        {"run_id": logger.run_id, "uri": t.uri, "experiment_id": logger.experiment_id}))
    return logger.run_id


def end_parent(uri: str, run_id: str, failed: bool = False, killed: bool = False) -> None:
    """Close a parent run: FINISHED; FAILED when a child failed or the sweep broke off; KILLED when
    the sweep was interrupted (Ctrl-C, SIGTERM)."""
    client = _client(uri)
    run = client.get_run(run_id)
    if run.info.status != "RUNNING":
        return
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'",
                                  max_results=50000)
    statuses = [c.data.tags.get("status", "") for c in children]
    failed = failed or any(s in ("failed", "running", "killed") for s in statuses)
    status = "killed" if killed else "failed" if failed else "finished"
    client.set_tag(run_id, "status", status)
    client.log_metric(run_id, "children", len(children))
    client.set_terminated(run_id, status.upper())


def parent_of(sweep_dir: str) -> Optional[str]:
    p = Path(sweep_dir) / PARENT_FILE
    return json.loads(p.read_text())["run_id"] if p.is_file() else None


def config_params(cfg: DictConfig) -> dict[str, str]:
    c = OmegaConf.to_container(cfg, resolve=True)
    c.pop("hydra", None)
    return flatten(c)


# --------------------------------------------------------------------------- resume and orphans
#: Files of record restored from a FINISHED run when a job is resumed (all are logged as artifacts).
RESTORED_FILES = ("summary.json", "solution.npz", "trace.parquet", "config.yaml")


def _start_token(pid: int) -> Optional[str]:
    """The start time of process ``pid`` (clock ticks after boot, /proc/PID/stat field 22), so that a
    reused pid is not taken for the process that logged a run; None if no such process. Without /proc:
    "" for a live pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass
    return ""


def process_tags() -> dict[str, str]:
    """Tags naming the process that writes a run: host, pid and the pid's start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": str(pid), "pid_start": _start_token(pid) or ""}


def _orphaned(tags: dict[str, str], host: str) -> bool:
    if tags.get("host") != host or not tags.get("pid", "").isdigit():
        return False  # another host's process (a cluster node): it cannot be checked from here
    token = _start_token(int(tags["pid"]))
    return token is None or (bool(tags.get("pid_start")) and bool(token) and token != tags["pid_start"])


def reap_orphans(uri: str, experiment: str) -> list[str]:
    """Mark KILLED (tag status=killed) every run of ``experiment`` left RUNNING by a process of this
    host that no longer exists (a sweep or job killed by SIGKILL, the OOM killer or a reboot).

    Runs of live processes are left alone, so concurrent sweeps are safe; runs written from other
    hosts are left alone too, since their processes cannot be seen from here.
    """
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    host = socket.gethostname()
    killed = []
    for run in client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'", max_results=50000):
        tags = run.data.tags
        if not _orphaned(tags, host):
            continue
        client.set_tag(run.info.run_id, "status", "killed")
        client.set_tag(run.info.run_id, "error", f"process {tags['pid']} on {host} ended without closing the run")
        client.set_terminated(run.info.run_id, "KILLED")
        killed.append(run.info.run_id)
    return killed


def finished_run(uri: str, experiment: str, chash: str):
    """The latest FINISHED run of ``experiment`` with tag ``config_hash = chash``, or None."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], f"tags.config_hash = '{chash}' and attributes.status = 'FINISHED'",
                              max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def restore_files(uri: str, run_id: str, output_dir: Path) -> bool:
    """Copy a run's files of record (:data:`RESTORED_FILES`) from its artifacts into ``output_dir``;
    False (and nothing written) when one of them is missing."""
    import shutil
    import tempfile

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one line per job, no bars
    client = _client(uri)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir) as tmp:
        try:
            got = [Path(client.download_artifacts(run_id, name, tmp)) for name in RESTORED_FILES]
        except Exception:  # noqa: BLE001 - any store error means: cannot restore, run the job again
            return False
        for path in got:
            shutil.move(str(path), output_dir / path.name)
    return True
