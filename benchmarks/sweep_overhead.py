"""Share of a sweep's wall time spent outside solver work (Hydra, MLflow, I/O, start-up).

Runs real 50-job sweeps (``python -m pipeline -m ...``, basic launcher, SQLite
store in a fresh temporary root) and compares the sweep's wall time with the
sum of the jobs' solver times (``wall_time_s``, observation excluded) and job
times (``job_time_s``: instance from cache, solve, files, MLflow).

    python benchmarks/sweep_overhead.py                    # prints a table
    python benchmarks/sweep_overhead.py --compare-sweepers # tiny jobs under hydra/sweeper=basic and =lab

The lab's sweeper (``hydra/sweeper=lab``, hydra_plugins/softmax_lab_sweeper) is Hydra's basic sweeper without
its own validation pass (the front door has validated every job); ``--compare-sweepers`` runs the tiny-job
sweep under both, alternating, and reports each one's wall time.

Two job sizes are measured side by side: Newton (milliseconds of work per job)
and gradient descent at κ(∇²L(x*)) ≈ 900 (a few thousand iterations per job).
"""
from __future__ import annotations

import json
import statistics
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SWEEPS = {
    "newton (tiny jobs)": ["solver=newton", "data.kappa=3,10,30,100,300", "seed=range(10)"],
    "gd, kappa(A)=30": ["solver=gd", "data.kappa=30", "seed=range(50)"],
}


def run(name: str, overrides: list[str], sweeper: str = "lab") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SOFTMAX_LAB_ROOT=tmp, OMP_NUM_THREADS="1", HYDRA_FULL_ERROR="1")
        sweep = Path(tmp) / "sweep"
        cmd = [sys.executable, "-m", "pipeline", "-m", *overrides, "data.n=200", "data.d=10", "progress=false",
               f"hydra.sweep.dir={sweep}", f"hydra/sweeper={sweeper}"]
        # warm the instance cache first so that synthesis is not counted as overhead
        subprocess.run(cmd + ["tracking=off", f"hydra.sweep.dir={tmp}/warm"], env=env, check=True, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        summaries = [json.loads(p.read_text()) for p in sweep.rglob("summary.json")]
    solver = sum(s["wall_time_s"] for s in summaries)
    job = sum(s["job_time_s"] for s in summaries)
    return {"sweep": name, "jobs": len(summaries), "wall_s": wall, "solver_s": solver, "job_s": job,
            "outside_solver": 1 - solver / wall, "per_job_overhead_s": (wall - solver) / len(summaries)}


def compare_sweepers(repeats: int = 3) -> None:
    """The tiny-job sweep under Hydra's basic sweeper and the lab's, alternating; the median wall time of each."""
    name = "newton (tiny jobs)"
    walls: dict[str, list[float]] = {"basic": [], "lab": []}
    for _ in range(repeats):
        for sweeper in walls:
            walls[sweeper].append(run(name, SWEEPS[name], sweeper)["wall_s"])
    print(f"{'sweeper':8s} {'jobs':>4s} {'wall s (each run)':>24s} {'median':>8s}")
    for sweeper, w in walls.items():
        print(f"{sweeper:8s} {50:4d} {', '.join(f'{x:.1f}' for x in w):>24s} {statistics.median(w):8.1f}")


def main() -> None:
    if "--compare-sweepers" in sys.argv[1:]:
        compare_sweepers()
        return
    rows = [run(name, ovr) for name, ovr in SWEEPS.items()]
    print(f"{'sweep':22s} {'jobs':>4s} {'wall s':>8s} {'solver s':>9s} {'in jobs s':>9s} {'outside solver':>15s} {'overhead/job s':>15s}")
    for r in rows:
        print(f"{r['sweep']:22s} {r['jobs']:4d} {r['wall_s']:8.1f} {r['solver_s']:9.1f} {r['job_s']:9.1f} "
              f"{r['outside_solver']:15.1%} {r['per_job_overhead_s']:15.3f}")


if __name__ == "__main__":
    main()
