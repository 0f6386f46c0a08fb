"""A sweep against a real `mlflow server` (SQLite backend, loopback only), started and stopped by the test.

The server runs with the light settings of ENVIRONMENT.md (one worker, no job execution) in its own
process group, which the fixture ends as a whole.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.pipeline.test_cli import assert_one_parent_and_finished_children, run_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """``http://127.0.0.1:PORT`` of a fresh server on ``tmp_path/server.db``; stopped by process group."""
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
         f"sqlite:///{tmp_path}/server.db", "--default-artifact-root", str(tmp_path / "server-artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield uri
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_sweep_against_a_server_gives_one_parent_and_a_finished_child_per_job(lab_root, mlflow_server):
    sweep = lab_root / "sweep"
    r = run_cli(["pipeline", "-m", "tracking=server", f"tracking.uri={mlflow_server}", "solver=gd,newton",
                 "seed=0,1,2", "data.n=40", "data.d=3", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                 f"hydra.sweep.dir={sweep}"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_one_parent_and_finished_children(mlflow_server, sweep, jobs=6)
    assert not (lab_root / "mlflow.db").exists()  # nothing went to the default SQLite store


def test_an_unreachable_server_is_refused_before_any_job(lab_root):
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    r = run_cli(["pipeline", "-m", "tracking=server", f"tracking.uri=http://127.0.0.1:{port}", "seed=0,1",
                 "data.n=40", "data.d=3", f"hydra.sweep.dir={lab_root}/sweep"], lab_root, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.startswith(f"error: tracking.uri: no mlflow server at http://127.0.0.1:{port}"), r.stderr
    assert "Traceback" not in r.stderr and not (lab_root / "sweep").exists()
    assert time.monotonic() - t0 < 60  # MLflow's client alone retries for minutes
