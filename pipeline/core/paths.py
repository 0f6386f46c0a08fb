"""Where the project lives and where its outputs go.

The project root is the folder that holds ``conf/``; it is available in every
config as ``${lab.root:}`` so that the default SQLite store and the result
folders are absolute paths whatever the working directory.
"""
from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


def project_root() -> str:
    """The project root; ``SOFTMAX_LAB_ROOT`` overrides it (tests use a temporary root)."""
    return os.environ.get("SOFTMAX_LAB_ROOT", str(PROJECT_ROOT))


def register_resolvers() -> None:
    """Register ``${lab.root:}`` once per process."""
    if not OmegaConf.has_resolver("lab.root"):
        OmegaConf.register_new_resolver("lab.root", project_root)


register_resolvers()
