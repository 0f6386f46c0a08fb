"""The papers and their registry: each paper declared once, found by the verify, plot and report stages.

A paper is a package (``pipeline/papers/p1/``, ``p2/``, ``p3/``, or any installed package that names
itself in the entry-point group ``softmax_lab.papers``) that, when imported, calls :func:`paper` once
and holds its claims (declared with :func:`claim`), their figures (:func:`figure`) and the sizes of
its checks per profile; papers never import each other. A claim's check returns a
:class:`Measurement` (what it measured, the paper's bound or ``None`` when the paper's constant is
unknown, the tight reference, whether the pass criterion held, the slack and the evidence); the
registry turns it into the :class:`Verdict` of the ledger, with the id, paper, statement and
criterion given at registration. The ledger order is the registry's: papers by id (the lab's own
first), claims by their numbered id within a paper.

A claim about a law (an iteration count, a rate) is judged once per instance regime
(``regimes=REGIMES`` at registration; :mod:`pipeline.data.regime`): its check then sees
``ctx.regime`` and ``ctx.study_table`` keeps that regime's runs, and the ledger holds one verdict
per claim and regime.

Slack measures a verdict against its pass criterion, tolerances included: each condition of the
criterion gives a margin (:func:`at_most`, :func:`at_least`, :func:`inside`, :func:`holds`), at least
1 exactly when the condition holds, and the slack is the smallest margin (:func:`slack`). So a claim
passes exactly when its slack is at least 1, whatever the paper's own constant (known or not); the
registry refuses a check whose slack says otherwise. The papers' notes are in ``docs/theory/``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.metadata
import math
import pkgutil
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch

from pipeline.core.errors import ConfigError
from pipeline.data.regime import REGIMES

#: The entry-point group through which an installed package adds papers to the lab.
ENTRY_POINTS = "softmax_lab.papers"
#: The column of a study's run table that holds the instance regime.
REGIME_COLUMN = "config.data.regime"


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
    regime: str = ""  # the instance regime the claim was judged in ("" for a check on its own instances)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict
        return d


@dataclass
class Measurement:
    """What a check measured: the value and its label, whether the pass criterion held, the paper's
    bound (None: the paper's constant is unknown, said in ``bound_label``), the tight reference value,
    the slack (the smallest margin of the criterion's conditions, :func:`slack`: at least 1 exactly when
    ``passed``) and the evidence (``details``; a ``table`` of rows there is shown in the report)."""

    measured: float
    measured_label: str
    passed: bool
    bound: Optional[float] = None
    bound_label: str = ""
    tight: Optional[float] = None
    slack: Optional[float] = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What a check may depend on: sizes from the profile, a seed, dtype and device."""

    sizes: Any
    seed: int = 0
    dtype: torch.dtype = torch.float64
    device: torch.device = torch.device("cpu")
    results_dir: Optional[Path] = None  # where the studies' tables are, for claims judged on a study
    regime: Optional[str] = None  # the instance regime of a claim judged per regime (pipeline/data/regime.py)

    def study_table(self, study: str):
        """The run table of a study (``<results_dir>/<study>/table.csv``) for a claim judged on it; with
        ``regime`` set, only the runs of that regime (column ``config.data.regime``)."""
        import pandas as pd

        path = Path(self.results_dir or "results") / study / "table.csv"
        if not path.is_file():
            raise ConfigError("results_dir", f"no table of study {study} at {path}; run it first: "
                                             f"python -m pipeline -m +study={study} && python -m pipeline.plot +study={study}")
        df = pd.read_csv(path)
        if self.regime is None:
            return df
        if REGIME_COLUMN not in df.columns or not (df[REGIME_COLUMN] == self.regime).any():
            raise ConfigError("results_dir", f"study {study} has no runs in the {self.regime} regime ({path}); "
                                             f"rerun it: python -m pipeline -m +study={study}")
        return df[df[REGIME_COLUMN] == self.regime].reset_index(drop=True)

    def generator(self, stream: int) -> torch.Generator:
        """An explicit generator for one stream of randomness of one check."""
        return torch.Generator(device="cpu").manual_seed(self.seed * 1_000_003 + stream)


#: An arXiv identifier (new style, optionally with its version), e.g. ``2304.10411``.
ARXIV_ID = re.compile(r"\d{4}\.\d{4,5}(v\d+)?")


@dataclass(frozen=True)
class Paper:
    """A paper of the ledger: its id, what it is (title, authors, arXiv id, venue where one is known), the
    dataclass of its checks' sizes (defaults: the paper's own sizes, the ``full`` profile) with the sizes
    that differ per other profile, for a paper outside the lab the folder that holds its
    ``study/NAME.yaml`` files, and ``notes``: the project's write-up of its mathematics, a path from the
    project root (``docs/theory/p1.md``), in which each claim has the anchor :func:`anchor`. ``related``:
    one of the related results (E01, E02, …) checked beside the lab's core papers (P1, P2, P3); the
    ledger lists the core papers first."""

    id: str
    title: str
    authors: str
    arxiv: str
    sizes: Optional[type] = None
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    config_dir: Optional[Path] = None
    module: str = ""
    venue: str = ""
    notes: str = ""
    related: bool = False

    @property
    def link(self) -> str:
        """The paper's arXiv page, ``https://arxiv.org/abs/<id>`` ("" when ``arxiv`` is not an arXiv id)."""
        return f"https://arxiv.org/abs/{self.arxiv}" if ARXIV_ID.fullmatch(self.arxiv) else ""


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    statement: str
    criterion: str
    check: Callable[[Context], Measurement]
    timing: bool = False  # a wall-clock claim: its verdict goes to the timing ledger (not byte-stable)
    studies: tuple[str, ...] = ()  # judged on these studies' run tables (not on runs of its own)
    regimes: tuple[str, ...] = ()  # judged once per instance regime (empty: once, on its own instances)

    def run(self, ctx: Context) -> Verdict:
        """Run the check and make its verdict (keyword arguments only: the fields are named)."""
        m = self.check(ctx)
        if not isinstance(m, Measurement):
            raise TypeError(f"the check of claim {self.id} returned {type(m).__name__}, not a Measurement")
        s = None if m.slack is None or math.isnan(m.slack) else float(m.slack)
        if s is not None and (s >= 1) != bool(m.passed):
            raise ValueError(f"the check of claim {self.id} says {'pass' if m.passed else 'fail'} with slack {s:g}: "
                             "a slack is at least 1 exactly when the claim passes (build it with papers.slack)")
        return Verdict(claim=self.id, paper=self.paper, statement=self.statement, criterion=self.criterion,
                       measured=m.measured, measured_label=m.measured_label, bound=m.bound,
                       bound_label=m.bound_label, tight=m.tight, passed=bool(m.passed), slack=s, details=m.details,
                       regime=ctx.regime or "")

    def verdicts(self, ctx: Context) -> list[Verdict]:
        """The claim's verdicts: one per regime for a claim judged per regime, else one."""
        if not self.regimes:
            return [self.run(dataclasses.replace(ctx, regime=None))]
        return [self.run(dataclasses.replace(ctx, regime=r)) for r in self.regimes]


PAPERS: dict[str, Paper] = {}
CLAIMS: dict[str, Claim] = {}
#: claim id -> function(verdict record, path) drawing the claim's figure from its verdict alone
FIGURES: dict[str, Callable[[dict, Path], None]] = {}
_LOADED: list[bool] = []


def paper(id: str, title: str, authors: str, arxiv: str, sizes: Optional[type] = None,
          profiles: Optional[Mapping[str, Mapping[str, Any]]] = None, config_dir: Optional[Path] = None,
          module: str = "", venue: str = "", notes: str = "", related: bool = False) -> Paper:
    """Register a paper (once, from its package's ``__init__``): ``authors`` as the paper lists them,
    ``arxiv`` its arXiv id, ``venue`` where it appeared ("" when not known), ``notes`` the project's
    write-up of its mathematics (a path from the project root), ``related`` for a related result (listed
    after the core papers)."""
    if id in PAPERS:
        raise ValueError(f"paper {id} registered twice ({PAPERS[id].module} and {module})")
    if sizes is not None and not dataclasses.is_dataclass(sizes):
        raise TypeError(f"paper {id}: sizes must be a dataclass of the checks' sizes")
    for name, values in (profiles or {}).items():
        unknown = set(values) - {f.name for f in dataclasses.fields(sizes)} if sizes else set(values)
        if unknown:
            raise ValueError(f"paper {id}: profile {name} sets unknown sizes {sorted(unknown)}")
    PAPERS[id] = Paper(id, title, authors, arxiv, sizes, dict(profiles or {}),
                       Path(config_dir) if config_dir else None, module, venue, notes, related)
    return PAPERS[id]


def claim(id: str, paper: str, statement: str, criterion: str, timing: bool = False, studies: tuple[str, ...] = (),
          regimes: tuple[str, ...] = ()):
    """Register a check function as the numerical test of claim ``id`` (``timing``: wall-clock;
    ``studies``: the studies whose run tables it judges; ``regimes``: judged once per instance regime,
    e.g. :data:`REGIMES`)."""
    unknown = [r for r in regimes if r not in REGIMES]
    if unknown:
        raise ValueError(f"claim {id}: unknown regime {unknown[0]!r}; regimes are {', '.join(REGIMES)}")

    def register(fn: Callable[[Context], Measurement]) -> Callable[[Context], Measurement]:
        if id in CLAIMS:
            raise ValueError(f"claim {id} registered twice")
        CLAIMS[id] = Claim(id, paper, statement, criterion, fn, timing, tuple(studies), tuple(regimes))
        return fn

    return register


def label(row: Mapping[str, Any]) -> str:
    """How the ledger names a verdict: ``C2.7``, or ``C2.7 [softmax]`` for one regime's verdict."""
    return f"{row['claim']} [{row['regime']}]" if row.get("regime") else str(row["claim"])


def anchor(claim_id: str) -> str:
    """A claim's anchor in its paper's notes: ``C1.4`` → ``c1-4`` (``docs/theory/p1.md#c1-4``)."""
    return re.sub(r"[^a-z0-9]+", "-", claim_id.lower()).strip("-")


def notes_link(row: Mapping[str, Any], base: str = "") -> str:
    """Where a verdict's claim is explained: ``<base><notes>#<anchor>`` ("" for a paper without notes)."""
    p = PAPERS.get(str(row["paper"]))
    return f"{base}{p.notes}#{anchor(str(row['claim']))}" if p is not None and p.notes else ""


def slug(row: Mapping[str, Any]) -> str:
    """A verdict's name in file names: ``C2.7`` or ``C2.7_softmax``."""
    return f"{row['claim']}_{row['regime']}" if row.get("regime") else str(row["claim"])


def figure(claim_id: str):
    """Register the function that draws claim ``claim_id``'s figure from its verdict record."""

    def register(fn: Callable[[dict, Path], None]) -> Callable[[dict, Path], None]:
        if claim_id in FIGURES:
            raise ValueError(f"figure of claim {claim_id} registered twice")
        FIGURES[claim_id] = fn
        return fn

    return register


def load() -> None:
    """Import every paper once: the lab's own (the packages of ``pipeline/papers/``), then those of
    installed packages in the entry-point group ``softmax_lab.papers``."""
    if _LOADED:
        return
    _LOADED.append(True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.ispkg:
            importlib.import_module(f"{__name__}.{info.name}")
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not hidden
            raise RuntimeError(f"paper plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from exc


def _natural(text: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.findall(r"\d+|\D+", text))


def order(claim_id: str) -> tuple:
    """The ledger position of a claim: its paper's position (:func:`paper_order`), then its id in natural
    order within the paper (C1.2 before C1.10)."""
    load()
    c = CLAIMS[claim_id]
    p = PAPERS.get(c.paper)
    return (*(paper_order(p) if p is not None else (True, True, _natural(c.paper))), _natural(c.id))


def paper_order(p: Paper) -> tuple:
    """A paper's place in the ledger: the lab's own papers first (its core papers, then the related results),
    then the papers of installed packages; by id within each group."""
    return (not p.module.startswith(__name__ + "."), p.related, _natural(p.id))


def claims() -> list[Claim]:
    """Every registered claim in ledger order."""
    load()
    return [CLAIMS[c] for c in sorted(CLAIMS, key=order)]


def papers() -> list[Paper]:
    """Every registered paper in ledger order."""
    load()
    return sorted(PAPERS.values(), key=paper_order)


def figure_of(claim_id: str) -> Optional[Callable[[dict, Path], None]]:
    load()
    return FIGURES.get(claim_id)


def study_dirs() -> list[Path]:
    """The folders of study YAMLs that papers outside the lab bring (``<config_dir>/study``)."""
    return [p.config_dir / "study" for p in papers() if p.config_dir is not None]


def sizes_schema() -> type:
    """One dataclass with every paper's sizes (the ``profile.verify`` node); a size name declared by two
    papers is refused."""
    import typing

    owner: dict[str, str] = {}
    specs = []
    for p in papers():
        hints = typing.get_type_hints(p.sizes) if p.sizes else {}
        for f in dataclasses.fields(p.sizes) if p.sizes else ():
            if f.name in owner:
                raise ValueError(f"size {f.name!r} is declared by papers {owner[f.name]} and {p.id}; prefix it")
            owner[f.name] = p.id
            specs.append((f.name, hints[f.name], dataclasses.field(default=f.default, default_factory=f.default_factory,
                                                             metadata=f.metadata)))
    return dataclasses.make_dataclass("VerifySizes", specs)


def profile_sizes(schema: type, profile: str):
    """``schema`` filled with every paper's sizes for ``profile`` (its defaults where a paper sets none)."""
    values: dict[str, Any] = {}
    for p in papers():
        values.update(p.profiles.get(profile, {}))
    return schema(**values)


# --------------------------------------------------------------------------- slack
_BELOW_ONE = math.nextafter(1.0, 0.0)


def _margin(ratio: float, ok: bool) -> float:
    """A condition's margin: ``ratio`` (how far inside, as a factor), clamped so that it is at least 1
    exactly when the condition holds (``ok``); 0 for a failed condition whose ratio is not a number."""
    if ok:
        return max(ratio, 1.0) if ratio == ratio else 1.0
    return min(ratio, _BELOW_ONE) if ratio == ratio else 0.0


def at_most(value: float, limit: float, strict: bool = False) -> float:
    """The margin of ``value ≤ limit`` (``<`` with ``strict``): limit/value for a positive limit (∞ at
    value ≤ 0), value/limit for a negative one."""
    ok = value < limit if strict else value <= limit
    if limit > 0:
        ratio = math.inf if value <= 0 else limit / value
    elif limit < 0:
        ratio = value / limit if value < 0 else 0.0
    else:
        ratio = math.inf if value < 0 else 0.0
    return _margin(ratio, ok)


def at_least(value: float, limit: float, strict: bool = False) -> float:
    """The margin of ``value ≥ limit`` (``>`` with ``strict``): value/limit for a positive limit,
    limit/value for a negative one (∞ at value ≥ 0)."""
    ok = value > limit if strict else value >= limit
    if limit > 0:
        ratio = value / limit
    elif limit < 0:
        ratio = math.inf if value >= 0 else limit / value
    else:
        ratio = math.inf if value > 0 else 0.0
    return _margin(ratio, ok)


def inside(value: float, low: float, high: float) -> float:
    """The margin of ``low ≤ value ≤ high``: the band's half-width over the distance from its centre."""
    half, gap = (high - low) / 2, abs(value - (low + high) / 2)
    return _margin(half / gap if gap > 0 else (math.inf if gap == 0 else math.nan), low <= value <= high)


def within(value: float, target: float, tol: float) -> float:
    """The margin of ``|value − target| ≤ tol``: tol/|value − target|."""
    gap = abs(value - target)
    return _margin(tol / gap if gap > 0 else (math.inf if gap == 0 else math.nan), gap <= tol)


def holds(condition: bool) -> float:
    """The margin of a condition without a scale (a control, a count): ∞ when it holds, else 0."""
    return math.inf if condition else 0.0


def slack(*margins: float) -> float:
    """A verdict's slack: its smallest margin (at least 1 exactly when every condition holds)."""
    return min(margins)


def round_down(value: Optional[float], digits: int) -> Optional[float]:
    """``value`` rounded toward zero to ``digits`` significant digits, so that a slack just below 1 never
    reads 1 (None, 0 and non-finite values pass through)."""
    if value is None or not math.isfinite(value) or value == 0:
        return value
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(abs(value))))
    out = math.trunc(value * scale) / scale
    return out if abs(out) <= abs(value) else math.nextafter(out, 0.0)


def slack_text(value: Any, digits: int = 4) -> str:
    """A slack as the ledgers print it: rounded toward zero (a failed claim never reads 1), ∞ for an
    infinite one (a check whose error is exactly 0), — when there is none."""
    if value is None or value == "" or value != value:
        return "—"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{round_down(value, digits):.{digits}g}"


# --------------------------------------------------------------------------- timing claims
#: one timed sample repeats the call until it lasts about this long (single calls of 30 µs are jitter)
SAMPLE_S = 2e-3


@contextlib.contextmanager
def single_thread():
    """torch on one thread inside the block (restored afterwards); yields the previous thread count.
    The wall-clock claims time on one thread: a second thread adds scheduling noise on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def median_times(fn, repeats: int) -> tuple[float, float]:
    """Median per-call (process CPU, wall) time of ``fn`` over ``repeats`` samples, after a warm-up call
    (first-touch allocations and lazy initialisation are not part of the cost) that also sets how many
    calls one sample holds (enough for about :data:`SAMPLE_S`)."""
    t0 = time.perf_counter()
    fn()
    calls = max(1, int(SAMPLE_S / max(time.perf_counter() - t0, 1e-7)))
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            fn()
        cpu.append((time.process_time() - c0) / calls)
        wall.append((time.perf_counter() - w0) / calls)
    return float(np.median(cpu)), float(np.median(wall))
