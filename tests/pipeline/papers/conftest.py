"""Helpers of the papers' tests: a check's context with one paper's sizes for a profile."""
from __future__ import annotations

import importlib

from omegaconf import OmegaConf

from pipeline.papers import Context


def paper_context(paper: str, profile: str = "ci", seed: int = 0) -> Context:
    """A :class:`Context` whose sizes are those of ``paper`` (e.g. ``"p1"``) for ``profile``."""
    sizes = importlib.import_module(f"pipeline.papers.{paper}.sizes")
    values = OmegaConf.structured(sizes.Sizes(**sizes.PROFILES.get(profile, {})))
    return Context(sizes=values, seed=seed)
