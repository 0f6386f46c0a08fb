"""P2 claims (C2.1–C2.6): each check passes on the correct formulas and fails on a wrong one."""
from __future__ import annotations

import json

import pytest

import pipeline.papers.p2  # noqa: F401  (registers P2's claims and figures)
from kernels import spsa
from pipeline.papers.p2 import lemmas
from pipeline.papers import CLAIMS
from pipeline.problems import zo_softmax
from tests.pipeline.papers.conftest import paper_context

IDS = ["C2.1", "C2.2", "C2.3", "C2.4", "C2.5", "C2.6"]


@pytest.fixture(scope="module")
def ctx():
    return paper_context("p2", "ci")


@pytest.fixture(scope="module")
def verdicts(ctx):
    return {cid: CLAIMS[cid].run(ctx) for cid in IDS}


@pytest.mark.parametrize("cid", IDS)
def test_claim_is_registered_and_passes(verdicts, cid):
    c = CLAIMS[cid]
    v = verdicts[cid]
    assert v.claim == cid and v.paper == "P2" and v.statement == c.statement and v.criterion == c.criterion
    assert v.passed, v.details
    assert v.slack >= 1  # the slack is measured against the criterion, known even where the paper's bound is not
    if v.bound is None:
        assert "unknown" in v.bound_label
    json.dumps(v.as_dict(), allow_nan=False)  # details: plain JSON, no tensors


def test_moment_findings_are_reported(verdicts):
    d2 = verdicts["C2.2"].details
    assert d2["paper_factor_fits_only_sphere"] and d2["gaussian_min_abs_dev_paper"] > 0.015
    assert abs(d2["gaussian_d20_n1"] / 22.0 - 1) < 0.01  # (d+n+1)/n, not the paper's 20
    assert verdicts["C2.3"].details["gaussian_against_printed_gamma_max"] > 1.05
    d4 = verdicts["C2.4"].details
    assert d4["gaussian_min_pred_ratio_printed_gamma"] < 1.0 < verdicts["C2.4"].measured


def test_noise_control_blows_up(verdicts):
    d = verdicts["C2.6"].details
    assert d["control_max"] > 10 * d["alpha"] and d["control_slope_vs_radius"] < -1.5


# --------------------------------------------------------------------------- C2.1
def test_spsa_check_fails_without_the_half(ctx, monkeypatch):
    real = spsa.spsa_gradient

    def one_eps(losses, x, Z, eps):  # divides by ε instead of 2ε
        est, proj = real(losses, x, Z, eps)
        return 2 * est, 2 * proj

    monkeypatch.setattr(spsa, "spsa_gradient", one_eps)
    v = CLAIMS["C2.1"].run(ctx)
    assert not v.passed and not any(r["plain_ok"] for r in v.details["by_eps"])


def test_spsa_check_fails_with_the_wrong_sign(ctx, monkeypatch):
    real = spsa.spsa_gradient

    def flipped(losses, x, Z, eps):  # [L(x - εz) - L(x + εz)]/(2ε)
        est, proj = real(losses, x, Z, eps)
        return -est, -proj

    monkeypatch.setattr(spsa, "spsa_gradient", flipped)
    assert not CLAIMS["C2.1"].run(ctx).passed


# --------------------------------------------------------------------------- C2.2
def test_moment_check_fails_when_gaussian_is_held_to_the_sphere_factor(ctx, monkeypatch):
    monkeypatch.setattr(lemmas, "exact_factor", lambda kind, d, n: (d + n - 1) / n)
    v = CLAIMS["C2.2"].run(ctx)
    assert not v.passed and not v.details["matches_exact_within_1pct"]


# --------------------------------------------------------------------------- C2.3
def test_quadratic_check_fails_without_the_effective_rank_in_gamma(ctx, monkeypatch):
    monkeypatch.setattr(spsa, "gamma", lambda kind, r, n, d: 1.0)  # SGD's γ: no (r+1)/n term
    v = CLAIMS["C2.3"].run(ctx)
    assert not v.passed and not v.details["below_bound"] and v.measured > 2


def test_quadratic_check_fails_on_the_gaussian_formula_for_the_sphere(ctx, monkeypatch):
    real = lemmas.quadratic_form
    monkeypatch.setattr(lemmas, "quadratic_form", lambda kind, *a: real("gaussian", *a))
    v = CLAIMS["C2.3"].run(ctx)
    assert not v.passed and not v.details["matches_formula_within_1pct"]


# --------------------------------------------------------------------------- C2.4
def test_decrease_check_fails_with_a_too_small_ell(ctx, monkeypatch):
    real = lemmas.local_smoothness
    monkeypatch.setattr(lemmas, "local_smoothness", lambda *a: 0.5 * real(*a))
    v = CLAIMS["C2.4"].run(ctx)
    assert not v.passed and v.measured < 1


def test_decrease_check_fails_when_gamma_ignores_the_rank(ctx, monkeypatch):
    monkeypatch.setattr(spsa, "gamma", lambda kind, r, n, d: 1.0)
    assert not CLAIMS["C2.4"].run(ctx).passed


# --------------------------------------------------------------------------- C2.5
def test_constants_check_fails_with_a_too_small_ell(ctx, monkeypatch):
    real = zo_softmax.ZOSoftmax.smoothness_bound
    monkeypatch.setattr(zo_softmax.ZOSoftmax, "smoothness_bound", lambda self: 0.5 * real(self))
    v = CLAIMS["C2.5"].run(ctx)
    assert not v.passed and v.measured > v.tight


def test_constants_check_fails_on_the_sign_of_the_B_bound(ctx, monkeypatch):
    monkeypatch.setattr(lemmas, "B_LOWER_L1", 0.2405)  # μ ≥ σ²(min w² + 0.2405): too large
    v = CLAIMS["C2.5"].run(ctx)
    assert not v.passed and v.details["inf_over_mu_tight"] < 1


# --------------------------------------------------------------------------- C2.6
def test_noise_check_fails_without_the_factor_two_in_alpha(ctx, monkeypatch):
    real = zo_softmax.noise_alpha
    monkeypatch.setattr(zo_softmax, "noise_alpha", lambda H: 0.5 * real(H))
    v = CLAIMS["C2.6"].run(ctx)
    assert not v.passed and v.details["max_over_alpha"] > 1.2


# --------------------------------------------------------------------------- C2.2 again (last: it replaces the
# cached draws of C2.2/C2.3)
def test_moment_check_fails_on_a_unit_sphere(ctx, monkeypatch):
    real = spsa.perturbations

    def unit_sphere(d, n, kind, generator, dtype=None, device="cpu"):  # radius 1 instead of √d
        Z = real(d, n, kind, generator, dtype, device)
        return Z / d**0.5 if kind == "sphere" else Z

    monkeypatch.setattr(spsa, "perturbations", unit_sphere)
    v = CLAIMS["C2.2"].run(ctx)
    assert not v.passed and not v.details["controls_ok"]
