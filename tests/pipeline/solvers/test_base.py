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
