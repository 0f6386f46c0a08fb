"""The job line and summary.json say how a run ended: converged, or why not (max_iter, stalled, ...)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT


def job(tmp_path, *overrides: str) -> tuple[str, dict]:
    """One real job (tracking off); its console line and its summary."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    r = subprocess.run([sys.executable, "-m", "pipeline", *overrides, "tracking=off", "progress=false",
                        f"hydra.run.dir={tmp_path}"], cwd=PROJECT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1], json.loads((tmp_path / "summary.json").read_text())


@pytest.mark.parametrize("overrides, outcome, why", [
    (["solver=newton"], "converged", None),
    (["solver=gd", "stop.max_iter=5"], "max_iter", "reached max_iter = 5"),
    (["solver=gd", "data.regime=softmax", "seed=1", "stop.eps=1e-8", "stop.patience=300"], "stalled", "in the last 300 iterations"),
])
def test_the_job_line_says_how_the_run_ended(tmp_path, overrides, outcome, why):
    line, summary = job(tmp_path, *overrides)
    assert summary["outcome"] == outcome and summary["converged"] == (outcome == "converged")
    assert f": {outcome}" in line and "finished" not in line
    if why:
        assert why in line and why in summary["message"]
