"""C3.11 (the cost of one iteration, wall clock): the check times every point and restores the thread
count, and its verdict follows the measured slopes — n² and d⁶ pass, n³ or d³ fail."""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

import pipeline.papers.p3  # noqa: F401  (registers P3's claims and figures)
from pipeline.papers.p3 import cost
from pipeline.papers import CLAIMS, Context

COST_SIZES = OmegaConf.create({"p3_cost_ns": [64, 128, 192, 256], "p3_cost_ds": [4, 12, 16], "p3_cost_repeats": 1})


def test_cost_claim_is_a_timing_claim_and_reports_slopes():
    assert CLAIMS["C3.11"].timing
    v = CLAIMS["C3.11"].run(Context(sizes=COST_SIZES))
    d = v.details
    assert [p["n"] for p in d["points_n"]] == [64, 128, 192, 256] and d["slope_n"]["points"] == 3 and [p["d"] for p in d["points_d"]] == [4, 12, 16]
    assert all(p["cpu_s"] > 0 and p["wall_s"] > 0 and p["hessian_build_s"] > 0 for p in d["points_n"] + d["points_d"])
    assert all(p["pd"] for p in d["points_d"])
    assert math.isfinite(v.measured) and math.isfinite(d["slope_d"]["slope"]) and d["slope_d"]["points"] == 2
    (nlo, nhi), (dlo, dhi) = cost.N_BAND, cost.D_BAND
    assert v.passed == (nlo <= v.measured <= nhi and dlo <= d["slope_d"]["slope"] <= dhi)
    assert torch.get_num_threads() == d["threads_default"]  # the thread count is restored


@pytest.mark.parametrize("pn, pd, passed", [(2.0, 6.0, True), (3.0, 6.0, False), (2.0, 3.0, False)])
def test_cost_verdict_follows_the_cost_law(monkeypatch, pn, pd, passed):
    """Replace the clock by a cost model in the order the check times: per n the iteration and the Hessian
    build, then per d the solve and the Hessian build."""
    times = [t for n in COST_SIZES.p3_cost_ns for t in (1e-9 * n**pn, 1e-6)]
    times += [t for d in COST_SIZES.p3_cost_ds for t in (1e-9 * d**pd, 1e-6)]
    calls = iter(times)
    monkeypatch.setattr(cost, "median_times", lambda fn, repeats: (next(calls),) * 2)
    v = CLAIMS["C3.11"].run(Context(sizes=COST_SIZES))
    assert v.passed is passed
    assert v.measured == pytest.approx(pn) and v.details["slope_d"]["slope"] == pytest.approx(pd)
