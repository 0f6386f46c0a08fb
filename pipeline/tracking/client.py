"""The MLflow client of a store: the store's schema, experiments, provenance tags.

The client API is used throughout (no fluent global state), so that several stores can be used in
one process and nothing leaks between tests.
"""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Optional

from pipeline.core.paths import project_root


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def ensure_store(uri: str) -> None:
    """Create the SQLite schema once (before parallel workers start; ENVIRONMENT.md)."""
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    client(uri).search_experiments(max_results=1)


def experiment_id(c, name: str, artifact_root: Optional[str]) -> str:
    """The id of experiment ``name``, created if new: with an absolute artifact location under
    ``artifact_root``, or, when that is None (a tracking server), in the server's artifact store."""
    from mlflow.exceptions import MlflowException

    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        if artifact_root is None:
            return c.create_experiment(name)
        location = (f"{artifact_root.rstrip('/')}/{name}" if "://" in artifact_root
                    else Path(artifact_root).joinpath(name).resolve().as_uri())
        return c.create_experiment(name, artifact_location=location)
    except MlflowException:  # created concurrently by another worker
        return c.get_experiment_by_name(name).experiment_id


@functools.lru_cache(maxsize=None)
def git_commit(root: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def source_tags() -> dict[str, str]:
    """MLflow's own provenance tags: the command and the git commit of the project."""
    tags = {"mlflow.source.name": "python -m pipeline", "mlflow.source.type": "LOCAL"}
    commit = git_commit(project_root())
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags
