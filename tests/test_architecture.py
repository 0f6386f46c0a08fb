"""The house rules of docs/architecture.md: import contracts kept (and able to fail), no import cycle,
no long function, one default per config key."""
from __future__ import annotations

import ast
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT

LINT = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")


def lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(pythonpath) if pythonpath else os.environ.get("PYTHONPATH", ""))
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_import_contract_is_kept():
    r = lint(PROJECT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


@pytest.fixture
def house_copy(tmp_path):
    """The packages and their contracts, copied where an import can be added without touching the project."""
    for name in ("pipeline", "kernels"):
        shutil.copytree(PROJECT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize("module,line,contract", [
    ("pipeline/solvers/gd.py", "from pipeline.tracking import sink  # noqa", "never import MLflow or the tracking sink"),
    ("kernels/softmax.py", "import pipeline.core.records  # noqa", "kernels are pure"),
    ("pipeline/papers/p1/lemmas.py", "from pipeline.papers.p2 import lemmas as _p2  # noqa", "independent of each other"),
    ("pipeline/data/io.py", "from pipeline.reference import build_instance  # noqa", "pipeline is layered"),
    ("pipeline/core/spec.py", "import torch  # noqa", "the core imports no torch"),
])
def test_a_forbidden_import_breaks_its_contract(house_copy, module, line, contract):
    path = house_copy / module
    path.write_text(path.read_text() + f"\n{line}\n")
    r = lint(house_copy, pythonpath=house_copy)
    assert r.returncode != 0, r.stdout
    broken = r.stdout[r.stdout.index("Broken contracts"):] if "Broken contracts" in r.stdout else r.stdout
    assert contract in broken, r.stdout


def _modules():
    for root in ("pipeline", "kernels"):
        for p in sorted((PROJECT / root).rglob("*.py")):
            yield p


def test_no_import_cycle_in_pipeline_or_kernels():
    import grimp

    graph = grimp.build_graph("pipeline", "kernels")
    cycles = []
    for m in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(m):
            if graph.chain_exists(imported, m):
                cycles.append((m, imported))
    assert not cycles, cycles[:5]


def test_no_function_in_pipeline_is_longer_than_60_lines():
    long = []
    for p in (PROJECT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{p.relative_to(PROJECT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


def test_project_modules_are_imported_at_the_top_never_inside_a_function():
    """Lazy imports are for heavy or optional third-party packages only, never a way around a cycle."""
    inside = []
    for p in _modules():
        for fn in ast.walk(ast.parse(p.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n.split(".")[0] in ("pipeline", "kernels") for n in names):
                    inside.append(f"{p.relative_to(PROJECT)}:{node.lineno}")
    assert not inside, inside


def _schemas() -> dict[str, type]:
    from pipeline import data, problems, solvers
    from pipeline.core.schema import TrackingConfig

    out = {f"{k}_schema": kind.schema for k, kind in data.KINDS.items()}
    out |= {f"{name}_schema": s.Params for name, s in solvers.SOLVERS.items()}
    out |= {f"{name}_schema": p.Params for name, p in problems.PROBLEMS.items() if hasattr(p, "Params")}
    return out | {"problem_schema": problems.ProblemConfig, "tracking_schema": TrackingConfig}


def _defaults(schema: type) -> dict:
    out = {}
    for f in dataclasses.fields(schema):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


GROUP_OPTIONS = sorted(p for g in ("data", "solver", "problem", "tracking") for p in (PROJECT / "conf" / g).glob("*.yaml"))


@pytest.mark.parametrize("path", GROUP_OPTIONS, ids=[f"{p.parent.name}/{p.stem}" for p in GROUP_OPTIONS])
def test_a_group_option_restates_no_schema_default(path):
    """One default per key: the schema dataclass declares it; an option YAML sets only what it changes
    (its identifying name and label aside), so the two can never disagree."""
    doc = yaml.safe_load(path.read_text())
    schema_name = next(d for d in doc["defaults"] if isinstance(d, str) and d != "_self_")
    if not schema_name.endswith("_schema"):  # a preset of another option (alternating_sketched: alternating)
        return
    defaults = _defaults(_schemas()[schema_name])
    restated = [k for k, v in doc.items() if k not in ("defaults", "name", "label") and k in defaults
                and defaults[k] == v]
    unknown = [k for k in doc if k != "defaults" and k not in {f.name for f in dataclasses.fields(_schemas()[schema_name])}]
    assert not restated and not unknown, (restated, unknown)
