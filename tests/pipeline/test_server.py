"""Sweeps against a real `mlflow server` (loopback only), started and stopped by the tests' fixtures.

The server runs with the light settings of the README (one worker, no job execution) in its own
process group (tests/servers.py), on a SQLite file or on a throwaway PostgreSQL cluster.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import skip_unless_ci
from tests.pipeline.test_cli import assert_one_parent_and_finished_children, run_cli

JOBS = 6  # solver=gd,newton × seed=0,1,2


def run_sweep(lab_root: Path, tracking_uri: str) -> Path:
    """The 6-job joblib sweep of these tests, logged to the server at ``tracking_uri``; its sweep folder."""
    sweep = lab_root / "sweep"
    r = run_cli(["pipeline", "-m", "tracking=server", f"tracking.uri={tracking_uri}", "solver=gd,newton",
                 "seed=0,1,2", "data.n=40", "data.d=3", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                 f"hydra.sweep.dir={sweep}"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return sweep


@pytest.fixture
def mlflow_server(tmp_path):
    """``http://127.0.0.1:PORT`` of a fresh server on ``tmp_path/server/server.db``."""
    workdir = tmp_path / "server"
    with servers.mlflow_server(workdir, f"sqlite:///{workdir}/server.db") as uri:
        yield uri


@pytest.fixture
def postgres_uri(tmp_path):
    """``postgresql://lab@127.0.0.1:PORT/mlflow`` of a throwaway cluster; skipped without PostgreSQL."""
    if servers.postgres_bin_dir() is None:
        skip_unless_ci("no PostgreSQL server programs (initdb) on PATH or in /usr/lib/postgresql/*/bin")
    with servers.postgres(tmp_path / "postgres") as uri:
        yield uri


@pytest.fixture
def pg_mlflow_server(tmp_path, postgres_uri):
    """``(server URI, server folder)`` of a fresh server whose backend store is ``postgres_uri``."""
    workdir = tmp_path / "pg-server"
    with servers.mlflow_server(workdir, postgres_uri) as uri:
        yield uri, workdir


def test_sweep_against_a_server_gives_one_parent_and_a_finished_child_per_job(lab_root, mlflow_server):
    sweep = run_sweep(lab_root, mlflow_server)
    assert_one_parent_and_finished_children(mlflow_server, sweep, jobs=JOBS)
    assert not (lab_root / "mlflow.db").exists()  # nothing went to the default SQLite store


def test_sweep_against_a_server_on_postgres_is_recorded_in_postgres(lab_root, postgres_uri, pg_mlflow_server):
    import psycopg2
    from mlflow.tracking import MlflowClient

    uri, server_dir = pg_mlflow_server
    sweep = run_sweep(lab_root, uri)
    assert_one_parent_and_finished_children(uri, sweep, jobs=JOBS)
    assert not (lab_root / "mlflow.db").exists()  # nothing went to the default SQLite store

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("softmax-lab").experiment_id], max_results=100)
    with psycopg2.connect(postgres_uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_uuid, status FROM runs")
        rows = dict(cur.fetchall())
    conn.close()
    assert len(rows) == JOBS + 1 and set(rows.values()) == {"FINISHED"}
    assert set(rows) == {r.info.run_id for r in runs}  # the server's record is PostgreSQL's

    # artifacts go through the server to its own store: no filesystem shared with the client
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert all(r.info.artifact_uri.startswith("mlflow-artifacts:") for r in children), \
        [r.info.artifact_uri for r in children]
    stored = sorted((server_dir / "artifacts").rglob("summary.json"))
    assert len(stored) == JOBS
    child = children[0]
    got = Path(client.download_artifacts(child.info.run_id, "summary.json", str(lab_root)))
    assert json.loads(got.read_text())["mlflow_run_id"] == child.info.run_id


def test_an_unreachable_server_is_refused_before_any_job(lab_root):
    port = servers.free_port()  # nothing listens there
    t0 = time.monotonic()
    r = run_cli(["pipeline", "-m", "tracking=server", f"tracking.uri=http://127.0.0.1:{port}", "seed=0,1",
                 "data.n=40", "data.d=3", f"hydra.sweep.dir={lab_root}/sweep"], lab_root, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.startswith(f"error: tracking.uri: no mlflow server at http://127.0.0.1:{port}"), r.stderr
    assert "Traceback" not in r.stderr and not (lab_root / "sweep").exists()
    assert time.monotonic() - t0 < 60  # MLflow's client alone retries for minutes
