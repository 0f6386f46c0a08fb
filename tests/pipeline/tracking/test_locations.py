"""Nothing lands where it was not asked (issue 17, item 5): a store's artifacts go with the store, and a
command whose run folder and store are elsewhere writes nothing into the project; plot, verify and
report have no Hydra run folder.

The content-addressed instance cache (``<project>/.cache/instances``, README) stays in the project: it
is shared by every job and stage, like a build cache, and moves only with ``SOFTMAX_LAB_ROOT``."""
from __future__ import annotations

import json

import pytest

from pipeline.cli import main
from pipeline.solve import job_task
from tests.pipeline.tracking.conftest import git, run_in, snapshot
from tests.pipeline.tracking.test_runs import verdict

TINY = ["solver=newton", "data.n=30", "data.d=3"]
#: The folder the project keeps on purpose (see the module's docstring).
CACHE = ".cache/instances/"


def test_artifacts_follow_a_sqlite_store_elsewhere(lab_root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    uri = f"sqlite:///{elsewhere}/x.db"
    assert main(job_task, argv=[*TINY, f"tracking.uri={uri}", f"hydra.run.dir={lab_root}/run"]) == 0
    from mlflow.tracking import MlflowClient

    exp = MlflowClient(uri).get_experiment_by_name("softmax-lab")
    assert exp.artifact_location == (elsewhere / "mlartifacts" / "softmax-lab").as_uri()
    run_id = json.loads((lab_root / "run" / "summary.json").read_text())["mlflow_run_id"]
    logged = {p.name for p in (elsewhere / "mlartifacts" / "softmax-lab").rglob("*") if p.is_file()}
    assert {"summary.json", "solution.npz", "trace.parquet", "config.yaml"} <= logged, (run_id, logged)
    assert not (lab_root / "mlartifacts").exists() and not (lab_root / "mlflow.db").exists()


def test_a_job_and_plot_with_run_folder_and_store_elsewhere_write_nothing_into_the_project(project_copy, tmp_path):
    """Real commands with the project as working directory: a solve job (hydra.run.dir and tracking.uri in
    tmp), then plot of the claims' figures (results_dir in tmp): the project's files are as they were."""
    away = tmp_path / "away"
    store = [f"tracking.uri=sqlite:///{away}/store/x.db"]
    (away / "results" / "verify").mkdir(parents=True)
    rows = [verdict("C1.3", {"l1_by_n": {"2": 0.24, "5": 0.24}, "l2_by_n": {"2": 0.31, "5": 0.31}})]
    (away / "results" / "verify" / "verdicts.json").write_text(json.dumps(rows))
    before = snapshot(project_copy, skip=(CACHE,))

    r = run_in(project_copy, ["pipeline", *TINY, f"hydra.run.dir={away}/run", *store])
    assert r.returncode == 0, r.stderr[-3000:]
    assert (away / "run" / "summary.json").is_file() and (away / "store" / "mlartifacts").is_dir()
    r = run_in(project_copy, ["pipeline.plot", f"results_dir={away}/results", *store])
    assert r.returncode == 0, r.stderr[-3000:]
    assert (away / "results" / "figures" / "C1.3.png").is_file()

    assert snapshot(project_copy, skip=(CACHE,)) == before
    assert git(project_copy, "status", "--porcelain", "--ignored") == "!! .cache/\n"  # the instance cache only


@pytest.mark.parametrize("stage", ["pipeline.verify", "pipeline.report"])
def test_verify_and_report_leave_no_run_folder(project_copy, tmp_path, stage):
    away = tmp_path / "away"
    (away / "results" / "verify").mkdir(parents=True)
    (away / "results" / "verify" / "verdicts.json").write_text(json.dumps([verdict("C1.1", {})]))
    args = {"pipeline.verify": ["claims=[C1.1]", "profile=ci"], "pipeline.report": [f"reports_dir={away}/reports"]}
    before = snapshot(project_copy, skip=(CACHE,))
    r = run_in(project_copy, [stage, *args[stage], f"results_dir={away}/results",
                              f"tracking.uri=sqlite:///{away}/store/x.db"])
    if r.returncode != 0:  # a failure of another kind than the one expected
        pytest.fail(r.stderr[-3000:])
    assert snapshot(project_copy, skip=(CACHE,)) == before, sorted(set(snapshot(project_copy)) - set(before))[:5]

