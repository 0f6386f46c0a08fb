"""P3's lemmas (C3.1–C3.8): each check passes on the kernel's formulas and fails when the formula it tests
is broken."""
from __future__ import annotations

import math

import pytest
import torch

import pipeline.papers.p3  # noqa: F401  (registers P3's claims and figures)
from kernels import attention as K
from pipeline.papers.p3 import lemmas
from pipeline.papers import CLAIMS
from tests.pipeline.papers.conftest import paper_context


@pytest.fixture(scope="module")
def ctx():
    return paper_context("p3", "ci")


@pytest.mark.parametrize("cid", ["C3.1", "C3.2", "C3.3", "C3.4", "C3.5", "C3.6", "C3.7", "C3.8"])
def test_claim_is_registered_and_passes(ctx, cid):
    c = CLAIMS[cid]
    v = c.run(ctx)
    assert v.claim == cid and v.paper == "P3" and v.statement == c.statement and v.criterion == c.criterion
    assert not c.timing
    assert v.passed, v.details
    if v.bound is None:
        assert "unknown" in v.bound_label


def test_block_identity_fails_with_column_major_vec(ctx, monkeypatch):
    monkeypatch.setattr(K, "vec_r", lambda X: X.T.reshape(-1))  # vec_c: the silent transposition of P3.7 item 1
    v = CLAIMS["C3.1"].run(ctx)
    assert not v.passed and v.measured > 1e-3


def test_loss_check_fails_with_a_factor_one_half(ctx, monkeypatch):
    real = K.loss
    monkeypatch.setattr(K, "loss", lambda *a, **kw: 0.5 * real(*a, **kw))  # P3.7 item 2: the abstract has no ½
    v = CLAIMS["C3.2"].run(ctx)
    assert not v.passed and v.measured == pytest.approx(0.5, rel=1e-9)


def test_gradient_check_fails_without_the_mean_term(ctx, monkeypatch):
    real = K.gradient_x

    def wrong(A1, A2, A3, B, X, Y, w=None, lam_y=0.0):  # Z = S∘G: the softmax Jacobian taken as diag(f)
        S = K.attention(A1, A2, X)
        V = A3 @ Y
        SG = S * ((S @ V - B) @ V.T)
        return real(A1, A2, A3, B, X, Y, w, lam_y) + 2.0 * A1.T @ (S * SG.sum(1, keepdim=True)) @ A2

    monkeypatch.setattr(K, "gradient_x", wrong)
    v = CLAIMS["C3.3"].run(ctx)
    assert not v.passed and v.measured > 1e-3


def test_hessian_check_fails_on_a_wrong_block(ctx, monkeypatch):
    real = K.hessian_x_blocks

    def halved(A1, A2, A3, B, X, Y, w=None):  # the unit Hessian of the halved loss: H^(u) without its factor 2
        plain = real(A1, A2, A3, B, X, Y, None)
        return 0.5 * plain + (real(A1, A2, A3, B, X, Y, w) - plain)

    monkeypatch.setattr(K, "hessian_x_blocks", halved)
    v = CLAIMS["C3.4"].run(ctx)
    assert not v.passed and v.measured > 1e-3 and v.details["kron_vs_dense_max_rel"] > 1e-3


def _e_wrong_coefficient(real):
    def wrong(f, g):  # ⟨f,g⟩ffᵀ instead of 2⟨f,g⟩ffᵀ
        s = (f * g).sum(-1, keepdim=True)[..., None]
        return real(f, g) - s * (f[..., :, None] * f[..., None, :])

    return wrong


def test_e_bound_fails_with_a_wrong_coefficient_in_E(ctx, monkeypatch):
    monkeypatch.setattr(K, "e_matrix", _e_wrong_coefficient(K.e_matrix))
    v = CLAIMS["C3.5"].run(ctx)
    assert not v.passed and abs(v.measured - lemmas.E_BOUND) / lemmas.E_BOUND > 1e-3


def test_dense_hessian_disagrees_with_the_kronecker_form_when_E_is_wrong(ctx, monkeypatch):
    monkeypatch.setattr(K, "e_matrix", _e_wrong_coefficient(K.e_matrix))  # enters the dense sum via unit_hessians
    v = CLAIMS["C3.4"].run(ctx)
    assert not v.passed and v.details["kron_vs_dense_max_rel"] > 1e-6


def test_pd_check_fails_when_the_rule_drops_the_osc_term(ctx, monkeypatch):
    def no_osc(osc, l, sigma_prod):
        n = osc.shape[0]
        return torch.full((n, n), math.sqrt(l) / sigma_prod, dtype=osc.dtype, device=osc.device)

    monkeypatch.setattr(lemmas, "pd_weights", no_osc)
    v = CLAIMS["C3.6"].run(ctx)
    assert not v.passed and v.measured < 1.0
    assert sum(r["uniform"]["below_l"] for r in v.details["by_size"]) > 0


def test_lipschitz_check_fails_on_a_hessian_that_grows_like_n_squared(ctx, monkeypatch):
    real = K.hessian_x

    def growing(A1, A2, A3, B, X, Y, w=None):
        d = X.shape[0]
        eye = torch.eye(d * d, dtype=X.dtype, device=X.device)
        return real(A1, A2, A3, B, X, Y, w) + A1.shape[0] ** 2 * (X * X).sum() * eye

    monkeypatch.setattr(K, "hessian_x", growing)
    v = CLAIMS["C3.7"].run(ctx)
    assert not v.passed and v.measured > 1.5
    assert all(s["ci"][0] > 1.0 for s in v.details["slope_in_n_by_R"])


def test_y_step_check_fails_with_the_ridge_off_by_two(ctx, monkeypatch):
    def wrong(A1, A2, A3, B, X, lam_y=0.0):  # (MᵀM + λ_Y I)⁻¹MᵀB: the ridge of the ½-normalised loss
        M = K.attention(A1, A2, X) @ A3
        eye = torch.eye(M.shape[1], dtype=M.dtype, device=M.device)
        return torch.linalg.solve(M.T @ M + lam_y * eye, M.T @ B)

    monkeypatch.setattr(K, "y_step", wrong)
    v = CLAIMS["C3.8"].run(ctx)
    assert not v.passed and v.measured > 1e-6

