"""Helpers of the tracking tests: a git checkout of the lab's code in a temporary folder, where a real
command can run with the project as its working directory and the code can be changed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT

#: What a checkout of the lab needs to run its commands.
CODE = ("pipeline", "kernels", "conf", "pyproject.toml", ".gitignore")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=lab", "-c", "user.email=lab@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """The lab's code committed in a fresh git repository ``tmp_path/project`` (no results, no store)."""
    root = tmp_path / "project"
    root.mkdir()
    for name in CODE:
        src = PROJECT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(src, root / name)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "lab")
    return root


def run_in(project: Path, args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m ARGS`` with ``project`` as the working directory and project root (its own code imported,
    no SOFTMAX_LAB_ROOT, no MLflow URI from the environment, no bytecode written)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTMAX_LAB_ROOT", "MLFLOW_TRACKING_URI")}
    env |= {"OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=timeout)


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (but ``.git`` and the ``skip`` folders) with its size and modification time."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith((".git/", *skip)):
            st = p.stat()
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out
