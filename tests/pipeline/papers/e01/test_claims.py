"""E01's claims: registered with figures and notes, passing on the ci profile, and failing when a formula of the
kernels or a reading of the model is broken."""
from __future__ import annotations

import torch

import pipeline.papers.e01  # noqa: F401  (registers the claims)
from kernels import ntk as K
from pipeline import papers
from tests.pipeline.papers.conftest import check_record, check_registration, run_claim

CLAIMS = ("E01.C1", "E01.C2", "E01.C3")


def test_the_claims_are_registered_with_their_figures_and_notes():
    check_registration("E01", CLAIMS, "2405.03251")


# --------------------------------------------------------------------------- C1
def test_c1_passes_on_ci_and_its_controls_fail(tmp_path):
    v = run_claim("E01.C1")
    assert v.passed, v.details["table"]
    assert v.bound is None and "unknown" in v.bound_label
    assert all(c["closed_vs_autograd"] <= 1e-12 < 1e-3 < c["uncentred_vs_autograd"] for c in v.details["autograd"])
    assert all(r["wrong_sigma_error"] > 0.2 for r in v.details["table"]) and v.details["fit"]["points"] >= 5
    check_record(v, tmp_path)


def test_c1_fails_when_the_limit_kernel_forgets_the_softmax_normalisation(monkeypatch):
    """The unnormalised exp kernel (x_i·x_j)exp(σ²‖x_i + x_j‖²/2) in place of K: e^{σ²} times too large on the sphere."""
    monkeypatch.setattr(K, "limit_kernel", lambda X, s2: K.exp_kernel(X, s2))
    assert not run_claim("E01.C1").passed


def test_c1_fails_when_the_closed_form_drops_the_centring(monkeypatch):
    real = K.ntk
    monkeypatch.setattr(K, "ntk", lambda W, X, a, kappa, centred=True: real(W, X, a, kappa, centred=False))
    v = run_claim("E01.C1")
    assert not v.passed and min(c["closed_vs_autograd"] for c in v.details["autograd"]) > 1e-3


# --------------------------------------------------------------------------- C2
def test_c2_passes_on_ci_and_the_m_prefactor_with_the_sqrt_m_step_fails(tmp_path):
    v = run_claim("E01.C2")
    assert v.passed, v.details["table"]
    ctrl = v.details["control_run"]
    assert ctrl["eta_lambda_max"] > 2 and ctrl["min_loss_m"] > 100 * ctrl["final_loss_sqrt_m"]
    assert all(r["envelope_ratio"] <= 1 for r in v.details["runs"]) and v.details["fits"]["weight_drift_rms"]["points"] >= 5
    check_record(v, tmp_path)


def test_c2_fails_when_the_ntk_keeps_one_factor_of_the_prefactor(monkeypatch):
    """κ_m in place of κ_m² in H: the linearised dynamics (I − ηH(0))^t then lag the run by far."""
    real = K.ntk
    monkeypatch.setattr(K, "ntk", lambda W, X, a, kappa, centred=True: real(W, X, a, kappa, centred) / kappa)
    v = run_claim("E01.C2", e01_c2_steps=100)
    assert not v.passed and min(r["level_factor"] for r in v.details["runs"]) > 2


# --------------------------------------------------------------------------- C3
def test_c3_passes_on_ci_and_the_linear_controls_fail(tmp_path):
    v = run_claim("E01.C3")
    assert v.passed, (v.details["table"], v.details["score_toy"])
    assert v.details["linear_model"]["rank"] == 4 and v.details["linear_model"]["least_squares_floor"] > 1e-3
    toy = v.details["score_toy"]
    assert all(r["network_mse"] < r["linear_mse"] for r in toy) and v.details["linear_decrease"] < 1.3
    check_record(v, tmp_path)


def test_c3_fails_when_the_exp_kernel_is_wrong(monkeypatch):
    """exp(σ²‖x_i − x_j‖²/2) in place of exp(σ²‖x_i + x_j‖²/2): no longer proportional to the softmax kernel."""
    def wrong(X, sigma2):
        G = X @ X.T
        sq = torch.diagonal(G)
        return G * torch.exp(0.5 * sigma2 * (sq[:, None] + sq[None, :] - 2 * G))

    monkeypatch.setattr(K, "exp_kernel", wrong)
    assert not run_claim("E01.C3").passed
