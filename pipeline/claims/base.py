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


CLAIMS: dict[str, Claim] = {}


def registered_text(claim_id: str) -> tuple[str, str]:
    """The registered statement and criterion of a claim, so that a verdict repeats them verbatim."""
    c = CLAIMS[claim_id]
    return c.statement, c.criterion


def claim(id: str, paper: str, statement: str, criterion: str, timing: bool = False):
    """Register a check function as the numerical test of claim ``id`` (``timing``: wall-clock)."""

    def register(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        if id in CLAIMS:
            raise ValueError(f"claim {id} registered twice")
        CLAIMS[id] = Claim(id, paper, statement, criterion, fn, timing)
        return fn

    return register
