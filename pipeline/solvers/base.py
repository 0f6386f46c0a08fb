"""The solver contract: ``run(problem, x0, stop, observe) -> Trace`` (DESIGN.md §3).

A solver drives its own iteration and hands every iterate to a :class:`Recorder`,
which keeps the per-iteration records, checks the stopping rule, detects
divergence and calls ``observe`` on a log-spaced schedule. Time spent recording
and observing is excluded from the solver's time.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Optional, Protocol

import numpy as np
import torch
from torch import Tensor

FINISHED = "finished"
DIVERGED = "diverged"
MAX_ITER = "max_iter"
STALLED = "stalled"  # no new lowest loss for ``patience`` iterations: the stop rule is out of the method's reach
STOPPED = "stopped"  # ended by the method's own criterion before the stop rule was met


@dataclass
class StopRule:
    """Stop when (L - L*)/(L0 - L*) ≤ eps (if eps and L* are known), ‖∇L‖ ≤ gtol, or at max_iter / max_time_s;
    end as diverged on a non-finite loss or gradient, a loss above blowup·(|L0| + 1), or a step
    ‖x_{k+1} − x_k‖ above max_step; end as stalled when the lowest loss so far is ``patience``
    iterations old (0: never)."""

    eps: Optional[float] = 1e-8
    gtol: float = 0.0
    max_iter: int = 10_000
    max_time_s: float = math.inf
    f_star: Optional[float] = None
    blowup: float = 1e8
    max_step: float = math.inf
    patience: int = 0


@dataclass
class Record:
    iteration: int
    loss: float
    grad_norm: float
    time_s: float
    distance: float = math.nan
    #: the problem's monitored quantities at this iterate (``monitor(x)``, e.g. E05's normalised margin),
    #: measured on the observation schedule only; empty elsewhere
    extra: dict = field(default_factory=dict, compare=False)


Observer = Callable[[Record], Optional[bool]]
"""Called with the records of the log-spaced schedule. An observer may carry a ``monitor`` attribute, a
function x -> {name: value} (the problem's own quantities along a run, e.g. a network's margin): the
recorder evaluates it at the same iterations, outside the solver's clock, stores the values as trace
columns (:meth:`Trace.annotate`) and hands them to the observer in ``Record.extra``."""


def log_schedule(max_iter: int, points: int = 200) -> set[int]:
    """Iterations 0, 1, 2, … spaced evenly in log scale up to max_iter (about ``points`` of them)."""
    if max_iter <= points:
        return set(range(max_iter + 1))
    grid = np.unique(np.round(np.logspace(0, math.log10(max_iter), points)).astype(int))
    return {0, *grid.tolist()}


COLUMNS = ("iteration", "loss", "grad_norm", "time_s", "distance")


@dataclass
class Trace:
    """Per-iteration records of one solve (stored column-wise), with oracle counts and the final point."""

    solver: str
    status: str = FINISHED
    message: str = ""
    x: Optional[Tensor] = None
    oracle_calls: dict[str, int] = field(default_factory=dict)
    f_star: Optional[float] = None
    columns: dict[str, list] = field(default_factory=lambda: {c: [] for c in COLUMNS})
    info: dict[str, float] = field(default_factory=dict)  # the solver's own settings as run (step, γ, ...)
    #: the solver's own per-iteration measurements ({name: {iteration: value}}, e.g. the measured sketch error
    #: ε̂₀ of approximate Gauss–Newton): extra columns of :meth:`to_frame`, NaN at the other iterations
    extra: dict[str, dict[int, float]] = field(default_factory=dict)

    def annotate(self, iteration: int, **values: float) -> None:
        """Record the solver's own measurements at ``iteration`` (columns of :meth:`to_frame`)."""
        for name, value in values.items():
            self.extra.setdefault(name, {})[int(iteration)] = float(value)

    def append(self, rec: Record) -> None:
        for c in COLUMNS:
            self.columns[c].append(getattr(rec, c))

    def __len__(self) -> int:
        return len(self.columns["iteration"])

    @property
    def last(self) -> Optional[Record]:
        return Record(*(self.columns[c][-1] for c in COLUMNS)) if len(self) else None

    @property
    def records(self) -> list[Record]:
        return [Record(*row) for row in zip(*(self.columns[c] for c in COLUMNS))]

    @property
    def iterations(self) -> int:
        return self.columns["iteration"][-1] if len(self) else 0

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.columns[name], dtype=float)

    def relative_gap(self) -> np.ndarray:
        """(L_t - L*)/(L_0 - L*), or NaN when L* is unknown."""
        loss = self.column("loss")
        if self.f_star is None or len(loss) == 0:
            return np.full(len(loss), np.nan)
        gap0 = loss[0] - self.f_star
        return (loss - self.f_star) / gap0 if gap0 > 0 else np.zeros_like(loss)

    def iterations_to_eps(self, eps_grid) -> dict[str, Optional[int]]:
        """First iteration whose relative loss gap is ≤ ε, for each ε (None if never reached)."""
        gap = self.relative_gap()
        it = self.column("iteration")
        out: dict[str, Optional[int]] = {}
        for eps in eps_grid:
            hit = np.flatnonzero(gap <= eps)
            out[f"{eps:g}"] = int(it[hit[0]]) if hit.size else None
        return out

    def iterations_per_decade(self, hi: float = 1e-2, lo: float = 1e-6) -> Optional[float]:
        """T_dec: iterations per decade of the relative gap between ``hi`` and ``lo``."""
        t = self.iterations_to_eps([hi, lo])
        a, b = t[f"{hi:g}"], t[f"{lo:g}"]
        if a is None or b is None:
            return None
        return (b - a) / math.log10(hi / lo)

    def log_linearity(self, hi: float = 1e-2, lo: float = 1e-6) -> Optional[float]:
        """R² of the least-squares line through log(gap) against t between gaps ``hi`` and ``lo``
        (1 for an exactly linear rate; docs/theory/p2.md §P2.6, criterion iv). None with fewer than 3 points."""
        t = self.iterations_to_eps([hi, lo])
        a, b = t[f"{hi:g}"], t[f"{lo:g}"]
        if a is None or b is None:
            return None
        it, gap = self.column("iteration"), self.relative_gap()
        sel = (it >= a) & (it <= b) & (gap > 0)
        if sel.sum() < 3:
            return None
        y = np.log(gap[sel])
        fit = np.polyfit(it[sel], y, 1)
        ss = float(np.sum((y - y.mean()) ** 2))
        return 1.0 - float(np.sum((y - np.polyval(fit, it[sel])) ** 2)) / ss if ss > 0 else 1.0

    def to_frame(self):
        import pandas as pd

        df = pd.DataFrame({c: np.asarray(self.columns[c]) for c in COLUMNS})
        df["relative_gap"] = self.relative_gap()
        for name, values in self.extra.items():
            df[name] = np.asarray([values.get(int(i), np.nan) for i in self.columns["iteration"]], dtype=float)
        return df


