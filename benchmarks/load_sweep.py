"""Load: real sweeps against the embedded SQLite store and against a tracking server on PostgreSQL.

For each backend and sweep size N, one multirun of N tiny jobs
(``python -m pipeline -m solver=newton data.n=40 data.d=3 seed=range(0,N)``, joblib launcher
with W workers, one thread per job) runs in a fresh temporary root (``SOFTMAX_LAB_ROOT``), and
is timed from the start of the command to its exit. Then the store is checked against the files
the jobs wrote:

- child runs of the sweep's parent run, by status (FINISHED expected for all N);
- parent runs FINISHED (one expected);
- runs left RUNNING anywhere in the store (none expected);
- ``summary.json`` files (N expected);
- metric points: for every job, the number of ``loss`` points in the store against the number
  the job logs, computed from its ``trace.parquet`` (the iterations in
  ``pipeline.solvers.base.log_schedule(stop.max_iter)``, plus the last one).

Backends:

- ``sqlite``: ``tracking=sqlite``, the embedded store ``sqlite:///<root>/mlflow.db``, a new
  one for each sweep;
- ``server``: ``tracking=server``, one `mlflow server` (one worker, artifacts served by the
  server) on a throwaway PostgreSQL cluster on loopback (``tests/servers.py``), started once per
  invocation and shared by the sweeps; each sweep logs to an experiment of its own
  (``load-<N>``), so nothing is resumed from an earlier sweep.

    python benchmarks/load_sweep.py                                  # --jobs 25 100 200 --workers 4
    python benchmarks/load_sweep.py --jobs 25 --backends sqlite      # one quick point
    python benchmarks/load_sweep.py --backends server --jobs 100 --mlflow-telemetry --append
    python benchmarks/load_sweep.py --replot                         # figure and table from the .json

The pipeline turns MLflow's usage telemetry off (``pipeline/__init__.py``); ``--mlflow-telemetry``
runs the sweeps with ``MLFLOW_DISABLE_TELEMETRY=false``, the setting under which jobs logging to a
server were lost (MLflow's telemetry thread edits ``os.environ`` under the client's requests).
``--append`` adds the sweeps to the saved measurements instead of replacing them, so that both
settings share one table and figure.

Prints a Markdown table (docs/benchmarks.md quotes it), writes the raw measurements as JSON
(``docs/figures/load_sweep.json``) and the figure (wall time and throughput against jobs per
sweep, ``docs/figures/load_sweep.png``). Exits with status 1 if any sweep failed, lost a run or
a metric point, or left a run RUNNING.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.solvers.base import log_schedule  # noqa: E402

JOB = ["solver=newton", "data.n=40", "data.d=3", "progress=false"]
BACKEND_LABEL = {"sqlite": "embedded SQLite", "server": "server on PostgreSQL"}


def label(r: dict) -> str:
    return BACKEND_LABEL[r["backend"]] + (", MLflow telemetry on (before the fix)" if r.get("telemetry", False) else "")
DEFAULT_OUT = ROOT / "docs" / "figures" / "load_sweep.png"
PAGE = 1000


# --------------------------------------------------------------------------- store queries
def all_runs(client, experiment_ids: list[str], filter_string: str = "") -> list:
    """Every run matching ``filter_string`` (all lifecycle stages), page by page."""
    from mlflow.entities import ViewType

    out, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, run_view_type=ViewType.ALL,
                                  max_results=PAGE, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def expected_loss_points(trace_path: Path, config_path: Path) -> int:
    """Loss points a job logs: the trace's iterations in the log schedule, and the last one."""
    import pandas as pd
    import yaml

    iterations = pd.read_parquet(trace_path, columns=["iteration"])["iteration"].astype(int).tolist()
    if not iterations:
        return 0
    max_iter = int(yaml.safe_load(config_path.read_text())["stop"]["max_iter"])
    schedule = log_schedule(max_iter)
    return len({i for i in iterations if i in schedule} | {iterations[-1]})


