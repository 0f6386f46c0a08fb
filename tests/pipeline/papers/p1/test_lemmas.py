"""P1 claims: each check passes on the correct formulas and fails on a wrong one."""
from __future__ import annotations

import pytest
import torch

import pipeline.papers.p1  # noqa: F401  (registers P1's claims and figures)
from kernels import softmax as K
from pipeline.papers.p1 import lemmas
from pipeline.papers import CLAIMS
from tests.pipeline.papers.conftest import paper_context


@pytest.fixture(scope="module")
def ctx():
    return paper_context("p1", "ci")


@pytest.mark.parametrize("cid", ["C1.1", "C1.2", "C1.3", "C1.4", "C1.5"])
def test_claim_is_registered_and_passes(ctx, cid):
    c = CLAIMS[cid]
    v = c.run(ctx)
    assert v.claim == cid and v.paper == "P1" and v.statement == c.statement and v.criterion == c.criterion
    assert v.passed, v.details
    if v.bound is None:
        assert "unknown" in v.bound_label


def test_gradient_check_fails_without_the_mean_term(ctx, monkeypatch):
    real = K.gradient

    def wrong(A, b, w, x):  # drops -⟨f,c⟩ f: the softmax Jacobian taken as diag(f)
        f = K.softmax(A @ x)
        return real(A, b, w, x) - A.T @ (torch.sum(f * (f - b)) * f)

    monkeypatch.setattr(K, "gradient", wrong)
    assert not CLAIMS["C1.1"].run(ctx).passed


def test_hessian_check_fails_on_the_sign_typo_of_B_diag(ctx, monkeypatch):
    def typo(f, b):  # docs/theory/p1.md §P1.7 item 1: + instead of - in front of ⟨f - b, f⟩ diag(f)
        return torch.diag((2.0 * f - b) * f + ((f - b) @ f) * f)

    monkeypatch.setattr(K, "B_diag", typo)
    v = CLAIMS["C1.2"].run(ctx)
    assert not v.passed and v.details["split_vs_unsplit_rel_diff"] > 1e-6


def test_hessian_check_fails_without_the_rank_two_part(ctx, monkeypatch):
    def diag_only(A, b, w, x):
        h = K.hessian_parts(A, b, w, x)
        return A.T @ (h.D.unsqueeze(1) * A)

    monkeypatch.setattr(K, "hessian", diag_only)
    assert not CLAIMS["C1.2"].run(ctx).passed


def test_bound_check_fails_when_B_misses_J_squared(ctx, monkeypatch):
    real = K.B_matrix
    monkeypatch.setattr(K, "B_matrix", lambda f, b: real(f, b) - K.softmax_jacobian(f) @ K.softmax_jacobian(f))
    assert not CLAIMS["C1.3"].run(ctx).passed


def test_pd_check_fails_without_the_regulariser(ctx, monkeypatch):
    real = lemmas.gaussian_instance

    def unregularised(*a, **kw):
        A, b, w = real(*a, **kw)
        return A, b, torch.zeros_like(w)

    monkeypatch.setattr(lemmas, "gaussian_instance", unregularised)
    v = CLAIMS["C1.4"].run(ctx)
    assert not v.passed and v.measured < 1.0


def test_lipschitz_check_fails_on_a_hessian_that_grows_with_n(ctx, monkeypatch):
    real = K.hessian

    def growing(A, b, w, x):
        return real(A, b, w, x) + A.shape[0] * (x @ x) * torch.eye(A.shape[1], dtype=A.dtype)

    monkeypatch.setattr(K, "hessian", growing)
    v = CLAIMS["C1.5"].run(ctx)
    assert not v.passed and max(v.details["slope_in_n_by_R"].values()) > 0.1
