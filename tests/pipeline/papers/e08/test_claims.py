"""E08's claims: registered, passing on the ci profile, and failing when a formula of the kernel is broken."""
from __future__ import annotations

import pytest

from kernels import framework as fw
from pipeline import papers
from pipeline.solvers.framework import FrameworkSGD
from tests.pipeline.papers.conftest import check_record, check_registration, run_claim

CLAIMS = ("E08.C1", "E08.C2", "E08.C3")


def test_the_claims_are_registered_with_their_figures_and_notes():
    check_registration("E08", CLAIMS, "2402.01515")


# --------------------------------------------------------------------------- C1
def test_c1_passes_on_ci_with_both_kinds_of_step(tmp_path):
    v = run_claim("E08.C1")
    assert v.passed and v.measured <= 1e-12
    assert all(r["accelerating"] > 0 and r["decelerating"] > 0 for r in v.details["optimizer_steps"])
    assert min(v.details["controls"].values()) >= 1e-3
    check_record(v, tmp_path)


def test_c1_fails_with_the_coefficient_one(monkeypatch):
    """g = ∇f + |⟨v,∇f⟩|/‖v‖² v: neither the identities nor the optimizer's steps satisfy them."""
    monkeypatch.setattr(fw, "framework_direction", lambda grad, v: grad if v is None else grad + 0.5 * fw.coefficient(grad, v) * v)
    v = run_claim("E08.C1")
    assert not v.passed and v.measured > 1e-3


# --------------------------------------------------------------------------- C2
def test_c2_passes_on_ci_below_the_bound_and_ra_is_no_worse(tmp_path):
    v = run_claim("E08.C2")
    assert v.passed and 0 < v.measured <= 1.0
    fwk = [r for r in v.details["runs"] if r["framework_form"]]
    assert {r["method"] for r in fwk} >= {"sgd", "sgdm+ra", "sgd+rva(sign)", "adam+framework"}
    assert all(r["l"] == 0 for r in fwk if r["accelerate"] in ("ra", "rva"))
    assert all(p["ra"] <= p["framework"] for p in v.details["ra_pairs"] if p["framework"] is not None)
    assert all(c["min_g2"] > c["noiseless"] for c in v.details["control_runs"])
    check_record(v, tmp_path)


def test_c2_fails_when_the_bound_drops_its_variance_term(monkeypatch):
    """(Δ)/(η(T + 2ku_a − 2lu_b)) alone: the noisy runs (the control's at η = 1/L first) exceed it."""
    def noiseless(eta, T, k, l, u_a, u_b, B, delta, L, sigma2):
        den = fw.bound_parts(T, k, l, u_a, u_b, B)[1]
        return delta / (eta * den) if den > 0 else float("inf")

    monkeypatch.setattr(fw, "bound_at_step", noiseless)
    assert not run_claim("E08.C2").passed


# --------------------------------------------------------------------------- C3
def test_c3_passes_on_ci_with_slope_one_half_and_the_control_flat(tmp_path):
    v = run_claim("E08.C3")
    assert v.passed and v.measured == pytest.approx(-0.5, abs=0.1)
    assert abs(v.details["control_fits"]["bound"]["slope"]) < 0.05
    check_record(v, tmp_path)


def test_c3_fails_when_the_second_moment_forgets_the_batch(monkeypatch):
    """E‖∇f_t‖² computed as for one draw whatever the batch: σ² no longer falls as 1/B."""
    real = FrameworkSGD.second_moment
    monkeypatch.setattr(FrameworkSGD, "second_moment",
                        staticmethod(lambda problem, x, B, m, gen, draws: real(problem, x, 1, m, gen, draws)))
    assert not run_claim("E08.C3").passed
