"""P1 approximate-Newton claims (C1.6–C1.8, C1.10): pass on the algorithm, fail on a broken one."""
from __future__ import annotations

import pytest
import torch

from pipeline.claims import CLAIMS, Context
from pipeline.claims import p1_newton
from tests.conftest import compose


@pytest.fixture(scope="module")
def ctx():
    return Context(sizes=compose(["profile=ci"]).profile.verify, seed=0)


@pytest.mark.parametrize("cid", ["C1.6", "C1.7", "C1.8", "C1.10"])
def test_claim_passes(ctx, cid):
    v = CLAIMS[cid].check(ctx)
    assert v.claim == cid and v.passed, {k: v.details[k] for k in v.details if k != "runs"}


def test_sparsifier_check_fails_when_leverage_sampling_is_replaced_by_uniform(ctx, monkeypatch):
    real = p1_newton.sampling_probabilities
    monkeypatch.setattr(p1_newton, "sampling_probabilities", lambda A, D, scores, g, delta: real(A, D, "uniform", g, delta))
    v = CLAIMS["C1.6"].check(ctx)
    assert not v.passed and v.measured < 0.99


@pytest.mark.parametrize("cid", ["C1.7", "C1.8", "C1.10"])
def test_newton_claims_fail_on_a_half_step(ctx, monkeypatch, cid):
    real = p1_newton.newton_direction
    monkeypatch.setattr(p1_newton, "newton_direction", lambda H, g: 0.5 * real(H, g))
    assert not CLAIMS[cid].check(ctx).passed


def test_approx_newton_step_measures_a_small_deviation_with_leverage_sampling(ctx):
    A, b, w, x_star = p1_newton.instance(ctx, 3000, R=1.0, l=1.0, seed_offset=5)
    g = torch.Generator().manual_seed(0)
    x = x_star + 0.3 * p1_newton.unit(g)
    _, eps_hat = p1_newton.approx_newton_step(A, b, w, x, 6908, "exact", g)
    assert 0 < eps_hat < 0.1
