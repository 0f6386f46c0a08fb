"""C1.9 (input-sparsity cost): the check runs on real sparse instances, and its verdict follows the
measured slope — a cost that grows like nnz passes, one that grows like nnz² or not at all fails."""
from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

import pipeline.papers.p1  # noqa: F401  (registers P1's claims and figures)
from pipeline.papers.p1 import cost
from pipeline.papers import CLAIMS, Context

SIZES = OmegaConf.create({"cost_ns": [2000, 20000], "cost_densities": [0.05, 0.5], "cost_d": 4, "cost_repeats": 1})


def test_is_a_timing_claim_and_measures_every_point():
    assert CLAIMS["C1.9"].timing
    v = CLAIMS["C1.9"].run(Context(sizes=SIZES))
    pts = v.details["points"]
    assert [(p["n"], p["density"]) for p in pts] == [(2000, 0.05), (2000, 0.5), (20000, 0.05), (20000, 0.5)]
    assert all(p["approx_s"] > 0 and p["exact_s"] > 0 for p in pts)
    assert v.details["fit_nnz_min"] == 2 * 4**3 and math.isfinite(v.measured)
    assert v.passed == (0.8 <= v.measured <= 1.2)


@pytest.mark.parametrize("power, passed", [(1.0, True), (2.0, False), (0.0, False)])
def test_verdict_follows_the_cost_law(monkeypatch, power, passed):
    """Replace the clock by a cost model c·(n·d·ρ)^power (nnz ≈ n·d·ρ) in the order the check times."""
    expected = [n * 4 * rho for n in SIZES.cost_ns for rho in SIZES.cost_densities for _ in ("approx", "exact")]
    calls = iter(expected)
    monkeypatch.setattr(cost, "median_times", lambda fn, repeats: (1e-6 * next(calls) ** power,) * 2)
    v = CLAIMS["C1.9"].run(Context(sizes=SIZES))
    assert v.passed is passed
    assert v.measured == pytest.approx(power, abs=0.1)