def check_store(uri: str, experiment: str, sweep_dir: Path, n_jobs: int) -> dict:
    """Compare what the store holds after a sweep with what its jobs wrote to files."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    all_exp = [e.experiment_id for e in client.search_experiments(max_results=PAGE)]
    parent_file = sweep_dir / "parent_run.json"
    parent_id = json.loads(parent_file.read_text())["run_id"] if parent_file.is_file() else None
    children = (all_runs(client, [exp.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
                if exp is not None and parent_id else [])
    by_status: dict[str, int] = {}
    for r in children:
        by_status[r.info.status] = by_status.get(r.info.status, 0) + 1
    parents = all_runs(client, [exp.experiment_id], "tags.kind = 'sweep'") if exp is not None else []
    running = all_runs(client, all_exp, "attributes.status = 'RUNNING'")

    child_ids = {r.info.run_id for r in children}
    summaries = sorted(sweep_dir.rglob("summary.json"))
    expected = stored = surplus = 0
    lost_by_job = {}
    orphan_summaries = 0  # a summary whose run is not a child of this sweep's parent
    for s in summaries:
        run_id = json.loads(s.read_text()).get("mlflow_run_id")
        if run_id not in child_ids:
            orphan_summaries += 1
        exp_pts = expected_loss_points(s.parent / "trace.parquet", s.parent / "config.yaml")
        got = len(client.get_metric_history(run_id, "loss")) if run_id else 0
        expected += exp_pts
        stored += got
        if got < exp_pts:
            lost_by_job[s.parent.name] = exp_pts - got
        surplus += max(0, got - exp_pts)
    finished = by_status.get("FINISHED", 0)
    return {
        "children": len(children), "children_by_status": by_status, "children_finished": finished,
        "lost_runs": n_jobs - finished,
        "parents": len(parents), "parents_finished": sum(p.info.status == "FINISHED" for p in parents),
        "running_left": len(running),
        "summaries": len(summaries), "summaries_without_child_run": orphan_summaries,
        "loss_points_expected": expected, "loss_points_stored": stored,
        "lost_points": sum(lost_by_job.values()), "surplus_points": surplus, "lost_points_by_job": lost_by_job,
    }


# --------------------------------------------------------------------------- one sweep
def matching_lines(path: Path, pattern: str) -> list[str]:
    if not path.is_file():
        return []
    rx = re.compile(pattern)
    return [line for line in path.read_text(errors="replace").splitlines() if rx.search(line)]


def count_lines(path: Path, pattern: str) -> int:
    return len(matching_lines(path, pattern))


def sweep(backend: str, n_jobs: int, workers: int, base: Path, server_uri: Optional[str],
          telemetry: bool = False) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"{backend}-{n_jobs}-", dir=base))
    sweep_dir = root / "sweep"
    experiment = f"load-{n_jobs}" if backend == "server" else "softmax-lab"
    if backend == "server":
        tracking = ["tracking=server", f"tracking.uri={server_uri}", f"tracking.experiment={experiment}"]
        uri = server_uri
    else:
        tracking = ["tracking=sqlite"]
        uri = f"sqlite:///{root}/mlflow.db"
    cmd = [sys.executable, "-m", "pipeline", "-m", *JOB, f"seed=range(0,{n_jobs})", *tracking,
           "hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}", f"hydra.sweep.dir={sweep_dir}"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(SOFTMAX_LAB_ROOT=str(root), OMP_NUM_THREADS="1", HYDRA_FULL_ERROR="1")
    env["MLFLOW_DISABLE_TELEMETRY"] = "false" if telemetry else "true"
    log = root / "sweep.log"
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        rc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    row = {"backend": backend, "telemetry": telemetry, "jobs": n_jobs, "workers": workers, "wall_s": wall, "jobs_per_s": n_jobs / wall,
           "returncode": rc, "load_avg_1min": [load0, load1],
           "sweep_log_warnings": count_lines(log, r"WARNING|Retrying|Traceback|Error"),
           "command": " ".join(c if c.isprintable() and " " not in c else repr(c) for c in cmd[1:])}
    row.update(check_store(uri, experiment, sweep_dir, n_jobs))
    job_times = [json.loads(s.read_text()).get("job_time_s") for s in sweep_dir.rglob("summary.json")]
    job_times = [t for t in job_times if t is not None]
    row["mean_job_time_s"] = sum(job_times) / len(job_times) if job_times else None
    errors = [line.strip() for line in log.read_text(errors="replace").splitlines()
              if re.match(r"^[\w.]+(Error|Exception)\b", line.strip())]
    row["sweep_errors"] = sorted(set(errors))
    if rc != 0 or row["sweep_log_warnings"]:
        row["sweep_log_tail"] = log.read_text(errors="replace")[-3000:]
    shutil.rmtree(root, ignore_errors=True)
    return row


@contextlib.contextmanager
def shared_server(base: Path) -> Iterator[tuple[str, Path]]:
    """A tracking server on a fresh PostgreSQL cluster; yields its URI and the folder of their logs."""
    from tests.servers import mlflow_server, postgres

    work = base / "server"
    with postgres(work) as db_uri, mlflow_server(work, db_uri) as uri:
        yield uri, work


def ok(r: dict) -> bool:
    return (r["returncode"] == 0 and r["lost_runs"] == 0 and r["lost_points"] == 0 and r["running_left"] == 0
            and r["parents_finished"] == 1 and r["summaries"] == r["jobs"] and r["children"] == r["jobs"]
            and r["summaries_without_child_run"] == 0)


# --------------------------------------------------------------------------- output
def table(rows: list[dict]) -> str:
    head = ("| jobs | workers | backend | wall s | jobs/s | FINISHED children | lost runs | lost metric points "
            "| RUNNING left |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        lines.append(f"| {r['jobs']} | {r['workers']} | {label(r)} | {r['wall_s']:.1f} "
                     f"| {r['jobs_per_s']:.2f} | {r['children_finished']} / {r['jobs']} | {r['lost_runs']} "
                     f"| {r['lost_points']} of {r['loss_points_expected']} | {r['running_left']} |")
    return "\n".join(lines)


SERIES = [("embedded SQLite", dict(color="tab:blue", marker="o")),
          ("server on PostgreSQL", dict(color="tab:orange", marker="s")),
          ("server on PostgreSQL, MLflow telemetry on (before the fix)", dict(color="tab:red", marker="^", linestyle="--")),
          ("embedded SQLite, MLflow telemetry on (before the fix)", dict(color="tab:purple", marker="v", linestyle="--"))]


def loss_note(r: dict) -> str:
    parts = [f"lost {r['lost_runs']} of {r['jobs']} runs", f"{r['lost_points']} pts"]
    if r["running_left"]:
        parts.append(f"{r['running_left']} RUNNING")
    if r["returncode"]:
        parts.append(f"exit {r['returncode']}")
    return ", ".join(parts)


def figure(rows: list[dict], path: Path, workers: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_r) = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for name, style in SERIES:
        pts = sorted((r for r in rows if label(r) == name), key=lambda r: r["jobs"])
        if not pts:
            continue
        n = [r["jobs"] for r in pts]
        ax_t.plot(n, [r["wall_s"] for r in pts], label=name, **style)
        ax_r.plot(n, [r["jobs_per_s"] for r in pts], label=name, **style)
        for r in pts:
            if not ok(r):
                ax_t.plot([r["jobs"]], [r["wall_s"]], marker="o", ms=14, mfc="none", mec="red", mew=1.5)
                ax_t.annotate(loss_note(r), (r["jobs"], r["wall_s"]), textcoords="offset points",
                              xytext=(-12, 10), ha="right", color="red", fontsize=8, fontweight="bold")
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    sizes = sorted({r["jobs"] for r in rows})
    walls = [r["wall_s"] for r in rows]
    ax_t.set_xscale("log")
    ax_t.set_yscale("log")
    ax_t.set_ylim(min(walls) / 1.3, max(walls) * 1.3)
    ax_t.yaxis.set_major_locator(FixedLocator([v for v in (10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000)]))
    ax_t.yaxis.set_major_formatter(ScalarFormatter())
    ax_t.yaxis.set_minor_formatter(NullFormatter())
    ax_t.set_xlabel("jobs per sweep")
    ax_t.set_ylabel("wall time (s)")
    ax_t.set_title(f"Sweep wall time ({workers} workers, 2 cores)")
    ax_r.set_xscale("log")
    ax_r.set_ylim(bottom=0, top=1.25 * max(r["jobs_per_s"] for r in rows))
    ax_r.set_xlabel("jobs per sweep")
    ax_r.set_ylabel("throughput (jobs/s)")
    ax_r.set_title("Throughput")
    for ax in (ax_t, ax_r):
        ax.set_xlim(min(sizes) / 1.25, max(sizes) * 1.25)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    bad = [r for r in rows if not ok(r)]
    total_runs = sum(r["jobs"] for r in rows)
    total_pts = sum(r["loss_points_expected"] for r in rows)
    if not bad:
        text, color = (f"all {len(rows)} sweeps: 0 lost runs (of {total_runs}),\n"
                       f"0 lost loss points (of {total_pts}), 0 RUNNING left"), "black"
    else:
        lost_runs = sum(r["lost_runs"] for r in rows)
        text, color = (f"{len(bad)} of {len(rows)} sweeps lost work (circled):\n"
                       f"{lost_runs} run{'s' * (lost_runs != 1)} of {total_runs}; "
                       f"{sum(r['lost_points'] for r in rows)} of {total_pts} loss points\n"
                       f"(points counted over the jobs that wrote a trace)"), "red"
    ax_t.text(0.98, 0.04, text, transform=ax_t.transAxes, ha="right", va="bottom", fontsize=8, color=color,
              bbox=dict(boxstyle="round", fc="white", ec="0.7"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", nargs="+", type=int, default=[25, 100, 200], help="sweep sizes")
    ap.add_argument("--workers", type=int, default=4, help="joblib workers of each sweep")
    ap.add_argument("--backends", nargs="+", choices=("sqlite", "server"), default=["sqlite", "server"])
    ap.add_argument("--mlflow-telemetry", action="store_true",
                    help="run the sweeps with MLflow's usage telemetry on (MLFLOW_DISABLE_TELEMETRY=false)")
    ap.add_argument("--figure", type=Path, default=DEFAULT_OUT,
                    help="the figure; the raw measurements go next to it as .json")
    ap.add_argument("--append", action="store_true",
                    help="add this invocation's sweeps to the existing .json (and figure) instead of replacing them")
    ap.add_argument("--replot", action="store_true", help="redraw the figure and table from the .json, run nothing")
    a = ap.parse_args()
    store = a.figure.with_suffix(".json")

    if a.replot:
        invocations = json.loads(store.read_text())["invocations"]
        rows = [r for inv in invocations for r in inv["rows"]]
        figure(rows, a.figure, invocations[0]["meta"]["workers"])
        print(table(rows))
        return 0 if all(ok(r) for r in rows) else 1

    meta = {"date": dt.date.today().isoformat(), "cpus": os.cpu_count(), "workers": a.workers,
            "job": JOB, "telemetry": a.mlflow_telemetry, "python": sys.version.split()[0],
            "argv": sys.argv[1:]}
    rows: list[dict] = []
    t_start = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="load-sweep-"))
    try:
        for backend in a.backends:
            ctx = shared_server(base) if backend == "server" else contextlib.nullcontext((None, None))
            with ctx as (uri, logs):
                for n in a.jobs:
                    r = sweep(backend, n, a.workers, base, uri, telemetry=a.mlflow_telemetry)
                    rows.append(r)
                    print(table([r]).splitlines()[-1], flush=True)
                    if r.get("sweep_log_tail"):
                        print(f"  sweep log ({r['sweep_log_warnings']} warning/error lines), errors: "
                              f"{r['sweep_errors']}", file=sys.stderr)
                if logs is not None:
                    server_errors = matching_lines(logs / "mlflow-server.log",
                                                   r"ERROR|Traceback|Exception|\" [45]\d\d ")
                    pg_errors = matching_lines(logs / "postgres.log", r"ERROR|FATAL|PANIC")
                    meta["server_log_error_lines"] = len(server_errors)
                    meta["postgres_log_error_lines"] = len(pg_errors)
                    meta["server_log_errors"] = server_errors[:50]
                    meta["postgres_log_errors"] = pg_errors[:50]
                    meta["server_log_tail"] = (logs / "mlflow-server.log").read_text(errors="replace")[-2000:]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    meta["total_s"] = time.perf_counter() - t_start
    print()
    print(table(rows))
    print(f"\ntotal {meta['total_s']:.0f} s; server log error lines: {meta.get('server_log_error_lines')}, "
          f"postgres log error lines: {meta.get('postgres_log_error_lines')}")
    invocations = json.loads(store.read_text())["invocations"] if a.append and store.is_file() else []
    invocations.append({"meta": meta, "rows": rows})
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps({"invocations": invocations}, indent=1))
    figure([r for inv in invocations for r in inv["rows"]], a.figure, a.workers)
    bad = [r for r in rows if not ok(r)]
    for r in bad:
        print(f"LOST: {label(r)}, {r['jobs']} jobs: exit {r['returncode']}, lost runs {r['lost_runs']}, "
              f"lost points {r['lost_points']}, RUNNING {r['running_left']}, summaries {r['summaries']}, "
              f"children {r['children_by_status']}, parents FINISHED {r['parents_finished']}, "
              f"errors {r['sweep_errors']}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
