"""What a run shows in MLflow for comparison (issue 17, item 10): params that are the job's config with
top-level ``solver``/``problem``/``study`` to filter on, short names, the instance as a dataset input,
a study's fitted slopes on its sweep's parent, each claim's figure on its claim run."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.core.records import config_params, ledger_key
from pipeline.job.record import run_label, run_params
from pipeline.plot import plot
from pipeline.solve import job_task
from pipeline.tracking import sink
from pipeline.verify import mirror as mirror_claim
from tests.conftest import compose
from tests.pipeline.test_cli import run_cli

TINY = ["data.n=30", "data.d=3"]


def store(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def runs_of(uri: str, experiment: str, query: str = "") -> list:
    c = store(uri)
    return c.search_runs([c.get_experiment_by_name(experiment).experiment_id], query, max_results=1000)


def test_a_solve_run_is_short_named_filterable_and_shows_its_instance(lab_root, store_uri):
    for solver in ("gd", "newton"):
        argv = [f"solver={solver}", *TINY, "resume=false", "progress=false", f"hydra.run.dir={lab_root}/{solver}"]
        assert main(job_task, argv=argv) == 0
    summary = json.loads((lab_root / "gd" / "summary.json").read_text())
    (gd,) = runs_of(store_uri, "softmax-lab", "params.solver = 'gd'")
    assert gd.info.run_id == summary["mlflow_run_id"]
    assert gd.info.run_name == "gd seed=0 data.n=30 data.d=3"  # no resume=false, progress, Hydra settings
    assert gd.data.params["problem"] == "softmax_regression"
    assert gd.data.tags["outcome"] == "converged" and gd.data.tags["code_version"]
    (newton,) = runs_of(store_uri, "softmax-lab", "params.solver = 'newton'")
    inputs = {r.info.run_id: [d.dataset for d in r.inputs.dataset_inputs] for r in (gd, newton)}
    assert [len(v) for v in inputs.values()] == [1, 1]
    a, b = inputs[gd.info.run_id][0], inputs[newton.info.run_id][0]
    assert a.digest == summary["instance_key"] and (a.name, a.digest) == (b.name, b.digest)  # one instance, seen as one
    assert json.loads(a.profile)["kappa"] == pytest.approx(summary["instance"]["kappa"])
    assert json.loads(a.source)["uri"].endswith(f".cache/instances/{summary['instance_key']}.npz")


def test_run_params_are_the_config_that_shaped_the_job():
    cfg = compose(["+study=p1_kappa", "profile=ci", "solver=newton_cg"])
    params = run_params(cfg, {"kappa": 12.5})
    assert not [k for k in params if k.startswith(("profile.", "study.", "tracking.", "hydra."))]
    assert not {"resume", "progress", "results_dir", "reports_dir", "claims", "data.cache"} & set(params)
    assert params["solver"] == "newton_cg" and params["solver.name"] == "scipy"  # the label, to filter on
    assert (params["problem"], params["study"], params["profile"]) == ("softmax_regression", "p1_kappa", "ci")
    assert params["instance.kappa"] == "12.5" and params["data.kappa"] and params["stop.max_iter"] == "60000"
    assert "threads" in params  # it fixes the bits of the solution
    assert len(params) < len(config_params(cfg)) // 2
    assert "study" not in run_params(compose(["solver=gd"]))  # outside a study: no study param


def test_a_run_name_keeps_only_the_jobs_own_overrides():
    overrides = ["+study=zo_batch", "profile=ci", "progress=false", "resume=false", "hydra/launcher=joblib",
                 "hydra.launcher.n_jobs=2", "tracking.uri=sqlite:////x.db", "threads=2", "data.cache=false",
                 "solver=zo_sgd", "solver.batch=64", "data.regime=softmax", "seed=1"]
    assert run_label("zo_sgd", 1, overrides) == "zo_sgd seed=1 solver.batch=64 data.regime=softmax"


def test_a_solve_run_logs_no_verify_sizes_or_study_bookkeeping(lab_root, store_uri):
    argv = ["solver=newton", *TINY, "+study=p1_kappa", "profile=ci", f"hydra.run.dir={lab_root}/run"]
    assert main(job_task, argv=argv) == 0
    (run,) = runs_of(store_uri, "p1_kappa")
    assert not [k for k in run.data.params if k.startswith(("profile.verify.", "study.", "tracking."))]
    assert run.data.params["study"] == "p1_kappa"


def test_plot_logs_the_fitted_slopes_on_the_studys_latest_parent_run(lab_root, store_uri):
    sweep = ["+study=p1_kappa", "profile=ci", "solver=gd,newton", "data.kappa=3,10,30", "seed=0", "data.regime=regulariser",
             "data.n=40", "data.d=4"]
    for _ in range(2):  # two sweeps: the second one's parent is the study's latest
        r = run_cli(["pipeline", "-m", *sweep], lab_root, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli(["pipeline.plot", "+study=p1_kappa", "profile=ci", "data.n=40", "data.d=4"], lab_root)
    assert r.returncode == 0, r.stderr[-3000:]
    fit = pd.read_csv(lab_root / "results" / "p1_kappa" / "fit.csv").set_index("group")
    parents = sorted(runs_of(store_uri, "p1_kappa", "tags.kind = 'sweep'"), key=lambda x: x.info.start_time)
    assert len(parents) == 2 and "slope.gd.regulariser" not in parents[0].data.metrics
    m = parents[-1].data.metrics
    for solver in ("gd", "newton"):
        for col, name in (("slope", "slope"), ("ci_low", "slope_ci_low"), ("ci_high", "slope_ci_high")):
            assert m[f"{name}.{solver}.regulariser"] == pytest.approx(fit.loc[solver, col], rel=1e-5, abs=1e-9)
    names = {a.path for a in store(store_uri).list_artifacts(parents[-1].info.run_id)}
    assert {"fit.csv", "fit.md", "table.csv", "p1_kappa.png"} <= names


def verdict(cid: str, details: dict) -> dict:
    return {"claim": cid, "paper": "P1", "regime": None, "statement": f"statement of {cid}", "criterion": "c",
            "measured": 0.5, "measured_label": "m", "bound": None, "bound_label": "paper constant unknown",
            "tight": 0.25, "passed": True, "slack": None, "verdict": "pass", "details": details}


def test_plot_attaches_each_claim_figure_to_its_claim_run(lab_root, store_uri):
    """The verify stage's mirror makes the claim runs; plot (no study) draws the figures and attaches each
    to the run whose ledger_key is its verdict's."""
    rows = [verdict("C1.1", {}), verdict("C1.3", {"l1_by_n": {"2": 0.24, "5": 0.24}, "l2_by_n": {"2": 0.31, "5": 0.31}})]
    cfg = compose(["profile=ci"])
    out = sink(cfg.tracking)
    out.open()
    with out.run("verify ci", {"kind": "verify"}, experiment="verify") as parent:
        ids = {r["claim"]: mirror_claim(out, parent, cfg, dict(r, seconds=0.1)) for r in rows}
        parent.end("FINISHED")
    (lab_root / "results" / "verify").mkdir(parents=True)
    (lab_root / "results" / "verify" / "verdicts.json").write_text(json.dumps(rows))
    assert {ledger_key(r) for r in rows} == {store(store_uri).get_run(i).data.tags["ledger_key"] for i in ids.values()}

    assert main(plot, argv=[f"hydra.run.dir={lab_root}/plot"], extra_check=None) == 0
    assert [a.path for a in store(store_uri).list_artifacts(ids["C1.3"])] == ["C1.3.png"]
    assert store(store_uri).list_artifacts(ids["C1.1"]) == []  # C1.1 has no figure


