"""Fault injection: SIGKILL a parallel sweep mid-way, resume it, and account for every job.

One multirun of N jobs (``python -m pipeline -m solver=gd data.n=100 data.d=5 data.kappa=20
seed=range(0,N)``, joblib launcher with W workers) runs in a fresh temporary root with the
embedded SQLite store. Once K of its child runs are FINISHED, the whole process group (the sweep
and its workers) gets SIGKILL, as an OOM killer or a lost node would do it. The same command is then
run again (``resume=true``, the default) into a new sweep folder, and the store and the files are
checked:

- exactly one FINISHED child run per config hash, N in all; no run left RUNNING;
- the runs the kill left RUNNING are KILLED (tag ``status=killed``), the first sweep's parent too;
- the second sweep printed one ``resumed`` line per config that was FINISHED at the kill, and
  its folder holds N ``summary.json``, the resumed ones byte-identical to the first sweep's.

    python benchmarks/fault_injection.py                     # --jobs 24 --workers 4 --kill-after 8
    python benchmarks/fault_injection.py --rounds 2          # kill the resumed sweep too, resume again

Prints what happened at each step; exits 1 if a run or a file is lost or a run is left RUNNING.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOB = ["solver=gd", "data.n=100", "data.d=5", "data.kappa=20", "progress=false"]


def store_rows(db: Path) -> list[tuple[str, str, str, bool]]:
    """(status, config_hash, status tag, is child) of every run, read-only straight from SQLite."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        rows = con.execute(
            "SELECT r.status, "
            "(SELECT value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = 'config_hash'), "
            "(SELECT value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = 'status'), "
            "EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = 'mlflow.parentRunId') "
            "FROM runs r").fetchall()
    except sqlite3.Error:
        return []
    finally:
        con.close()
    return [(s, h, t, bool(c)) for s, h, t, c in rows]


def command(n: int, workers: int, sweep: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline", "-m", *JOB, f"seed=range(0,{n})", "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={workers}", f"hydra.sweep.dir={sweep}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=24)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--kill-after", type=int, default=8, help="FINISHED child runs before the SIGKILL")
    ap.add_argument("--rounds", type=int, default=1, help="sweeps killed in a row before the last, complete one")
    a = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="faults-"))
    db = root / "mlflow.db"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(SOFTMAX_LAB_ROOT=str(root), OMP_NUM_THREADS="1")
    print(f"{a.jobs} jobs, {a.workers} workers, store {db}")
    finished_at_kill: set[str] = set()
    first_dirs = []
    resumed_total = 0
    for rnd in range(a.rounds + 1):
        sweep = root / f"sweep{rnd}"
        log = root / f"sweep{rnd}.log"
        t0 = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.Popen(command(a.jobs, a.workers, sweep), cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        last = rnd == a.rounds
        if not last:
            target = len({h for s, h, _, c in store_rows(db) if c and s == "FINISHED"}) + a.kill_after
            while len({h for s, h, _, c in store_rows(db) if c and s == "FINISHED"}) < target:
                if proc.poll() is not None:
                    print(f"round {rnd}: the sweep ended (exit {proc.returncode}) before the kill")
                    return 1
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rows = store_rows(db)
            finished_at_kill = {h for s, h, _, c in rows if c and s == "FINISHED"}
            running = Counter(c for s, _, _, c in rows if s == "RUNNING")
            print(f"round {rnd}: SIGKILL after {time.perf_counter() - t0:.1f} s ({log.read_text().count(': resumed (config hash')} "
                  f"jobs resumed by then): {len(finished_at_kill)} configs FINISHED, left RUNNING: {running[True]} "
                  f"child runs and {running[False]} parent runs")
            first_dirs.append(sweep)
        else:
            rc = proc.wait()
        text = log.read_text()
        resumed = text.count(": resumed (config hash")
        resumed_total += resumed
        if last:
            print(f"round {rnd}: exit {rc} after {time.perf_counter() - t0:.1f} s, {resumed} jobs resumed, "
                  f"{a.jobs - resumed} run")

    rows = store_rows(db)
    children = [r for r in rows if r[3]]
    finished = Counter(h for s, h, _, c in children if s == "FINISHED")
    statuses = Counter(s for s, *_ in rows)
    killed = [r for r in rows if r[0] == "KILLED"]
    summaries = {json.loads(p.read_text())["config_hash"]: p for p in (root / f"sweep{a.rounds}").rglob("summary.json")}
    identical = all((p.read_bytes() == summaries[json.loads(p.read_text())["config_hash"]].read_bytes())
                    for d in first_dirs for p in d.rglob("summary.json")
                    if json.loads(p.read_text())["config_hash"] in finished_at_kill and d == first_dirs[-1])
    print(f"store: {dict(statuses)}; {len(finished)} configs with a FINISHED run, "
          f"max FINISHED per config {max(finished.values(), default=0)}; KILLED runs: {len(killed)} "
          f"({sum(1 for r in killed if not r[3])} parents), all tagged killed: {all(r[2] == 'killed' for r in killed)}")
    print(f"last sweep folder: {len(summaries)} summary.json; resumed summaries byte-identical: {identical}")
    ok = (rc == 0 and len(finished) == a.jobs and set(finished.values()) == {1} and statuses.get("RUNNING", 0) == 0
          and len(summaries) == a.jobs and identical and all(r[2] == "killed" for r in killed))
    print("nothing lost" if ok else "LOST OR INCONSISTENT")
    print(f"(files under {root})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
