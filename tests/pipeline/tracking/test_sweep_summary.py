"""A sweep ends with its outcomes per solver and where its results are (issue 17, item 4)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.cli import main
from pipeline.solve import job_task
from pipeline.solvers import adam

#: newton converges (no step limit) or diverges (its first step, of norm 1, is over stop.max_step = 0.95);
#: gd stops at max_iter = 20 either way; adam raises (patched below).
SWEEP = ["-m", "solver=newton,gd,adam", "stop.max_step=0.95,null", "stop.max_iter=20", "data.n=30", "data.d=3"]


def table_rows(stdout: str) -> dict[str, dict[str, int]]:
    """The sweep's table as {solver: {column: count}}."""
    lines = stdout[stdout.index("outcomes per solver"):].splitlines()[1:]
    head = lines[0].split()
    rows = {}
    for line in lines[1:]:
        cells = line.split()
        if len(cells) != len(head) or not all(c.isdigit() for c in cells[1:]):
            break
        rows[cells[0]] = dict(zip(head[1:], map(int, cells[1:])))
    return rows


def assert_sweep_summary(stdout: str, expected: dict[str, dict[str, int]], sweep: Path) -> None:
    """The table holds ``expected`` counts (other columns zero), names the sweep folder and its parent run;
    the jobs' outcome files are gone."""
    rows = table_rows(stdout)
    assert set(rows) == set(expected) | {"all"}, stdout
    for solver, counts in expected.items():
        assert {k: v for k, v in rows[solver].items() if v} == counts, (solver, rows[solver])
    assert f"sweep folder: {sweep}" in stdout
    parent = json.loads((sweep / "parent_run.json").read_text())["run_id"]
    assert re.search(rf"MLflow: experiment \S+ \(id \d+\), parent run {parent}, store sqlite:", stdout), stdout
    assert not list(sweep.glob(".outcomes-*"))


def test_a_sweep_ends_with_its_outcomes_per_solver(lab_root, store_uri, monkeypatch, capsys):
    def boom(self, *a, **kw):
        raise RuntimeError("adam exploded")

    monkeypatch.setattr(adam.Adam, "run", boom)
    sweep = lab_root / "sweep"
    assert main(job_task, argv=[*SWEEP, f"hydra.sweep.dir={sweep}"]) == 1  # a job raised: the sweep failed
    out = capsys.readouterr().out
    assert_sweep_summary(out, {"newton": {"jobs": 2, "converged": 1, "diverged": 1}, "gd": {"jobs": 2, "max_iter": 2},
                               "adam": {"jobs": 2, "failed": 2}}, sweep)
    assert table_rows(out)["all"] == {"jobs": 6, "converged": 1, "max_iter": 2, "diverged": 1, "failed": 2}

    from mlflow.tracking import MlflowClient

    c = MlflowClient(store_uri)
    parent = c.get_run(json.loads((sweep / "parent_run.json").read_text())["run_id"])
    assert parent.info.status == "FAILED"
    m = parent.data.metrics
    assert (m["jobs.converged"], m["jobs.max_iter"], m["jobs.diverged"], m["jobs.failed"]) == (1, 2, 1, 2)
    assert m["jobs.adam.failed"] == 2 and m["jobs.gd.max_iter"] == 2


def test_without_tracking_a_sweep_still_gets_its_table(lab_root, capsys):
    argv = ["-m", "solver=newton", "seed=0,1", "data.n=30", "data.d=3", "tracking=off"]
    assert main(job_task, argv=[*argv, f"hydra.sweep.dir={lab_root}/a"]) == 0
    out = capsys.readouterr().out
    assert table_rows(out)["newton"] == {"jobs": 2, "converged": 2, "max_iter": 0, "diverged": 0, "failed": 0}
    assert f"sweep folder: {lab_root}/a" in out and "MLflow: tracking off" in out


def test_a_sweep_counts_its_resumed_jobs(lab_root, store_uri, capsys):
    argv = ["-m", "solver=newton", "seed=0,1", "data.n=30", "data.d=3"]
    assert main(job_task, argv=[*argv, f"hydra.sweep.dir={lab_root}/a"]) == 0
    assert "resumed" not in table_rows(capsys.readouterr().out)["newton"]
    assert main(job_task, argv=[*argv, f"hydra.sweep.dir={lab_root}/b"]) == 0
    assert table_rows(capsys.readouterr().out)["newton"]["resumed"] == 2