def test_two_workers_logging_one_new_instance_at_once_both_get_it(store_uri, monkeypatch):
    """The insert race of two workers (UNIQUE constraint on the dataset row, seen with two joblib workers
    on one SQLite store) is retried, and both runs link the one dataset; any other error propagates."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    real, calls = MlflowClient.log_inputs, []

    def racing(self, run_id, datasets=None, models=None):
        calls.append(run_id)
        if len(calls) == 1:
            raise MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, ...")
        return real(self, run_id, datasets=datasets, models=models)

    monkeypatch.setattr(MlflowClient, "log_inputs", racing)
    s = sink(compose([f"tracking.uri={store_uri}", "tracking.experiment=race"]).tracking)
    s.open()
    for name in ("a", "b"):
        with s.run(name, {}) as run:
            run.dataset("inst", "0123abcd", "/tmp/inst.npz", {"kappa": 1.0})
    runs = runs_of(store_uri, "race")
    assert len(calls) == 3 and all(r.inputs.dataset_inputs[0].dataset.digest == "0123abcd" for r in runs)

    def broken(self, run_id, datasets=None, models=None):
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: no such run")

    monkeypatch.setattr(MlflowClient, "log_inputs", broken)
    with pytest.raises(MlflowException, match="no such run"), s.run("c", {}) as run:
        run.dataset("inst", "0123abcd", "/tmp/inst.npz", {})


def test_a_networks_monitored_quantities_are_curves_of_its_run(lab_root, store_uri):
    """E05's network from its own θ(0) (x0=problem, no reference optimum): the normalised margin and the
    Fourier power it monitors are curves of the run at the observed steps, beside loss and grad_norm; the
    distance to a reference that does not exist is no curve; the trace keeps the same values."""
    argv = ["problem=modular_addition", "data=modular", "data.p=5", "data.k=2", "solver=adam", "solver.lr=0.03",
            "x0=problem", "reference.method=none", "stop.max_iter=60", "resume=false", "progress=false",
            f"hydra.run.dir={lab_root}/e05"]
    assert main(job_task, argv=argv) == 0
    (run,) = runs_of(store_uri, "softmax-lab", "params.problem = 'modular_addition'")
    c = store(store_uri)
    curves = {k: c.get_metric_history(run.info.run_id, k) for k in ("loss", "grad_norm", "margin_ratio", "power_median")}
    steps = [m.step for m in sorted(curves["margin_ratio"], key=lambda m: m.step)]
    assert steps[0] == 0 and steps[-1] == 60 and len(steps) > 20
    assert all([m.step for m in sorted(curves[k], key=lambda m: m.step)] == steps for k in curves)
    assert not c.get_metric_history(run.info.run_id, "distance")
    trace = pd.read_parquet(lab_root / "e05" / "trace.parquet").set_index("iteration")
    last = max(curves["margin_ratio"], key=lambda m: m.step)
    assert trace.loc[60, "margin_ratio"] == pytest.approx(last.value, rel=1e-12)
