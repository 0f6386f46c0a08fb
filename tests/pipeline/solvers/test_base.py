"""The stop rule of the Recorder (pipeline/solvers/base.py): a run that stalls ends as stalled."""
from __future__ import annotations

import math

import torch

from pipeline.solvers.base import FINISHED, MAX_ITER, STALLED, Recorder, StopRule


def drive(losses, stop: StopRule) -> Recorder:
    """Feed a sequence of losses to a Recorder as a solver would, until it says stop."""
    rec = Recorder("test", stop)
    x, g = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    for k, loss in enumerate(losses):
        if rec.step(k, x, loss, g):
            break
    return rec


def oscillating(n: int):
    """A loss that reaches its lowest value at iteration 3 and then bounces between two higher values."""
    return [4.0, 3.0, 2.0, 1.0] + [1.5 + 0.5 * (k % 2) for k in range(n)]


def test_a_run_without_a_new_lowest_loss_for_patience_iterations_is_stalled():
    rec = drive(oscillating(1000), StopRule(eps=None, max_iter=10_000, patience=50))
    tr = rec.trace
    assert tr.status == STALLED and tr.iterations == 3 + 50
    assert "iteration 3" in tr.message and "50 iterations" in tr.message


def test_patience_zero_never_stalls():
    rec = drive(oscillating(200), StopRule(eps=None, max_iter=100, patience=0))
    assert rec.trace.status == MAX_ITER and rec.trace.iterations == 100


def test_a_slowly_but_steadily_decreasing_run_is_not_stalled():
    losses = [1.0 + math.exp(-1e-3 * k) for k in range(5000)]  # a new lowest loss at every iteration
    rec = drive(losses, StopRule(eps=None, max_iter=4000, patience=10))
    assert rec.trace.status == MAX_ITER


def test_convergence_is_judged_before_patience():
    losses = [1.0, 0.5] + [0.5] * 10 + [0.0]
    rec = drive(losses, StopRule(eps=1e-3, f_star=0.0, max_iter=100, patience=20))
    assert rec.trace.status == FINISHED and rec.trace.iterations == 12


def test_an_observers_monitor_is_measured_on_the_schedule_and_kept_as_trace_columns():
    """``observe.monitor`` (the problem's own quantities along a run) is evaluated at the observed
    iterations only, handed to the observer in Record.extra and stored as a trace column (NaN elsewhere)."""
    seen, calls = [], []

    def observe(rec):
        seen.append((rec.iteration, dict(rec.extra)))

    def monitor(x):
        calls.append(float(x[0]))
        return {"margin": 2.0 * float(x[0])}

    observe.monitor = monitor
    stop = StopRule(eps=None, max_iter=1000)
    rec = Recorder("test", stop, observe)
    g = torch.ones(2, dtype=torch.float64)
    for k in range(1001):
        if rec.step(k, torch.full((2,), float(k), dtype=torch.float64), 1.0 / (k + 1), g):
            break
    observed = [it for it, _ in seen]
    assert observed == sorted(rec.schedule) and 1000 in observed and len(observed) < 300
    assert all(extra == {"margin": 2.0 * it} for it, extra in seen)
    assert calls == [float(it) for it in observed]
    frame = rec.trace.to_frame()
    at = frame.set_index("iteration")["margin"]
    assert at[1000] == 2000.0 and math.isnan(at[999]) == (999 not in rec.schedule)
    assert frame["margin"].notna().sum() == len(observed)


def test_without_a_monitor_records_carry_nothing_extra():
    seen = []
    rec = Recorder("test", StopRule(eps=None, max_iter=3), lambda r: seen.append(r.extra))
    for k in range(4):
        rec.step(k, torch.zeros(2, dtype=torch.float64), 1.0, torch.ones(2, dtype=torch.float64))
    assert seen == [{}, {}, {}, {}] and list(rec.trace.to_frame().columns).count("margin") == 0
