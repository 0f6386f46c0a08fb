"""E02's claims: registered with their figures and notes, passing on the ci profile with their evidence, and failing
when a formula of the kernel (or the sampling) is broken."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from kernels import leverage_inversion as K
from pipeline import papers
from tests.conftest import PROJECT
from tests.pipeline.papers.conftest import paper_context

CLAIMS = ("E02.C1", "E02.C2", "E02.C3")


def verdict(cid: str, ctx=None):
    papers.load()
    return papers.CLAIMS[cid].run(ctx or paper_context("e02", "ci"))


def check_record(v, tmp_path: Path) -> None:
    """Regime and control in the details, and the figure drawn from the verdict record alone."""
    assert v.details["regime"] and v.details["control"] and v.details["table"]
    path = tmp_path / f"{v.claim}.png"
    papers.figure_of(v.claim)(v.as_dict(), path)
    assert path.is_file() and path.stat().st_size > 10_000


def drop_p_circ_p(monkeypatch) -> None:
    """Λ replaced by Σ_* wherever the kernel multiplies by Λ (the P∘P term dropped)."""
    def broken(self, V):
        return (self.sigma if V.dim() == 1 else self.sigma.unsqueeze(1)) * V

    monkeypatch.setattr(K.State, "lam_times", broken)


def drop_curvature(monkeypatch) -> None:
    """The Hessian without its curvature term Σ_i r_i∇²σ_{*,i} (the Gauss–Newton matrix passed off as exact)."""
    monkeypatch.setattr(K.State, "curvature_times", lambda self, r, V: torch.zeros_like(V))


def test_the_claims_are_registered_with_their_figures_and_notes():
    papers.load()
    assert [c.id for c in papers.claims() if c.paper == "E02"] == list(CLAIMS)
    assert all(papers.figure_of(c) is not None for c in CLAIMS)
    p = papers.PAPERS["E02"]
    assert p.related and p.arxiv == "2404.13785" and p.notes == "docs/theory/e02.md"
    notes = (PROJECT / "docs" / "theory" / "e02.md").read_text()
    for c in CLAIMS:
        assert f'<a id="{papers.anchor(c)}"></a>' in notes, c
    assert "2408.11267" in notes and "not confirmed" in notes


# --------------------------------------------------------------------------- C1
def test_c1_passes_on_ci_with_exact_derivatives(tmp_path):
    v = verdict("E02.C1")
    assert v.passed, v.details["table"]
    assert v.measured < 1e-8
    worst = {r["check"]: r["max_over_instances"] for r in v.details["table"]}
    assert worst["hessian_autograd"] < 1e-12 and worst["zero_residual_exact_vs_gauss_newton"] < 1e-12
    assert all(sp["gap"] < 1e-12 for sp in v.details["spectra"])
    check_record(v, tmp_path)


def test_c1_fails_when_lambda_drops_the_p_circ_p_term(monkeypatch):
    drop_p_circ_p(monkeypatch)
    v = verdict("E02.C1")
    assert not v.passed and v.measured > 1e-3


def test_c1_fails_when_the_hessian_drops_its_curvature_term(monkeypatch):
    drop_curvature(monkeypatch)
    v = verdict("E02.C1")
    assert not v.passed
    assert {r["check"]: r["max_over_instances"] for r in v.details["table"]}["hessian_autograd"] > 1e-3


# --------------------------------------------------------------------------- C2
def test_c2_passes_on_ci_with_the_reference_structure(tmp_path):
    v = verdict("E02.C2")
    assert v.passed, v.details["table"]
    rows = {r["s/d"]: r for r in v.details["table"]}
    assert rows[2.0]["leverage_final"] > 1e-2 and rows[32.0]["leverage_final"] < 1e-7  # s = 2d fails, 32d converges
    assert all(r["uniform_final"] > 100 * r["leverage_final"] for f, r in rows.items() if f >= 4)
    assert all(r["reached"] is not None and r["reached"] <= 6 for r in v.details["exact_gauss_newton"])
    assert -0.75 <= v.details["fits"]["eps0"]["slope"] <= -0.25
    check_record(v, tmp_path)


def test_c2_fails_when_lambda_drops_the_p_circ_p_term(monkeypatch):
    """With Λ → Σ_* the Hessian (and the Gauss–Newton factor) are wrong: Newton is no longer quadratic."""
    drop_p_circ_p(monkeypatch)
    assert not verdict("E02.C2").passed


def test_c2_fails_when_leverage_sampling_is_replaced_by_uniform(monkeypatch):
    """Scores that are all equal make "leverage" sampling uniform: the sampled runs no longer converge."""
    from kernels.sketch import DenseFactor

    monkeypatch.setattr(DenseFactor, "leverage_scores", lambda self: torch.ones(self.shape[0], dtype=self.M.dtype))
    assert not verdict("E02.C2").passed


# --------------------------------------------------------------------------- C3
def test_c3_passes_on_ci_with_a_finite_basin_and_the_kappa_law(tmp_path):
    v = verdict("E02.C3")
    assert v.passed, v.details["table"]
    assert -2.3 <= v.measured <= -1.7 and v.details["reparametrisation_error"] < 1e-8
    basin = v.details["basin"]
    assert basin[0]["r_half"] < basin[-1]["r_half"]
    assert all(r["lambda_min"] > 0 and r["residual"] > 1e-3 for r in v.details["noisy"])
    check_record(v, tmp_path)


def test_c3_fails_when_the_hessian_drops_its_curvature_term(monkeypatch):
    """Without the curvature term the Hessian at a noisy optimum is its Gauss–Newton part: the control's gap is 0."""
    drop_curvature(monkeypatch)
    v = verdict("E02.C3")
    assert not v.passed
    assert all(math.isclose(r["lambda_min"], r["lambda_min_gauss_newton"], rel_tol=1e-9) for r in v.details["noisy"])
