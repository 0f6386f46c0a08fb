"""Resume is safe (issue 17, item 6): a job resumes only from a FINISHED run of the same config and the
same code version (the git commit plus a hash of the uncommitted changes under pipeline/, kernels/,
conf/; outside git, a hash of those files)."""
from __future__ import annotations

import json
import re
import shutil

from pipeline.tracking.client import code_version
from tests.pipeline.tracking.conftest import git, run_in

JOB = ["pipeline", "solver=newton", "data.n=30", "data.d=3"]


def version(root) -> str:
    return code_version.__wrapped__(str(root))  # uncached: the tests change the code between calls


def test_the_code_version_is_the_commit_plus_the_uncommitted_code(project_copy):
    commit = git(project_copy, "rev-parse", "HEAD").strip()
    clean = version(project_copy)
    assert clean == commit[:12]
    (project_copy / "README.md").write_text("not code\n")  # outside pipeline/, kernels/, conf/
    assert version(project_copy) == clean

    solver = project_copy / "pipeline" / "solvers" / "gd.py"
    solver.write_text(solver.read_text() + "\n# a change\n")
    changed = version(project_copy)
    assert re.fullmatch(rf"{commit[:12]}\+[0-9a-f]{{12}}", changed)
    solver.write_text(solver.read_text() + "# another change\n")
    assert version(project_copy) not in (clean, changed)

    git(project_copy, "checkout", "--", "pipeline")
    assert version(project_copy) == clean
    (project_copy / "conf" / "solver" / "new.yaml").write_text("name: gd\n")  # an untracked file counts
    assert version(project_copy) not in (clean, changed)


def test_outside_git_the_code_version_hashes_the_source_files(project_copy):
    shutil.rmtree(project_copy / ".git")
    first = version(project_copy)
    assert first.startswith("src-") and version(project_copy) == first
    (project_copy / "kernels" / "extra.py").write_text("X = 1\n")
    assert version(project_copy) not in (first,) and version(project_copy).startswith("src-")


def runs(project) -> list:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{project}/mlflow.db")
    return c.search_runs([c.get_experiment_by_name("softmax-lab").experiment_id], max_results=100,
                         order_by=["attributes.start_time ASC"])


def solve(project, out) -> dict:
    r = run_in(project, [*JOB, f"hydra.run.dir={out}"])
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "summary.json").read_text()) | {"_stdout": r.stdout}


def test_a_code_change_reruns_a_job_that_would_have_resumed(project_copy, tmp_path):
    first = solve(project_copy, tmp_path / "1")
    again = solve(project_copy, tmp_path / "2")
    assert "resumed" in again["_stdout"] and again["mlflow_run_id"] == first["mlflow_run_id"]  # same config and code

    solver = project_copy / "pipeline" / "solvers" / "newton.py"
    solver.write_text(solver.read_text() + "\n# a change that might have changed the results\n")
    after = solve(project_copy, tmp_path / "3")
    assert "resumed" not in after["_stdout"] and after["mlflow_run_id"] != first["mlflow_run_id"]
    assert after["config_hash"] == first["config_hash"]
    last = solve(project_copy, tmp_path / "4")
    assert "resumed" in last["_stdout"] and last["mlflow_run_id"] == after["mlflow_run_id"]  # from the new code's run

    versions = [(r.info.run_id, r.data.tags["code_version"]) for r in runs(project_copy)]
    clean = git(project_copy, "rev-parse", "HEAD").strip()[:12]
    assert [v for _, v in versions][0] == clean and versions[1][1].startswith(f"{clean}+")
    assert [i for i, _ in versions] == [first["mlflow_run_id"], after["mlflow_run_id"]]
