"""Step 2 of a job: run the solver, with its curves mirrored to the run at log-spaced iterations and a
progress line on a terminal."""
from __future__ import annotations

import math
import sys

from pipeline.core.sink import Run
from pipeline.job.prepare import Prepared
from pipeline.problems import CountingOracle
from pipeline.solvers import Trace


class Progress:
    """A rich progress line for long solves (only on a terminal)."""

    def __init__(self, enabled: bool, label: str, max_iter: int):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress as RP, TextColumn, TimeElapsedColumn

            self.bar = RP(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                          TimeElapsedColumn(), transient=True)
            self.task = self.bar.add_task(label, total=max_iter, info="")
            self.bar.start()

    def update(self, iteration: int, info: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=iteration, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def observer(f_star, run: Run, progress: Progress, monitor=None):
    """The solver's ``observe``: the loss, gradient norm, distance and relative gap of a record, to the
    run's curves and the progress line; with the problem's ``monitor`` (x -> {name: value}) its values too,
    as curves of the same names."""
    gap0 = {}

    def observe(rec) -> None:
        if f_star is None:
            rel = math.nan
        else:
            gap0.setdefault("g", rec.loss - f_star)
            rel = (rec.loss - f_star) / gap0["g"] if gap0["g"] > 0 else 0.0
        run.metrics({"loss": rec.loss, "grad_norm": rec.grad_norm,
                     "distance": rec.distance if math.isfinite(rec.distance) else None,  # NaN without an x*
                     "relative_gap": rel if math.isfinite(rel) else None,
                     **{k: (v if math.isfinite(v) else None) for k, v in rec.extra.items()}}, step=rec.iteration)
        progress.update(rec.iteration, f"gap {rel:.2e}")

    observe.monitor = monitor
    return observe


def solve(job: Prepared, run: Run, progress: bool) -> Trace:
    """Run the solver from x0 on the counted oracle of the problem."""
    bar = Progress(progress, job.solver_params.label, job.stop.max_iter)
    try:
        return job.solver.run(CountingOracle(job.problem), job.x0, job.stop, observer(job.f_star, run, bar, getattr(job.problem, "monitor", None)),
                              x_star=job.x_star)
    finally:
        bar.close()
