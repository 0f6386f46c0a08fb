"""The MLflow client of a store: the store's schema, experiments, provenance tags, the code version.

The client API is used throughout (no fluent global state), so that several stores can be used in
one process and nothing leaks between tests.
"""
from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path
from typing import Optional

from pipeline.core.paths import PROJECT_ROOT

#: The folders whose content is the code of a run: a change there makes a new code version.
CODE_DIRS = ("pipeline", "kernels", "conf")


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


def _git(root: str, *args: str) -> Optional[bytes]:
    """The output of ``git args`` in ``root``, or None when git is missing or ``root`` is no checkout."""
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def git_commit(root: str) -> Optional[str]:
    out = _git(root, "rev-parse", "HEAD")
    return out.decode().strip() or None if out is not None else None


def _hash_files(h, root: Path, paths) -> None:
    for rel in paths:
        p = root / rel
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            h.update(str(rel).encode() + b"\0" + p.read_bytes() + b"\0")


def _worktree_hash(root: str) -> Optional[str]:
    """A hash of what differs from HEAD under :data:`CODE_DIRS` (``git diff HEAD`` and the untracked
    files there), None when nothing does; raises LookupError when git cannot tell."""
    diff = _git(root, "diff", "HEAD", "--binary", "--", *CODE_DIRS)
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", *CODE_DIRS)
    if diff is None or untracked is None:
        raise LookupError(root)
    if not diff and not untracked:
        return None
    h = hashlib.sha256(diff)
    _hash_files(h, Path(root), sorted(u.decode() for u in untracked.split(b"\0") if u))
    return h.hexdigest()[:12]


@functools.lru_cache(maxsize=None)
def code_version(root: str = str(PROJECT_ROOT)) -> str:
    """The version of the code in ``root`` (the lab's own folder by default): ``<commit>`` of a clean git
    checkout, ``<commit>+<hash of the uncommitted changes>`` when :data:`CODE_DIRS` differ from it;
    outside git, ``src-<hash of every file under CODE_DIRS>``. Part of a run's identity for resume."""
    commit = git_commit(root)
    try:
        dirty = _worktree_hash(root) if commit else None
    except LookupError:
        commit = None
    if commit:
        return commit[:12] + (f"+{dirty}" if dirty else "")
    h = hashlib.sha256()
    for d in CODE_DIRS:
        base = Path(root) / d
        _hash_files(h, Path(root), sorted(p.relative_to(root) for p in base.rglob("*")) if base.is_dir() else [])
    return f"src-{h.hexdigest()[:12]}"


def source_tags() -> dict[str, str]:
    """MLflow's own provenance tags (the command, the git commit of the code) and ``code_version``."""
    tags = {"mlflow.source.name": "python -m pipeline", "mlflow.source.type": "LOCAL", "code_version": code_version()}
    commit = git_commit(str(PROJECT_ROOT))
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags
