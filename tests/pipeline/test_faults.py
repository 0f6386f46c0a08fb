"""Faults during sweeps: a killed sweep resumed, SIGTERM, diverging jobs (concurrent writers: the
joblib case of test_launchers.py, four workers on a fresh store, checked with
:func:`assert_no_metric_point_lost`).

Every test runs the real command line in a subprocess against a real SQLite store, and reads the
store back with MLflow's client.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import PROJECT
from tests.servers import wait_until
from tests.pipeline.test_cli import run_cli

#: four jobs of about a second each (gradient descent to ‖∇L‖ ≤ 1e-10 at κ(A) = 20)
SLOW_JOB = ["solver=gd", "data.n=100", "data.d=5", "data.kappa=20"]
SLOW_SWEEP = [*SLOW_JOB, "seed=0,1,2,3"]
JOBS = 4


def all_runs(uri: str) -> list:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(uri)
    return c.search_runs([e.experiment_id for e in c.search_experiments()], max_results=10_000)


def children(runs: list) -> list:
    return [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def parents(runs: list) -> list:
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def start_cli(args: list[str], root: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, SOFTMAX_LAB_ROOT=str(root), OMP_NUM_THREADS="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("w") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", *args], cwd=PROJECT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Poll ``predicate`` until it holds; on any failure the command's process group is killed."""
    try:
        wait_until(predicate, proc, log, name="the command", deadline_s=timeout, interval=0.1, error=AssertionError)
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        raise


