"""E03 claims: each check passes on the ci profile and fails on a broken formula (docs/theory/e03.md)."""
from __future__ import annotations

import math

import pytest
import torch

import pipeline.papers.e03  # noqa: F401  (registers E03's claims and figures)
from kernels import sparse_attention as S
from pipeline.papers import CLAIMS, PAPERS
from pipeline.papers.e03 import sparsity
from tests.pipeline.papers.conftest import paper_context


@pytest.fixture(scope="module")
def ctx():
    return paper_context("e03", "ci")


def test_the_paper_is_registered_with_its_v2_title():
    p = PAPERS["E03"]
    assert p.arxiv == "2404.02690" and p.notes == "docs/theory/e03.md"
    assert p.title.startswith("How Sparse Attention Approximates Exact Attention")
    assert p.authors == "Yichuan Deng, Zhao Song, Jing Xiong, Chiwun Yang"


@pytest.mark.parametrize("cid", ["E03.C1", "E03.C2", "E03.C3"])
def test_claim_is_registered_and_passes(ctx, cid):
    c = CLAIMS[cid]
    v = c.run(ctx)
    assert v.claim == cid and v.paper == "E03" and v.passed, v.details
    assert v.details["regime"] and v.details["control"] and v.details["table"]
    if v.bound is None:
        assert "unknown" in v.bound_label


def test_tail_check_judges_both_sides_and_reports_the_boundary_cells(ctx):
    v = CLAIMS["E03.C1"].run(ctx)
    sides = {t["side"] for t in v.details["table"]}
    assert sides == {"vanishing", "dense", "boundary"}
    assert "C=0.75,c=0.5" in v.details["boundary_cells"]  # c = √(1 − C) exactly
    ctrl = v.details["control_rows"]
    assert ctrl[-1]["tail"] > ctrl[0]["tail"] >= 0.5
    assert all(r["ok"] for r in v.details["references"]) and v.details["references"]


def test_tail_check_fails_when_the_kept_set_is_the_first_k_columns(ctx, monkeypatch):
    """Truncation to the first k columns instead of the top k: the tail is about 1 − k/n and never vanishes."""
    def first_k(L):
        p = S.softmax_rows(L)
        tails = p.flip(1).cumsum(1).flip(1)
        return torch.cat([tails, torch.zeros_like(tails[:, :1])], dim=1)

    monkeypatch.setattr(S, "tail_profile", first_k)
    assert not CLAIMS["E03.C1"].run(ctx).passed


def test_error_check_fails_without_the_renormalisation(ctx, monkeypatch):
    """p̃ = p on the kept set without dividing by 1 − τ: ‖p − p̃‖₁ = τ, not 2τ."""
    def unnormalised(L, k):
        keep = torch.zeros_like(L, dtype=torch.bool).scatter_(1, L.topk(k, dim=1).indices, True)
        return S.softmax_rows(L) * keep

    monkeypatch.setattr(S, "truncated_softmax", unnormalised)
    v = CLAIMS["E03.C2"].run(ctx)
    assert not v.passed and v.details["l1_identity_max_abs_gap"] > 1e-3


def test_error_check_fails_when_the_blocked_kernel_drops_a_block(ctx, monkeypatch):
    real = S.truncated_attention

    def lossy(Q, K, V, k, scale=1.0, block=None):
        out, tau = real(Q, K, V, k, scale, block)
        out[: block or 1] = 0.0
        return out, tau

    monkeypatch.setattr(S, "truncated_attention", lossy)
    assert not CLAIMS["E03.C2"].run(ctx).passed


def test_window_check_fails_when_the_window_ignores_n(ctx, monkeypatch):
    """k = ⌈α n0^C⌉ for every n (the fixed window in disguise): the adaptive rule no longer wins."""
    monkeypatch.setattr(S, "adaptive_window", lambda n, alpha, C: max(1, math.ceil(alpha * 1024 ** C)))
    v = CLAIMS["E03.C3"].run(ctx)
    assert not v.passed and v.measured >= 1 - 1e-12


def test_gaussian_prediction_and_sigma():
    assert sparsity.sigma_of(1.0, 1024) == pytest.approx(math.sqrt(2 * math.log(1024)))
    assert sparsity.gaussian_prediction(1000, 500, 0.0) == pytest.approx(0.5)
    g = torch.Generator().manual_seed(0)
    L = S.gaussian_logits(64, 4096, 1.0, g)
    pred = sparsity.gaussian_prediction(4096, 64, 1.0)
    assert float(S.tail_mass(L, 64).mean()) == pytest.approx(pred, abs=0.02)


def test_adversarial_values_attain_the_bound():
    g = torch.Generator().manual_seed(3)
    L = S.gaussian_logits(5, 200, 2.0, g)
    V = sparsity.adversarial_values(L, 7)
    p, pt = S.softmax_rows(L), S.truncated_softmax(L, 7)
    err = torch.linalg.vector_norm(torch.einsum("rn,rnd->rd", p - pt, V), dim=1)
    torch.testing.assert_close(err, 2 * S.tail_mass(L, 7), rtol=1e-12, atol=1e-15)


def test_collapse_claim_passes_and_fails_with_the_softmax_over_the_queries(ctx, monkeypatch):
    from pipeline.papers.e03 import collapse

    v = CLAIMS["E03.C4"].run(ctx)
    assert v.passed, v.details
    assert v.details["control_cell"]["diag_mass"] < 0.1 and v.details["lln_max_gap"] < 0.03
    # the softmax along the wrong axis (over the query rows, not over the keys of each row)
    monkeypatch.setattr(S, "softmax_rows", lambda L: torch.softmax(L, dim=0))
    assert not CLAIMS["E03.C4"].run(ctx).passed


def test_predicted_diagonal_mass_in_both_phases():
    from pipeline.papers.e03 import collapse

    sq = torch.tensor([16.0, 64.0], dtype=torch.float64)
    p = collapse.predicted_diagonal(sq, 0.25, 1025)  # σ = 1, 2: inside the law-of-large-numbers phase
    ln = math.log(1024)
    torch.testing.assert_close(p, torch.sigmoid(0.25 * sq - ln - (0.25**2) * sq / 2))
    p = collapse.predicted_diagonal(sq, 2.0, 1025)  # σ = 8, 16 > √(2 ln n): the largest terms carry the sum
    torch.testing.assert_close(p, torch.sigmoid(2.0 * sq - 2.0 * sq.sqrt() * math.sqrt(2 * ln)))
