"""The claim contract (DESIGN.md §3): an id from theory/, a statement, and a check that can fail.

``check(ctx) -> Verdict``. A verdict carries the measured value, the paper's
bound (``None`` when the paper's constant is unknown: it is reported as
unknown, never invented), the tight reference value of theory/, whether the
pass criterion held, the slack, and the evidence in ``details``.

Slack is the factor by which the measured value sits inside the bound:
bound/measured for an upper bound, measured/bound for a lower bound (above 1:
inside; ``None`` when the paper's bound is unknown).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch


@dataclass
class Verdict:
    claim: str
    paper: str
    statement: str
    criterion: str
    measured: float
    measured_label: str
    bound: Optional[float]
    bound_label: str
    tight: Optional[float]
    passed: bool
    slack: Optional[float]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict
        return d


@dataclass
class Context:
    """What a check may depend on: sizes from the profile, a seed, dtype and device."""

    sizes: Any
    seed: int = 0
    dtype: torch.dtype = torch.float64
    device: torch.device = torch.device("cpu")
    results_dir: Optional[Path] = None  # where the studies' tables are, for claims judged on a study

    def study_table(self, study: str):
        """The run table of a study (``<results_dir>/<study>/table.csv``) for a claim judged on it."""
        import pandas as pd

        from pipeline.errors import ConfigError

        path = Path(self.results_dir or "results") / study / "table.csv"
        if not path.is_file():
            raise ConfigError("results_dir", f"no table of study {study} at {path}; run it first: "
                                             f"python -m pipeline -m +study={study} && python -m pipeline.plot +study={study}")
        return pd.read_csv(path)

    def generator(self, stream: int) -> torch.Generator:
        """An explicit generator for one stream of randomness of one check."""
        return torch.Generator(device="cpu").manual_seed(self.seed * 1_000_003 + stream)


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    statement: str
    criterion: str
    check: Callable[[Context], Verdict]
    timing: bool = False  # a wall-clock claim: its verdict goes to the timing ledger (not byte-stable)
    studies: tuple[str, ...] = ()  # judged on these studies' run tables (not on runs of its own)


CLAIMS: dict[str, Claim] = {}


def registered_text(claim_id: str) -> tuple[str, str]:
    """The registered statement and criterion of a claim, so that a verdict repeats them verbatim."""
    c = CLAIMS[claim_id]
    return c.statement, c.criterion


def claim(id: str, paper: str, statement: str, criterion: str, timing: bool = False, studies: tuple[str, ...] = ()):
    """Register a check function as the numerical test of claim ``id`` (``timing``: wall-clock;
    ``studies``: the studies whose run tables it judges)."""

    def register(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        if id in CLAIMS:
            raise ValueError(f"claim {id} registered twice")
        CLAIMS[id] = Claim(id, paper, statement, criterion, fn, timing, tuple(studies))
        return fn

    return register