def run_statuses(uri: str) -> list[str]:
    """Statuses of the runs in a SQLite store, read without MLflow's client: a client opened on a store
    that another process is still creating would race it on the schema migration."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{uri[len('sqlite:///'):]}?mode=ro", uri=True)) as db:
            return [row[0] for row in db.execute("SELECT status FROM runs")]
    except sqlite3.Error:  # not created yet, or created but without its tables
        return []


def test_a_sweep_killed_by_sigkill_resumes_with_one_finished_run_per_config_and_resume_false_reruns(lab_root, store_uri):
    first, second = lab_root / "sweep1", lab_root / "sweep2"
    log = lab_root / "sweep1.log"
    proc = start_cli(["pipeline", "-m", *SLOW_SWEEP, f"hydra.sweep.dir={first}"], lab_root, log)
    wait_for(lambda: len(list(first.rglob("summary.json"))) >= 2, proc, log)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    killed_state = all_runs(store_uri)
    # jobs whose run was FINISHED when the sweep died (one may have written its files but not closed its run)
    restorable = {x.data.tags["config_hash"] for x in children(killed_state) if x.info.status == "FINISHED"}
    done_before = len(restorable)
    assert 1 <= done_before < JOBS, "the sweep must be killed mid-way for this test to mean anything"
    assert any(r.info.status == "RUNNING" for r in killed_state)  # what SIGKILL leaves behind

    r = run_cli(["pipeline", "-m", *SLOW_SWEEP, f"hydra.sweep.dir={second}"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count(": resumed") == done_before, r.stdout  # the job lines of the resumed jobs

    runs = all_runs(store_uri)
    assert [x for x in runs if x.info.status == "RUNNING"] == []
    finished = Counter(x.data.tags["config_hash"] for x in children(runs) if x.info.status == "FINISHED")
    assert len(finished) == JOBS and set(finished.values()) == {1}, finished  # one FINISHED run per config
    killed = [x for x in runs if x.info.status == "KILLED"]
    assert {x.data.tags["status"] for x in killed} == {"killed"}
    assert any("mlflow.parentRunId" not in x.data.tags for x in killed)  # the first sweep's parent
    assert all("ended without closing the run" in x.data.tags["error"] for x in killed)
    ps = parents(runs)
    assert sorted(p.info.status for p in ps) == ["FINISHED", "KILLED"]

    # the resumed sweep holds every file of record: the restored ones byte-identical to the first sweep's,
    # and a rerun job's solution bitwise equal to the one its killed predecessor had written
    summaries = {json.loads(p.read_text())["config_hash"]: p.parent for p in second.rglob("summary.json")}
    assert len(summaries) == JOBS
    for p in first.rglob("summary.json"):
        chash = json.loads(p.read_text())["config_hash"]
        names = ("summary.json", "solution.npz", "trace.parquet") if chash in restorable else ("solution.npz",)
        for name in names:
            assert (p.parent / name).read_bytes() == (summaries[chash] / name).read_bytes(), name

    # resume=false reruns a finished config: a second FINISHED run, the same solution bits
    r = run_cli(["pipeline", *SLOW_JOB, "seed=0", "resume=false", f"hydra.run.dir={lab_root}/again"], lab_root)
    assert r.returncode == 0 and "resumed" not in r.stdout, r.stderr[-2000:]
    again = json.loads((lab_root / "again" / "summary.json").read_text())
    runs = [x for x in all_runs(store_uri) if x.data.tags.get("config_hash") == again["config_hash"]]
    assert sorted(x.info.status for x in runs if x.info.status == "FINISHED") == ["FINISHED", "FINISHED"]
    assert (lab_root / "again" / "solution.npz").read_bytes() == (summaries[again["config_hash"]] / "solution.npz").read_bytes()


def test_sigterm_ends_a_run_killed_not_running(lab_root, store_uri):
    log = lab_root / "run.log"
    out = lab_root / "run"
    # a solve that would go on for minutes: no ε target, no gradient tolerance
    proc = start_cli(["pipeline", "solver=gd", "data.n=100", "data.d=5", "data.kappa=20", "stop.eps=null",
                      "stop.gtol=0", "stop.max_iter=100000000", f"hydra.run.dir={out}"], lab_root, log)

    wait_for(lambda: "RUNNING" in run_statuses(store_uri), proc, log)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, log.read_text()[-2000:]
    runs = all_runs(store_uri)
    assert [(x.info.status, x.data.tags["status"]) for x in runs] == [("KILLED", "killed")]
    assert not (out / "summary.json").exists()


def assert_no_metric_point_lost(uri: str, sweep: Path) -> None:
    """Every job of a sweep has its run in the store, and the run holds every loss point the job logged:
    the iterations of the log-spaced schedule and the last one, with the values of ``trace.parquet``."""
    from mlflow.tracking import MlflowClient

    from pipeline.solvers.base import log_schedule

    client = MlflowClient(uri)
    kids = {x.info.run_id: x for x in children(all_runs(uri))}
    paths = sorted(sweep.rglob("summary.json"))
    assert len(paths) == len(kids)
    for path in paths:
        summary = json.loads(path.read_text())
        run = kids.pop(summary["mlflow_run_id"])
        trace = pd.read_parquet(path.parent / "trace.parquet").set_index("iteration")
        schedule = log_schedule(int(summary["overrides"].get("stop.max_iter", 100_000)))  # the schema's default
        expected = sorted({int(i) for i in trace.index if int(i) in schedule} | {int(trace.index[-1])})
        logged = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "loss")}
        assert sorted(logged) == expected, f"{path.parent}: lost points {sorted(set(expected) - set(logged))}"
        assert [logged[i] for i in expected] == trace.loc[expected, "loss"].tolist(), path.parent
        assert run.data.metrics["iterations"] == summary["iterations"]
    assert kids == {}  # every child run is some job's run


def test_a_diverging_job_ends_diverged_and_the_sweep_goes_on(lab_root, store_uri):
    sweep = lab_root / "sweep"
    # ell_scale=0.01: a step 100 times the stable 1/ℓ; the other job is the same solver with the stable step
    r = run_cli(["pipeline", "-m", "solver=gd", "solver.ell_scale=0.01,1.0", "data.n=40", "data.d=3",
                 f"hydra.sweep.dir={sweep}"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    summaries = {json.loads(p.read_text())["overrides"]["solver.ell_scale"]: json.loads(p.read_text())
                 for p in sweep.rglob("summary.json")}
    assert summaries["0.01"]["status"] == "diverged" and not summaries["0.01"]["converged"]
    assert summaries["1.0"]["status"] == "finished" and summaries["1.0"]["converged"]
    runs = {x.data.tags["status"] for x in children(all_runs(store_uri))}
    assert runs == {"diverged", "finished"}
    assert "diverged" in r.stdout
