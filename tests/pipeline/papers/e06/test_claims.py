"""E06's claims: registered, passing on the ci profile, and failing when a formula of the kernel is broken."""
from __future__ import annotations

from pathlib import Path

import torch

from kernels import kronecker as K
from kernels.sketch import RowSample
from pipeline import papers
from pipeline.papers.e06 import least_squares, rows
from tests.conftest import PROJECT
from tests.pipeline.papers.conftest import paper_context

CLAIMS = ("E06.C1", "E06.C2", "E06.C3")


def verdict(cid: str):
    papers.load()
    return papers.CLAIMS[cid].run(paper_context("e06", "ci"))


def check_record(v, tmp_path: Path) -> None:
    """Regime and control in the details, and the figure drawn from the verdict record alone."""
    assert v.details["regime"] and v.details["control"]
    path = tmp_path / f"{v.claim}.png"
    papers.figure_of(v.claim)(v.as_dict(), path)
    assert path.is_file() and path.stat().st_size > 10_000


def test_the_claims_are_registered_with_their_figures_and_notes():
    papers.load()
    assert [c.id for c in papers.claims() if c.paper == "E06"] == list(CLAIMS)
    assert all(papers.figure_of(c) is not None for c in CLAIMS)
    assert not any(papers.CLAIMS[c].timing or papers.CLAIMS[c].studies for c in CLAIMS)
    p = papers.PAPERS["E06"]
    assert p.arxiv == "2402.07027" and p.related and p.notes == "docs/theory/e06.md"
    notes = (PROJECT / "docs" / "theory" / "e06.md").read_text()
    for c in CLAIMS:
        assert f'<a id="{papers.anchor(c)}"></a>' in notes, c


# --------------------------------------------------------------------------- C1
def test_c1_passes_on_ci_and_uniform_sampling_fails(tmp_path):
    v = verdict("E06.C1")
    assert v.passed, v.details["table"]
    assert v.bound is None and "unknown" in v.bound_label
    assert v.details["product_rule"]["max_abs_diff"] < 1e-10
    assert all(r["uniform"] >= 0.8 > 0.6 > r["leverage"] for r in v.details["table"])
    check_record(v, tmp_path)


def test_c1_fails_when_the_product_scores_are_summed(monkeypatch):
    """τ_i(A1) + τ_j(A2) in place of the product: the scores no longer match the formed product's."""
    def summed(self):
        t1, t2 = self.factor_scores()
        return (t1[:, None] + t2[None, :]).reshape(-1) / (t1.numel() + t2.numel()) * 2

    monkeypatch.setattr(K.KroneckerFactor, "leverage_scores", summed)
    v = verdict("E06.C1")
    assert not v.passed and v.details["product_rule"]["max_abs_diff"] > 1e-3


def test_c1_fails_when_the_weights_forget_the_second_factor(monkeypatch):
    """Weights 1/(s·p1_i) in place of 1/(s·p1_i·p2_j): the sampled Gram is no longer unbiased."""
    real = K.sample_pairs

    def broken(p1, p2, s, generator):
        S = real(p1, p2, s, generator)
        _, j = K.split_index(S.rows, p2.shape[0])
        return RowSample(S.rows, S.weights * p2[j])

    monkeypatch.setattr(K, "sample_pairs", broken)
    assert not verdict("E06.C1").passed


# --------------------------------------------------------------------------- C2
def test_c2_passes_on_ci_with_the_excess_below_eps(tmp_path):
    v = verdict("E06.C2")
    assert v.passed, v.details["table"]
    assert all(r["leverage_excess"] <= r["leverage_eps"] for r in v.details["table"])
    assert v.details["convention_factor"] > 10 and v.details["direct"]["dense_vs_kernel"] < 1e-9
    check_record(v, tmp_path)


def test_c2_fails_when_the_direct_solve_reads_b_column_major(monkeypatch):
    real = least_squares.direct_solve
    monkeypatch.setattr(least_squares, "direct_solve", lambda A1, A2, B, lam=0.0: real(A1, A2, B.T, lam))
    assert not verdict("E06.C2").passed


def test_c2_fails_when_the_sketch_drops_its_weights(monkeypatch):
    """The sampled rows taken with weight 1 (no 1/(s p)): the sketched normal equations are biased towards the
    heavy pairs and the excess residual no longer shrinks like d²/s."""
    real = least_squares.sketched_solve

    def unweighted(F, B, S, lam=0.0):
        return real(F, B, RowSample(S.rows, torch.ones_like(S.weights)), lam)

    monkeypatch.setattr(least_squares, "sketched_solve", unweighted)
    assert not verdict("E06.C2").passed


# --------------------------------------------------------------------------- C3
def test_c3_passes_on_ci_and_the_budget_limited_sampler_fails(tmp_path):
    v = verdict("E06.C3")
    assert v.passed, v.details["table"]
    t = v.details["table"]
    assert all(r["classical_rows_read"] == 2 * r["n"] and r["s"] == t[0]["s"] for r in t)
    assert all(r["eps_budget"] >= 0.5 for r in t if r["eps_budget"] is not None)
    assert v.bound is None and "unknown" in v.bound_label
    check_record(v, tmp_path)


def test_c3_fails_when_the_sampler_ignores_the_scores(monkeypatch):
    """Draws uniform whatever the distribution: the classical sampler no longer reaches ε with s rows."""
    def uniform(p, s, generator):
        return torch.randint(p.shape[0], (s,), generator=generator).to(p.device)

    monkeypatch.setattr(K, "draw", uniform)
    v = verdict("E06.C3")
    assert not v.passed and max(r["eps_leverage"] for r in v.details["table"]) > 0.375


def test_c3_fails_when_the_scores_read_every_row_of_the_product(monkeypatch):
    monkeypatch.setattr(K.KroneckerFactor, "rows_read", property(lambda self: self.n1 * self.n2))
    assert not verdict("E06.C3").passed
    assert rows.sample_size(4, 0.25) == 710
