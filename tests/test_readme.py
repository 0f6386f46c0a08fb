"""The README's two commands are the ones CI and users run."""
from __future__ import annotations

import re

from tests.conftest import PROJECT


def readme_commands() -> list[str]:
    text = (PROJECT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [ln for b in blocks for ln in b.splitlines() if ln.startswith("python3.11 -m venv")]


def test_readme_has_exactly_a_run_command_and_a_test_command():
    cmds = readme_commands()
    assert len(cmds) == 2
    assert cmds[0].endswith("dvc repro --force && dvc metrics diff") and cmds[1].endswith("python -m pytest -n auto")


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (PROJECT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci
