"""The command line: exit statuses, messages that name the key, nothing half-written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.solve import job_task
from tests.conftest import PROJECT


def running_runs(uri: str) -> list:
    """Runs left RUNNING in a store (none if the store was never created)."""
    path = Path(uri[len("sqlite:///"):])
    if not path.exists():
        return []
    from mlflow.tracking import MlflowClient

    c = MlflowClient(uri)
    exps = [e.experiment_id for e in c.search_experiments()]
    return [r for r in c.search_runs(exps, max_results=10_000) if r.info.status == "RUNNING"]


def bad_file(tmp: Path, kind: str) -> Path:
    p = tmp / f"{kind}.npz"
    A, b, w = np.ones((5, 2)) * [[1, 0]] + np.eye(5, 2), np.full(5, 0.2), np.ones(5)
    if kind == "text":
        p.write_text("not a zip")
    elif kind == "nokey":
        np.savez(p, A=A, b=b)
    elif kind == "shape":
        np.savez(p, A=A, b=b[:4], w=w)
    elif kind == "nan":
        np.savez(p, A=A, b=np.r_[np.nan, b[1:]], w=w)
    elif kind == "extra":
        np.savez(p, A=A, b=b, w=w, weights=w)
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "dtype":
        np.savez(p, A=A.astype(str), b=b, w=w)
    elif kind == "pickled":
        np.savez(p, A=np.array([{"x": 1}] * 5, dtype=object), b=b, w=w)
    return p


FILE_KINDS = ("text", "nokey", "shape", "nan", "extra", "empty", "dtype", "pickled")


#: bad input, by kind: (command-line overrides, the key or field the error must name)
CASES = [
    # wrong types
    (["data.n=abc"], "data.n"),
    (["seed=abc"], "seed"),
    (["resume=maybe"], "resume"),
    (["stop.eps_grid=oops"], "stop.eps_grid"),
    # out-of-range values
    (["data.n=0"], "data.n"),
    (["threads=0"], "threads"),
    (["stop.max_step=-1"], "stop.max_step"),
    (["x0_radius=-1"], "x0_radius"),
    # unknown keys and options
    (["+nonsense=1"], "nonsense"),
    (["stop.nonsense=1"], "stop.nonsense"),
    (["tracking=nope"], "tracking"),
    (["hydra/launcher=nope"], "hydra.launcher"),
    (["dtype=float16"], "dtype"),
    # sizes whose memory estimate exceeds the machine: refused before anything is allocated
    (["data.n=1000000000"], "data.n"),
    (["problem=attention_regression", "data=attention", "data.n=200000", "data.d=8"], "data.n"),
    # data files: wrong or extra fields, dtype, shape, NaN/Inf, empty, not an npz, pickled objects
    (["data=file", "data.path={extra}"], "data.path:weights"),
    (["data=file", "data.path={empty}"], "data.path"),
    (["data=file", "data.path={dtype}"], "data.path:A"),
    (["data=file", "data.path={pickled}"], "data.path"),
    (["data.kappa=0.5"], "data.kappa"),
    (["data.rank=11"], "data.rank"),
    (["stop.eps=-1"], "stop.eps"),
    (["solver=nope"], "solver"),
    (["problem=nope"], "problem"),
    (["data.nonsense=1"], "data.nonsense"),
    (["data=file", "data.path={tmp}/absent.npz"], "data.path"),
    (["data=file", "data.path={text}"], "data.path"),
    (["data=file", "data.path={nokey}"], "data.path:w"),
    (["data=file", "data.path={shape}"], "data.path:b"),
    (["data=file", "data.path={nan}"], "data.path:b"),
    (["problem=zo_softmax"], "data"),                      # P2 problem with P1 data
    (["data=lowrank"], "data"),                            # P1 problem with P2 data
    (["problem=zo_softmax", "data=lowrank", "data.fast=90", "data.slow=20"], "data.fast"),
    (["problem=zo_softmax", "data=lowrank", "data.rows=10", "data.fast=8", "data.slow=8", "data.d=20"], "data.rows"),
    (["problem=zo_softmax", "data=lowrank", "solver=zo_sgd", "solver.step=fixed"], "solver.eta"),
    (["problem=zo_softmax", "data=lowrank", "solver=zo_sgd", "solver.perturbation=uniform"], "solver.perturbation"),
    (["problem=zo_softmax", "data=finite_sum", "solver=zo_sgd", "solver.batch=0"], "solver.batch"),
    (["problem=zo_softmax", "data=finite_sum", "data.m=1000000000"], "data.m"),
    (["problem=attention_regression"], "data"),
    (["problem=attention_regression", "data=attention", "data.n=2", "data.d=3"], "data.n"),
    (["problem=attention_regression", "data=attention", "data.w2=-1"], "data.w2"),
    (["problem=attention_regression", "data=attention_file", "data.path={tmp}/absent.npz"], "data.path"),
    (["problem=attention_regression", "data=attention_file", "data.path={text}"], "data.path"),
    (["solver=alternating"], "solver"),
    (["kernels.backend=cuda"], "kernels.backend"),
    (["problem=attention_regression", "data=attention", "solver=alternating", "solver.hessian=dense"], "solver.hessian"),
    (["+study=p3_local", "study.y=loss"], "study.y"),
    # issue 17: a typo is refused with or without +, an internal schema or group is no choice
    (["+data.kapa=30"], "data.kapa"),
    (["+data.path=x.npz"], "data.path"),
    (["solver=gd_schema"], "solver"),
    (["sizes=quick"], "sizes"),
    (["study.y=loss"], "study.y"),
]


@pytest.mark.parametrize("argv,key", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_exits_2_naming_the_key(lab_root, store_uri, capsys, argv, key):
    subs = {k: bad_file(lab_root, k) for k in FILE_KINDS} | {"tmp": lab_root}
    argv = [a.format(**subs) for a in argv] + [f"hydra.run.dir={lab_root}/run"]
    assert main(job_task, argv=argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {key}:"), err
    assert "Traceback" not in err
    # nothing half-written: no output folder, no instance cache, no MLflow store or run
    assert not (lab_root / "run").exists() and not (lab_root / ".cache").exists()
    assert not Path(store_uri[len("sqlite:///"):]).exists()


def run_cli(args: list[str], env_root: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, SOFTMAX_LAB_ROOT=str(env_root), OMP_NUM_THREADS="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_bad_input_from_a_real_process_exits_2_without_traceback(lab_root, store_uri):
    r = run_cli(["pipeline", "data.kappa=0.5", f"hydra.run.dir={lab_root}/run"], lab_root)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: data.kappa: must be ≥ 1.0, got 0.5"
    assert not (lab_root / "run").exists() and running_runs(store_uri) == []


def test_external_instance_is_solved_to_a_tiny_gradient(lab_root, store_uri, instance_file):
    out = lab_root / "ext"
    code = main(job_task, argv=["data=file", f"data.path={instance_file}", "solver=newton", f"hydra.run.dir={out}"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("status", "final_loss", "final_grad_norm", "iterations", "iterations_to_eps", "wall_time_s",
                "config_hash"):
        assert key in summary
    assert summary["status"] == "finished" and summary["final_grad_norm"] <= 1e-10
    x = np.load(out / "solution.npz")["x"]
    assert x.shape == (5,)
    from mlflow.tracking import MlflowClient

    run = MlflowClient(store_uri).get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["status"] == "finished"
    assert run.data.tags["config_hash"] == summary["config_hash"]
    assert float(run.data.params["instance.ell"]) > 0 and run.data.params["data.kind"] == "file"


def test_a_crashing_solver_leaves_a_failed_run_not_a_running_one(lab_root, store_uri, monkeypatch):
    from pipeline.solvers import gd

    def boom(self, *a, **kw):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(gd.GradientDescent, "run", boom)
    code = main(job_task, argv=["solver=gd", "data.n=30", "data.d=3", f"hydra.run.dir={lab_root}/crash"])
    assert code == 1
    assert running_runs(store_uri) == []
    from mlflow.tracking import MlflowClient

    c = MlflowClient(store_uri)
    runs = c.search_runs([e.experiment_id for e in c.search_experiments()])
    assert [(r.info.status, r.data.tags["status"]) for r in runs] == [("FAILED", "failed")]
    assert "solver exploded" in runs[0].data.tags["error"]
    assert not (lab_root / "crash" / "summary.json").exists()


def assert_one_parent_and_finished_children(uri: str, sweep: Path, jobs: int) -> None:
    """A sweep's record in a store: one FINISHED parent, one FINISHED child per job with its loss curve,
    distinct config hashes, and the children's run ids in the jobs' summary.json files."""
    from mlflow.tracking import MlflowClient

    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("softmax-lab")
    runs = c.search_runs([exp.experiment_id], max_results=100)
    parents = [x for x in runs if "mlflow.parentRunId" not in x.data.tags]
    children = [x for x in runs if "mlflow.parentRunId" in x.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == jobs
    assert {x.data.tags["mlflow.parentRunId"] for x in children} == {parents[0].info.run_id}
    assert all(x.info.status == "FINISHED" and x.data.tags["status"] == "finished" for x in children)
    assert len({x.data.tags["config_hash"] for x in children}) == jobs
    assert all(len(c.get_metric_history(x.info.run_id, "loss")) >= 2 for x in children)
    summaries = sorted(sweep.rglob("summary.json"))
    assert len(summaries) == jobs
    assert {json.loads(p.read_text())["mlflow_run_id"] for p in summaries} == {x.info.run_id for x in children}


def test_study_sweep_then_plot_writes_table_fit_and_figure(lab_root):
    r = run_cli(["pipeline", "-m", "+study=p1_kappa", "profile=ci", "solver=gd,newton", "data.kappa=3,10,30", "seed=0",
                 "data.regime=regulariser", "tracking=off"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["pipeline.plot", "+study=p1_kappa", "profile=ci", "tracking=off"], lab_root)
    assert r.returncode == 0, r.stderr[-3000:]
    res = lab_root / "results"
    import pandas as pd

    fit = pd.read_csv(res / "p1_kappa" / "fit.csv").set_index("group")
    assert set(fit["panel"]) == {"regulariser"}
    assert (pd.read_csv(res / "p1_kappa" / "table.csv")["instance.softmax_share"] < 1e-3).all()
    assert set(fit.index) == {"gd", "newton"}
    assert 0.8 <= fit.loc["gd", "slope"] <= 1.2 and fit.loc["gd", "verdict"] == "pass"
    assert abs(fit.loc["newton", "slope"]) <= 0.2
    table = pd.read_csv(res / "p1_kappa" / "table.csv")
    assert len(table) == 6 and (table["instance.kappa"] > 5).all()
    png = (res / "figures" / "p1_kappa.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_plot_without_runs_is_a_usage_error(lab_root, capsys):
    from pipeline.plot import plot_study

    assert main(plot_study, argv=["+study=p1_kappa", "tracking=off"], extra_check=None) == 2
    assert "no run summaries" in capsys.readouterr().err


def test_diagnostics_study_groups_by_a_swept_value(lab_root):
    r = run_cli(["pipeline", "-m", "+study=p1_lipschitz", "profile=ci", "data.R=0.5,2,4", "data.n=20,200", "seed=0",
                 "diagnostics.points=20", "diagnostics.local_iters=20", "tracking=off"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["pipeline.plot", "+study=p1_lipschitz", "profile=ci", "tracking=off", "study.grid.ci.n='20,200'"], lab_root)
    assert r.returncode == 0, r.stderr[-3000:]
    import pandas as pd

    table = pd.read_csv(lab_root / "results" / "p1_lipschitz" / "table.csv")
    assert len(table) == 6 and (table["diagnostics.hessian_lipschitz"] > 0).all()
    assert (table["diagnostics.hessian_lipschitz_over_0572R3"] <= 1).all()  # the tight bound holds
    fit = pd.read_csv(lab_root / "results" / "p1_lipschitz" / "fit.csv")
    assert sorted(fit.group) == [20, 200] and (fit.slope > 0).all()


def test_timing_study_writes_only_timing_files(lab_root):
    r = run_cli(["pipeline", "-m", "+study=p1_nnz", "profile=ci", "data.n=2000,20000", "data.density=0.05,0.5",
                 "tracking=off"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["pipeline.plot", "+study=p1_nnz", "profile=ci", "tracking=off", "study.grid.ci.n='2000,20000'",
                 "study.grid.ci.density='0.05,0.5'", "study.fit_x_min=1000"], lab_root)
    assert r.returncode == 0, r.stderr[-3000:]
    res = lab_root / "results"
    import pandas as pd

    table = pd.read_csv(res / "p1_nnz" / "table_timing.csv")
    assert len(table) == 8 and (table["time_per_iteration_s"] > 0).all()
    fit = pd.read_csv(res / "p1_nnz" / "fit_timing.csv").set_index("group")
    assert fit.loc["approx_newton_sketched", "verdict"] in ("pass", "fail")
    assert (res / "figures" / "p1_nnz_timing.png").is_file()
    assert not (res / "p1_nnz" / "table.csv").exists() and not (res / "figures" / "p1_nnz.png").exists()


def test_zo_study_sweep_then_plot_then_claims(lab_root, store_uri):
    """A P2 study end to end on a real store, in both instance regimes: sweep, plot, the control sweep of C2.11,
    then the claim judged per regime on them."""
    r = run_cli(["pipeline", "-m", "+study=zo_batch", "profile=ci", "solver.batch=1,4,64", "seed=0"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["pipeline.plot", "+study=zo_batch", "profile=ci"], lab_root)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["pipeline", "-m", "+study=zo_batch_tuned", "profile=ci", "study.grid.ci.batch='1,64'",
                 "study.grid.ci.scale='1'"], lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["pipeline.plot", "+study=zo_batch_tuned", "profile=ci", "study.grid.ci.batch='1,64'",
                 "study.grid.ci.scale='1'"], lab_root)
    assert r.returncode == 0, r.stderr[-3000:]
    import pandas as pd

    table = pd.read_csv(lab_root / "results" / "zo_batch" / "table.csv")
    assert len(table) == 6 and (table["oracle.forward"] == 2 * table["iterations"]).all()
    assert (table["info.eta"] > 0).all() and (table["instance.alpha"] > 0).all()
    assert "wall_time_s" not in table  # wall-clock columns stay out of the byte-stable table
    share = table.groupby("config.data.regime")["instance.softmax_share"].max()
    assert share["regulariser"] < 0.05 and share["softmax"] > 0.3  # the two regimes, measured
    for _, sub in table.groupby("config.data.regime"):
        T = sub.groupby("config.solver.batch")["iterations_per_decade"].median()
        assert T[1] > 2 * T[64]  # the batch term with the theory step: small batches need more iterations
    r = run_cli(["pipeline.verify", "profile=ci", "claims=[C2.11]"], lab_root)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads((lab_root / "results" / "verify" / "verdicts.json").read_text())
    assert [(v["claim"], v["regime"]) for v in rows] == [("C2.11", "regulariser"), ("C2.11", "softmax")]
    assert rows[0]["details"]["B"] == [1.0, 4.0, 64.0] and "tuned constant step" in rows[0]["details"]["control"]
    assert running_runs(store_uri) == []


def test_claim_judged_on_a_missing_study_exits_2_naming_it(lab_root, capsys):
    from pipeline.verify import select, verify

    assert main(verify, argv=["profile=ci", "claims=[C2.7]", "tracking=off"], extra_check=select) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: results_dir:") and "zo_rank" in err


def test_trace_study_sweep_then_plot(lab_root, store_uri):
    """P3's local study end to end on a real store: curves per run, one panel per start, a summary per group."""
    r = run_cli(["pipeline", "-m", "+study=p3_local", "profile=ci", "solver=alternating,gd_armijo", "stop.max_iter=300"],
                lab_root, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["pipeline.plot", "+study=p3_local", "profile=ci"], lab_root)
    assert r.returncode == 0, r.stderr[-3000:]
    import pandas as pd

    res = lab_root / "results"
    table = pd.read_csv(res / "p3_local" / "table.csv")
    assert len(table) == 8 and set(table["config.x0"]) == {"near_reference", "zeros"}
    assert set(table["config.data.regime"]) == {"regulariser", "softmax"}
    assert not [c for c in table.columns if c.endswith("_time_s")]  # wall clock stays out of the byte-stable table
    fit = pd.read_csv(res / "p3_local" / "fit.csv").set_index(["panel", "group"])
    assert fit.loc[("regulariser · near_reference", "alternating"), "reached_1e-08"] == 1
    assert fit.loc[("regulariser · near_reference", "alternating"), "median_decay_r2"] > 0.95  # a straight line: linear rate
    assert "ended below L*" in (res / "p3_local" / "fit.md").read_text()
    assert (res / "figures" / "p3_local.png").is_file()
    assert running_runs(store_uri) == []


@pytest.mark.parametrize("argv,jobs", [(["solver=gd", "data.n=30", "data.d=3"], 1),
                                       (["-m", "solver=gd", "data.n=30", "data.d=3", "seed=0,1,2"], 3)])
def test_a_job_is_validated_once(lab_root, monkeypatch, argv, jobs):
    """The precheck validates every job before Hydra starts; the jobs trust it (no second validation)."""
    from pipeline.cli import precheck
    from pipeline.core import schema

    calls = []
    real = schema.validate

    def counted(cfg):
        calls.append(cfg.seed)
        return real(cfg)

    monkeypatch.setattr(schema, "validate", counted)
    monkeypatch.setattr(precheck, "validate", counted)
    assert main(job_task, argv=[*argv, "tracking=off", f"hydra.run.dir={lab_root}/one",
                                f"hydra.sweep.dir={lab_root}/sweep"]) == 0
    assert sorted(calls) == list(range(jobs)) if jobs > 1 else calls == [0]
