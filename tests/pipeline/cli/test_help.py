"""``--help`` is the lab's own (issue 17): the stages, the config groups with their real choices, the
studies, the claims by paper, the exit statuses and where results go; Hydra's stays at ``--hydra-help``."""
from __future__ import annotations

import re

import pytest
import yaml

from pipeline import papers
from pipeline.cli import main
from pipeline.core.paths import CONF_DIR
from pipeline.plot import plot_study
from pipeline.solve import job_task
from pipeline.verify import verify
from tests.pipeline.cli.test_traps import WRITTEN
from tests.pipeline.test_cli import run_cli

STAGES = ("synthesize", "solve", "verify", "plot", "report")


@pytest.fixture
def lab_help(lab_root, capsys) -> str:
    """What ``python -m pipeline --help`` prints (the solve stage's front door, in this process)."""
    assert main(job_task, argv=["--help"]) == 0
    out = capsys.readouterr().out
    assert not [p for p in WRITTEN if (lab_root / p).exists()]
    return out


def test_help_lists_the_stages(lab_help):
    for stage in STAGES:
        assert f"  python -m pipeline.{stage}" in lab_help, stage
    assert lab_help.startswith("softmax-lab") and "usage: python -m pipeline [-m]" in lab_help


def test_help_lists_each_group_with_its_real_choices_and_no_schema(lab_help):
    defaults = {k: v for d in yaml.safe_load((CONF_DIR / "config.yaml").read_text())["defaults"] if isinstance(d, dict)
                for k, v in d.items()}
    for group in ("data", "problem", "profile", "solver", "tracking"):
        options = ", ".join(sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")))
        line = re.search(rf"^  {group} \(default {defaults[group]}\): (.*(?:\n      .*)*)", lab_help, re.M)
        assert line and " ".join(line.group(1).split()) == options, (group, line and line.group(0))
    assert "_schema" not in lab_help
    assert not re.search(r"^\s*sizes\b", lab_help, re.M)


def test_help_lists_the_studies_with_their_titles(lab_help):
    for path in sorted((CONF_DIR / "study").glob("*.yaml")):
        title = yaml.safe_load(path.read_text())["study"]["title"]
        assert re.search(rf"^  {path.stem} +{re.escape(title)}$", lab_help, re.M), path.stem


def test_help_lists_every_claim_under_its_paper(lab_help):
    lines = lab_help.splitlines()
    for p in papers.papers():
        head = next(i for i, ln in enumerate(lines) if ln.startswith(f"  {p.id}  "))
        nxt = next((i for i, ln in enumerate(lines[head + 1:], head + 1) if not ln.startswith("    ")), len(lines))
        listed = [ln.split()[0] for ln in lines[head + 1:nxt] if not ln.startswith("      ")]
        assert listed == [c.id for c in papers.claims() if c.paper == p.id], p.id


def test_help_gives_the_exit_statuses_and_where_results_go(lab_help, lab_root):
    statuses = lab_help.partition("Exit statuses:\n")[2].partition("\n\n")[0]
    assert [ln.split()[0].rstrip(",") for ln in statuses.splitlines() if ln[2:3].isdigit()] == ["0", "1", "2", "130"]
    assert "130, 143" in statuses and "bad input" in statuses
    where = lab_help.partition("Where results go")[2]
    for path in ("outputs/", "multirun/", "results/", "reports/", "mlflow.db", ".cache/instances/", str(lab_root)):
        assert path in where, path
    assert "--hydra-help" in lab_help


@pytest.mark.parametrize("task,stage", [(verify, "verify"), (plot_study, "plot")])
def test_every_stage_has_the_lab_help_with_its_own_usage(lab_root, capsys, task, stage):
    assert main(task, argv=["-h"]) == 0
    assert f"usage: python -m pipeline.{stage} [-m]" in capsys.readouterr().out


def test_help_from_a_real_process_and_hydra_help_stays_hydras(lab_root):
    r = run_cli(["pipeline", "--help"], lab_root)
    assert r.returncode == 0 and r.stderr == ""
    assert "Stages" in r.stdout and "Claims, by paper" in r.stdout and "_schema" not in r.stdout
    r = run_cli(["pipeline", "--hydra-help"], lab_root)
    assert r.returncode == 0 and "Hydra (" in r.stdout and "== Flags ==" in r.stdout
    assert not [p for p in WRITTEN if (lab_root / p).exists()]
