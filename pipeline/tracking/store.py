"""The MLflow sink: runs with batched logging, in the store of a ``tracking`` config node.

Results of record are files; MLflow mirrors them for the dashboard (DESIGN.md §4). This module sees
only the ``tracking`` node of a config; :func:`sink` chooses by its ``backend``, so that no layer
above asks whether tracking is on (the schema checks the node's keys, :func:`pipeline.tracking.check_reachable`
probes a server).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from omegaconf import DictConfig

from pipeline.core.sink import NullSink, Sink
from pipeline.tracking.client import client, code_version, ensure_store, experiment_id, source_tags
from pipeline.tracking.lifecycle import finished_run, process_tags, reap_orphans, restore_files

MAX_METRICS_PER_BATCH = 1000
DATASET_ATTEMPTS = 5  # logging an instance that another worker is logging at the same moment: see MlflowRun.dataset
MAX_PARAMS_PER_BATCH = 100


class MlflowRun:
    """One MLflow run: buffered metrics flushed in batches, params, tags, artifacts, status.

    Use as a context manager: an exception ends the run FAILED with tag status=failed (KILLED with
    status=killed on Ctrl-C or SIGTERM), so no run is ever left RUNNING.
    """

    def __init__(self, uri: str, experiment: str, artifact_root: Optional[str], run_name: str,
                 tags: Mapping[str, str], parent_run_id: Optional[str] = None):
        self.client = client(uri)
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

    def params(self, values: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], str(v)[:6000]) for k, v in values.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i:i + MAX_PARAMS_PER_BATCH])

    def metric(self, key: str, value: float, step: int = 0) -> None:
        from mlflow.entities import Metric

        self._metrics.append(Metric(key, float(value), int(time.time() * 1000), int(step)))
        if len(self._metrics) >= MAX_METRICS_PER_BATCH:
            self.flush()

    def metrics(self, values: Mapping[str, Optional[float]], step: int = 0) -> None:
        for k, v in values.items():
            if v is not None:
                self.metric(k, v, step)

    def flush(self) -> None:
        for i in range(0, len(self._metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=self._metrics[i:i + MAX_METRICS_PER_BATCH])
        self._metrics = []

    def tags(self, values: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in values.items()])

    def artifacts(self, paths: Iterable[Path]) -> None:
        for p in paths:
            if Path(p).exists():
                self.client.log_artifact(self.run_id, str(p))

    def dataset(self, name: str, digest: str, source: str, profile: Mapping[str, Any]) -> None:
        """An MLflow dataset input (context ``instance``): runs on the same instance share its name and digest."""
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.exceptions import MlflowException

        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in profile.items()}
        ds = Dataset(name=name[:500], digest=digest[:36], source_type="local", source=json.dumps({"uri": source}),
                     profile=json.dumps(clean, sort_keys=True))
        inputs = [DatasetInput(ds, [InputTag("mlflow.data.context", "instance")])]
        for attempt in range(DATASET_ATTEMPTS):
            try:
                self.client.log_inputs(self.run_id, datasets=inputs)
                return
            except MlflowException as exc:
                # two workers that log the same new instance at once both insert its row: the second
                # insert fails on the unique key, and the retry finds the row and links to it
                if "UNIQUE constraint" not in str(exc) and "unique constraint" not in str(exc).lower():
                    raise
                if attempt == DATASET_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def end(self, status: str = "FINISHED") -> None:
        if not self._closed:
            self.flush()
            self.client.set_terminated(self.run_id, status)
            self._closed = True


class MlflowSink:
    """The sink of ``tracking=sqlite`` and ``tracking=server``: runs in the store at ``uri``."""

    def __init__(self, uri: str, experiment: str, artifact_root: Optional[str]):
        self.uri, self.experiment, self.artifact_root = uri, experiment, artifact_root

    def open(self) -> None:
        ensure_store(self.uri)
        reap_orphans(self.uri, self.experiment)

    def run(self, name: str, tags: Mapping[str, str], parent: Optional[str] = None,
            experiment: Optional[str] = None) -> MlflowRun:
        return MlflowRun(self.uri, experiment or self.experiment, self.artifact_root, name,
                         dict(tags) | source_tags(), parent)

    def resume(self, config_hash: str, output_dir: Path, files: Iterable[str]) -> Optional[str]:
        """A FINISHED run of the same config hash and the same code version (tag ``code_version``): after
        a change under pipeline/, kernels/ or conf/ the job runs again."""
        prior = finished_run(self.uri, self.experiment, config_hash, code_version())
        if prior is None or not restore_files(self.uri, prior.info.run_id, output_dir, files):
            return None
        return prior.info.run_id

    def attach(self, run_id: Optional[str], paths: Iterable[Path]) -> None:
        if run_id:
            c = client(self.uri)
            for p in paths:
                c.log_artifact(run_id, str(p))

    def attach_metrics(self, run_id: Optional[str], values: Mapping[str, Optional[float]]) -> None:
        from mlflow.entities import Metric

        if not run_id:
            return
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, 0) for k, v in values.items() if v is not None and math.isfinite(float(v))]
        c = client(self.uri)
        for i in range(0, len(items), MAX_METRICS_PER_BATCH):
            c.log_batch(run_id, metrics=items[i:i + MAX_METRICS_PER_BATCH])

    def find(self, tags: Mapping[str, str], experiment: Optional[str] = None) -> Optional[str]:
        """The latest run with these tags; None (and no store created) when the SQLite file does not exist."""
        if self.uri.startswith("sqlite:///") and not Path(self.uri[len("sqlite:///"):]).is_file():
            return None
        c = client(self.uri)
        exp = c.get_experiment_by_name(experiment or self.experiment)
        if exp is None:
            return None
        query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
        runs = c.search_runs([exp.experiment_id], query, max_results=1, order_by=["attributes.start_time DESC"])
        return runs[0].info.run_id if runs else None


def sink(tracking: DictConfig) -> Sink:
    """The sink of a ``tracking`` config node: nothing for ``off``, the MLflow store otherwise."""
    if tracking.backend == "off":
        return NullSink()
    return MlflowSink(str(tracking.uri), str(tracking.experiment), tracking.artifact_root)
