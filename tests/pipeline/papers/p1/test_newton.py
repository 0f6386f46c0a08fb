"""P1 approximate-Newton claims (C1.6–C1.8, C1.10): pass on the algorithm, fail on a broken one."""
from __future__ import annotations

import pytest
import torch

import pipeline.papers.p1  # noqa: F401  (registers P1's claims and figures)
from pipeline.papers.p1 import newton
from pipeline.papers import CLAIMS
from tests.pipeline.papers.conftest import paper_context


@pytest.fixture(scope="module")
def ctx():
    return paper_context("p1", "ci")


@pytest.mark.parametrize("cid", ["C1.6", "C1.7", "C1.8", "C1.10"])
def test_claim_passes(ctx, cid):
    v = CLAIMS[cid].run(ctx)
    assert v.claim == cid and v.passed, {k: v.details[k] for k in v.details if k != "runs"}


def test_sparsifier_check_fails_when_leverage_sampling_is_replaced_by_uniform(ctx, monkeypatch):
    real = newton.sampling_probabilities
    monkeypatch.setattr(newton, "sampling_probabilities", lambda A, D, scores, g, delta: real(A, D, "uniform", g, delta))
    v = CLAIMS["C1.6"].run(ctx)
    assert not v.passed and v.measured < 0.99


@pytest.mark.parametrize("cid", ["C1.7", "C1.8", "C1.10"])
def test_newton_claims_fail_on_a_half_step(ctx, monkeypatch, cid):
    real = newton.newton_direction
    monkeypatch.setattr(newton, "newton_direction", lambda H, g: 0.5 * real(H, g))
    assert not CLAIMS[cid].run(ctx).passed


def test_approx_newton_step_measures_a_small_deviation_with_leverage_sampling(ctx):
    A, b, w, x_star = newton.instance(ctx, 3000, R=1.0, l=1.0, seed_offset=5)
    g = torch.Generator().manual_seed(0)
    x = x_star + 0.3 * newton.unit(g)
    _, eps_hat = newton.approx_newton_step(A, b, w, x, 6908, "exact", g)
    assert 0 < eps_hat < 0.1
