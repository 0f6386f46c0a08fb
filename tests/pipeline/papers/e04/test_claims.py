"""E04 claims: each check passes on the ci profile and fails on a broken formula (docs/theory/e04.md)."""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

import pipeline.papers.e04  # noqa: F401  (registers E04's claims and figures)
from kernels import hopfield as H
from kernels import polynomial
from pipeline.papers import CLAIMS, PAPERS, Context
from pipeline.papers.e04 import cost, retrieval
from tests.pipeline.papers.conftest import paper_context


@pytest.fixture(scope="module")
def ctx():
    return paper_context("e04", "ci")


def test_the_paper_is_registered():
    p = PAPERS["E04"]
    assert p.arxiv == "2402.04520" and p.link == "https://arxiv.org/abs/2402.04520" and p.notes == "docs/theory/e04.md"
    assert "Hopfield" in p.title and p.authors.startswith("Jerry Yao-Chieh Hu")


@pytest.mark.parametrize("cid", ["E04.C1", "E04.C2"])
def test_claim_is_registered_and_passes(ctx, cid):
    c = CLAIMS[cid]
    v = c.run(ctx)
    assert v.claim == cid and v.paper == "E04" and v.passed, v.details
    assert v.bound is None and "unknown" in v.bound_label
    assert v.details["regime"] and v.details["control"] and v.details["table"]


def test_rank_phase_transition_evidence(ctx):
    v = CLAIMS["E04.C1"].run(ctx)
    th = v.details["thresholds"]
    assert [t["tau"] for t in th] == list(ctx.sizes.e04_rank_taus)
    assert all(0.05 < t["x_star"] < 2 for t in th)
    rows = v.details["table"]
    for r in rows:  # the rank is that of the least degree; efficient exactly when it is below τ
        if not r["censored"]:
            assert r["rank"] == polynomial.rank(4, r["g"]) and r["efficient"] == (r["ratio"] < 1)
        assert r["max_logit"] <= r["worst_logit"] + 1e-12
    assert all(r["censored"] for r in rows if r["x"] == max(ctx.sizes.e04_rank_xs))


def test_rank_check_fails_when_phi_drops_the_multinomial_coefficients(ctx, monkeypatch):
    """Φ without multinomial(α) is the tensor-power mistake: Φ Ψᵀ is then not P(⟨ξ, x⟩)."""
    def wrong_phi(Q, g, coef=None):
        m = polynomial.monomials(Q.shape[1], g)
        c = polynomial.taylor_coefficients(g) if coef is None else coef
        return polynomial.psi(Q, g) * c[m.degree].to(Q.dtype)

    monkeypatch.setattr(polynomial, "phi", wrong_phi)
    v = CLAIMS["E04.C1"].run(ctx)
    assert not v.passed


def test_retrieval_check_fails_with_the_softmax_over_the_queries(ctx, monkeypatch):
    """The softmax along the wrong axis of the M×L logits (over the queries): silent when M = L."""
    def wrong_axis(Xi, X, beta, block=None):
        return Xi @ torch.softmax(beta * (Xi.T @ X), dim=1)

    monkeypatch.setattr(H, "retrieve", wrong_axis)
    v = CLAIMS["E04.C2"].run(ctx)
    assert not v.passed


def test_retrieval_check_fails_when_the_separation_takes_the_farthest_pattern(ctx, monkeypatch):
    """Δ_μ with max over ν instead of min (ξ_μ·ξ_μ − min_ν ξ_μ·ξ_ν): βΔ at the onset leaves the band around ln M."""
    def farthest(Xi):
        G = Xi.T @ Xi
        return torch.diagonal(G) - (G + torch.diag(torch.full((G.shape[0],), math.inf, dtype=G.dtype))).min(dim=1).values

    monkeypatch.setattr(H, "separation", farthest)
    v = CLAIMS["E04.C2"].run(ctx)
    assert not v.passed and v.measured > 2


SIZES = OmegaConf.create({"e04_cost_taus": [256, 512, 1024, 2048, 4096], "e04_cost_exact_max": 4096,
                          "e04_cost_d": 3, "e04_cost_g": 3, "e04_cost_repeats": 1})


def test_cost_is_a_timing_claim_and_times_every_size():
    assert CLAIMS["E04.C3"].timing
    sizes = OmegaConf.merge(SIZES, {"e04_cost_taus": [256, 512, 1024, 2048], "e04_cost_exact_max": 1024})
    v = CLAIMS["E04.C3"].run(Context(sizes=sizes))
    pts = v.details["points"]
    assert [p["tau"] for p in pts] == [256, 512, 1024, 2048]
    assert all(p["lowrank_s"] > 0 for p in pts) and pts[-1]["exact_s"] is None and pts[0]["exact_s"] > 0
    assert not v.passed  # fewer than five sizes above the floor: no verdict of pass
    assert pts[0]["lowrank_max_error"] < 1e-3


@pytest.mark.parametrize("exact_power, lowrank_power, passed", [(2.0, 1.0, True), (2.0, 2.0, False), (1.0, 1.0, False)])
def test_cost_verdict_follows_the_measured_laws(monkeypatch, exact_power, lowrank_power, passed):
    """Replace the clock by a cost model c·τ^power in the order the check times (exact, then low-rank)."""
    calls = iter([t**p for t in SIZES.e04_cost_taus for p in (exact_power, lowrank_power)])
    monkeypatch.setattr(cost, "median_times", lambda fn, repeats: (1e-9 * next(calls),) * 2)
    monkeypatch.setattr(cost, "LOWRANK_FIT_MIN", 256)
    v = CLAIMS["E04.C3"].run(Context(sizes=SIZES))
    assert v.passed is passed
    assert v.measured == pytest.approx(lowrank_power, abs=1e-6)
    assert v.details["exact_fit"]["slope"] == pytest.approx(exact_power, abs=1e-6)


def test_degree_cap_is_the_least_degree_of_rank_tau():
    assert retrieval.degree_cap(4, 1024) == 11 and polynomial.rank(4, 10) < 1024 <= polynomial.rank(4, 11)
    assert retrieval.degree_cap(8, 256) == 4
