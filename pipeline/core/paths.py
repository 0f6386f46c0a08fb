"""Where the project lives and where its outputs go.

The project root is the folder that holds ``conf/``; it is available in every
config as ``${lab.root:}`` so that the default SQLite store and the result
folders are absolute paths whatever the working directory. ``${lab.artifacts:URI}``
is the artifact folder that goes with a SQLite store: ``mlartifacts/`` next to its
file, so that a store elsewhere keeps its artifacts with it. The stages that write
only into ``results_dir``/``reports_dir`` (plot, verify, report) run with
:func:`no_run_dir`: no Hydra run folder, no ``.hydra/`` copy, no log file.
"""
from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"

#: Hydra settings of a stage that has no run folder of its own: the "run folder" is the working
#: directory, already there, and nothing is written into it (no ``.hydra/``, log to stdout only).
NO_RUN_DIR = {"hydra.run.dir": ".", "hydra.output_subdir": "null", "hydra/job_logging": "stdout"}


def project_root() -> str:
    """The project root; ``SOFTMAX_LAB_ROOT`` overrides it (tests use a temporary root)."""
    return os.environ.get("SOFTMAX_LAB_ROOT", str(PROJECT_ROOT))


def artifacts_of(uri: str) -> str:
    """The artifact folder of the SQLite store at ``uri`` (``sqlite:////dir/x.db`` -> ``/dir/mlartifacts``);
    for another URI, the project's ``mlartifacts``."""
    if uri.startswith("sqlite:///"):
        return str(Path(uri[len("sqlite:///"):]).parent / "mlartifacts")
    return str(Path(project_root()) / "mlartifacts")


def no_run_dir(argv: list[str]) -> list[str]:
    """``argv`` plus the :data:`NO_RUN_DIR` settings that the command line does not set itself."""
    given = {a.lstrip("+~").split("=", 1)[0] for a in argv}
    return list(argv) + [f"{k}={v}" for k, v in NO_RUN_DIR.items() if k not in given]


def register_resolvers() -> None:
    """Register ``${lab.root:}`` and ``${lab.artifacts:URI}`` once per process."""
    if not OmegaConf.has_resolver("lab.root"):
        OmegaConf.register_new_resolver("lab.root", project_root)
    if not OmegaConf.has_resolver("lab.artifacts"):
        OmegaConf.register_new_resolver("lab.artifacts", artifacts_of)


register_resolvers()
