"""Shared fixtures. Environment first: nothing may import triton or matplotlib before this."""
from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# the same examples on every run: a property test that fails, fails in CI and here alike
settings.register_profile("lab", derandomize=True, print_blob=True)
settings.load_profile("lab")

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def lab_root(tmp_path, monkeypatch):
    """A temporary project root: results, instance cache and SQLite store go there."""
    monkeypatch.setenv("SOFTMAX_LAB_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def store_uri(lab_root):
    return f"sqlite:///{lab_root}/mlflow.db"


@pytest.fixture
def instance_file(tmp_path):
    """A small well-posed external instance (A, b, w) as an .npz file."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((60, 5)) / 4
    b = rng.dirichlet(np.ones(60))
    w = np.full(60, 1.5)
    path = tmp_path / "instance.npz"
    np.savez(path, A=A, b=b, w=w)
    return path


def compose(overrides=(), config_name="config"):
    """The composed config for some overrides, through Hydra's compose API (pipeline.cli.compose)."""
    from pipeline.cli import compose as lab_compose

    return lab_compose(overrides, config_name)


def skip_unless_ci(reason: str) -> None:
    """Skip a test (or, at import, its module) whose service or optional package is not installed here;
    under CI, which installs everything the tests need (.ci/run), the same absence is a failure, so
    that CI never passes by skipping."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: .ci/run)")
    pytest.skip(reason, allow_module_level=True)
