"""The lab's own ``--help``: the stages, the config groups with their choices, the studies, the claims
by paper, the exit statuses and where results go.

Every list is read from where it is declared: the stages' usage lines from their module docstrings,
the groups and studies from ``conf/`` (:mod:`pipeline.cli.catalog`, internal schemas left out), the
claims from the registry (:mod:`pipeline.papers`), the exit statuses from :mod:`pipeline.core.errors`.
Hydra's own help stays at ``--hydra-help``.
"""
from __future__ import annotations

import ast
import signal
import sys
import textwrap
from typing import Callable

from pipeline import papers
from pipeline.cli import catalog
from pipeline.core.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from pipeline.core.paths import PROJECT_ROOT, project_root

#: the stages, in the order they run (``python -m pipeline.<stage>``; ``python -m pipeline`` is solve)
STAGES = ("synthesize", "solve", "verify", "plot", "report")
WIDTH = 100


def _stage_line(stage: str) -> tuple[str, str]:
    """A stage's command and what it does: the first line of its module docstring, split at ``:``."""
    doc = ast.get_docstring(ast.parse((PROJECT_ROOT / "pipeline" / f"{stage}.py").read_text())) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else f"``python -m pipeline.{stage}``"
    command, _, what = first.replace("``", "").partition(": ")
    return command.strip(), what.strip().rstrip(".")


def _stages() -> list[str]:
    lines = ["Stages (python -m pipeline is solve; each takes the same overrides):"]
    for stage in STAGES:
        command, what = _stage_line(stage)
        lines += [f"  {command}", *textwrap.wrap(what, WIDTH, initial_indent="      ", subsequent_indent="      ")]
    return lines


def _groups() -> list[str]:
    chosen = catalog.defaults()
    lines = ["Config groups (group=option; python -m pipeline --cfg job prints every key with its default):"]
    for group in catalog.groups():
        if group == "study":
            continue
        default = f" (default {chosen[group]})" if group in chosen else ""
        lines += textwrap.wrap(f"{group}{default}: {', '.join(catalog.options(group))}", WIDTH,
                               initial_indent="  ", subsequent_indent="      ")
    return lines


def _studies() -> list[str]:
    lines = ["Studies (python -m pipeline -m +study=NAME, then python -m pipeline.plot +study=NAME):"]
    names = catalog.studies()
    pad = max((len(n) for n, _ in names), default=0)
    return lines + [f"  {n:<{pad}}  {title}" for n, title in names]


def _claims() -> list[str]:
    lines = ["Claims, by paper (python -m pipeline.verify [claims=[C1.1,C1.4]] [profile=ci|quick|full] [jobs=2]):"]
    claims = papers.claims()
    for p in papers.papers():
        lines += textwrap.wrap(f"{p.id}  {p.title} (arXiv {p.arxiv})", WIDTH, initial_indent="  ",
                               subsequent_indent="      ")
        for c in (c for c in claims if c.paper == p.id):
            tags = " [wall-clock]" * c.timing + " [per regime]" * bool(c.regimes)
            lines.append(f"    {c.id:<6} " + textwrap.shorten(c.statement, WIDTH - 11 - len(tags), placeholder=" …") + tags)
    return lines


def _exits() -> list[str]:
    interrupt, term = 128 + signal.SIGINT, 128 + signal.SIGTERM
    return ["Exit statuses:",
            f"  {EXIT_OK:<8} success (a diverged run or a failed claim is a result, not a failure)",
            f"  {EXIT_FAILURE:<8} any other failure (the MLflow run, if any, ends FAILED)",
            f"  {EXIT_USAGE:<8} bad input: invalid configuration or data, an unknown key or option; one line",
            "           'error: <key>: <what is wrong>' on stderr, nothing written, no MLflow run",
            f"  {f'{interrupt}, {term}':<8} interrupted by Ctrl-C or SIGTERM (open runs end KILLED)"]


def _outputs() -> list[str]:
    root = project_root()
    rows = [("outputs/DATE/TIME/", "one job, in the working folder: summary.json, solution.npz, trace.parquet, "
                                   "config.yaml"),
            ("multirun/DATE/TIME/N/", "the jobs of a command-line sweep (-m); a study's jobs go to results/STUDY/runs/"),
            ("results/", "study tables, fits and figures (results/STUDY/, results/figures/), the claims' verdicts "
                         "(results/verify/)"),
            ("reports/", "the theorem ledger (theorems.md, theorems.html)"),
            ("mlflow.db, mlartifacts/", "the MLflow store of tracking=sqlite (the default); tracking=server: the "
                                        "mlflow server at tracking.uri; tracking=off: the files only"),
            (".cache/instances/", "the content-addressed instance cache")]
    pad = max(len(r) for r, _ in rows)
    lines = [f"Where results go (results/, reports/, the store and the cache under {root}; SOFTMAX_LAB_ROOT moves them):"]
    for where, what in rows:
        lines += textwrap.wrap(what, WIDTH, initial_indent=f"  {where:<{pad}}  ", subsequent_indent=" " * (pad + 4))
    return lines


def stage_of(task: Callable) -> str:
    """The stage whose entry point runs ``task`` (its module, or the module run with ``python -m``);
    ``solve`` when it is none of :data:`STAGES`."""
    module = task.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else ""
    stage = module.rpartition(".")[2]
    return stage if stage in STAGES else "solve"


def lab_help(stage: str = "solve") -> str:
    """The text of ``python -m pipeline.<stage> --help`` (``python -m pipeline`` for solve)."""
    command = "python -m pipeline" if stage == "solve" else f"python -m pipeline.{stage}"
    head = ["softmax-lab: a numerical lab for softmax and attention regression papers.", "",
            f"usage: {command} [-m] [key=value ...] [group=option ...] [+study=NAME]",
            "  key=value sets a key the config has (an unknown key is refused, with the closest keys);",
            "  -m runs a sweep: comma lists (seed=0,1,2 solver=gd,newton) or a study's grid."]
    parts = [head, _stages(), _groups(), _studies(), _claims(), _exits(), _outputs(),
             ["Hydra's own help: --hydra-help."]]
    return "\n\n".join("\n".join(p) for p in parts) + "\n"


__all__ = ["STAGES", "lab_help", "stage_of"]
