"""P3 convergence claims (C3.9, C3.10): they pass with the real method and fail on a broken one."""
from __future__ import annotations

import pytest

import pipeline.papers.p3  # noqa: F401  (registers P3's claims and figures)
from kernels import attention as K
from pipeline.papers import CLAIMS
from pipeline.problems import AttentionRegression
from tests.pipeline.papers.conftest import paper_context


@pytest.fixture(scope="module")
def ctx():
    return paper_context("p3", "ci")


@pytest.mark.parametrize("cid", ["C3.9", "C3.10"])
def test_claim_passes(ctx, cid):
    v = CLAIMS[cid].run(ctx)
    assert v.claim == cid and v.paper == "P3" and v.passed, v.details
    assert v.bound_label and v.statement == CLAIMS[cid].statement


def test_c39_reports_both_hessians(ctx):
    v = CLAIMS["C3.9"].run(ctx)
    assert v.details["sample_size"] > 0 and v.details["max_sampled_q"] < 0.5 and v.details["max_C"] > 0
    assert {s["rho"] for s in v.details["starts"]} == {0.1, 0.01}


def test_c39_fails_on_a_hessian_missing_a_factor(ctx, monkeypatch):
    real = K.hessian_x_blocks
    monkeypatch.setattr(K, "hessian_x_blocks", lambda *a, **k: 0.5 * real(*a, **k))  # the step is doubled
    assert not CLAIMS["C3.9"].run(ctx).passed


def test_c310_fails_on_an_inexact_y_step(ctx, monkeypatch):
    real = AttentionRegression.y_step
    monkeypatch.setattr(AttentionRegression, "y_step", lambda self, X: 0.7 * real(self, X))
    v = CLAIMS["C3.10"].run(ctx)
    assert not v.passed


def test_c310_reports_the_start_from_zero(ctx):
    v = CLAIMS["C3.10"].run(ctx)
    assert "X = Y = 0" in v.details["from_zero"] and len(v.details["zero"]) == len(v.details["near"])