class Recorder:
    """Collects records, enforces the stop rule and times the solver without its observers."""

    def __init__(self, solver: str, stop: StopRule, observe: Optional[Observer] = None,
                 x_star: Optional[Tensor] = None, schedule_points: int = 200):
        self.trace = Trace(solver=solver, f_star=stop.f_star)
        self.stop = stop
        self.observe = observe
        self.x_star = x_star
        self.schedule = log_schedule(stop.max_iter, schedule_points)
        self._t0 = time.perf_counter()
        self._excluded = 0.0
        self._gap0: Optional[float] = None
        self._loss0: Optional[float] = None
        self._x_prev: Optional[Tensor] = None
        self._best = (math.inf, 0)  # lowest loss so far and its iteration

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0 - self._excluded

    @contextlib.contextmanager
    def excluded(self):
        """Time spent inside this block is not the solver's (e.g. monitoring a zeroth-order run)."""
        t_in = time.perf_counter()
        try:
            yield
        finally:
            self._excluded += time.perf_counter() - t_in

    def step(self, iteration: int, x: Tensor, loss: float, grad: Tensor) -> bool:
        """Record iterate ``iteration``; return True when the solver must stop."""
        t_in = time.perf_counter()
        elapsed = t_in - self._t0 - self._excluded
        loss = float(loss)
        gnorm = float(torch.linalg.vector_norm(grad))
        dist = float(torch.linalg.vector_norm(x - self.x_star)) if self.x_star is not None else math.nan
        rec = Record(iteration, loss, gnorm, elapsed, dist)
        self.trace.append(rec)
        stop = self._decide(rec) or self._too_far(x, iteration)
        if self.observe is not None and (iteration in self.schedule or stop):
            monitor = getattr(self.observe, "monitor", None)
            if monitor is not None:
                rec.extra = {k: float(v) for k, v in monitor(x.detach()).items()}
                self.trace.annotate(iteration, **rec.extra)
            if self.observe(rec):
                stop = True
                self.trace.message = self.trace.message or "stopped by observer"
        if stop:
            self.trace.x = x.detach().clone()
        self._excluded += time.perf_counter() - t_in
        return stop

    def _too_far(self, x: Tensor, iteration: int) -> bool:
        """A step longer than ``stop.max_step`` ends the run as diverged."""
        if not math.isfinite(self.stop.max_step):
            return False
        prev, self._x_prev = self._x_prev, x.detach().clone()
        if prev is None:
            return False
        step = float(torch.linalg.vector_norm(x.detach() - prev))
        if step > self.stop.max_step:
            self.trace.status = DIVERGED
            self.trace.message = f"step of norm {step:.3e} > stop.max_step = {self.stop.max_step:g} at iteration {iteration}"
            return True
        return False

    def _decide(self, rec: Record) -> bool:
        tr, st = self.trace, self.stop
        if self._loss0 is None:
            self._loss0 = rec.loss
            if st.f_star is not None:
                self._gap0 = rec.loss - st.f_star
        if not (math.isfinite(rec.loss) and math.isfinite(rec.grad_norm)):
            tr.status, tr.message = DIVERGED, f"non-finite loss or gradient at iteration {rec.iteration}"
            return True
        if rec.loss > st.blowup * (abs(self._loss0) + 1.0):
            tr.status, tr.message = DIVERGED, f"loss blew up to {rec.loss:.3e} at iteration {rec.iteration}"
            return True
        if st.eps is not None and self._gap0 is not None and self._gap0 > 0 and (rec.loss - st.f_star) <= st.eps * self._gap0:
            tr.status, tr.message = FINISHED, f"relative loss gap ≤ {st.eps:g}"
            return True
        if rec.grad_norm <= st.gtol:
            tr.status, tr.message = FINISHED, f"gradient norm ≤ {st.gtol:g}"
            return True
        if rec.loss < self._best[0]:
            self._best = (rec.loss, rec.iteration)
        elif st.patience and rec.iteration - self._best[1] >= st.patience:
            tr.status, tr.message = STALLED, (f"no loss below {self._best[0]:.6e} (iteration {self._best[1]}) "
                                              f"in the last {st.patience} iterations")
            return True
        if rec.iteration >= st.max_iter:
            tr.status, tr.message = MAX_ITER, f"reached max_iter = {st.max_iter}"
            return True
        if rec.time_s > st.max_time_s:
            tr.status, tr.message = MAX_ITER, f"reached max_time_s = {st.max_time_s:g}"
            return True
        return False

    def fail(self, x: Tensor, status: str, message: str) -> Trace:
        """End the run early (e.g. a line search that cannot make progress)."""
        self.trace.status, self.trace.message = status, message
        self.trace.x = x.detach().clone()
        return self.trace


class Solver(Protocol):
    """What every solver module provides (see pipeline/solvers/gd.py for a small example)."""

    name: ClassVar[str]
    paper: ClassVar[str]

    def run(self, problem, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace: ...
