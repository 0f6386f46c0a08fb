"""E09's claims: registered with their figures and notes, passing on the ci profile with their evidence and
computed controls, and failing when a formula of the kernel is broken."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from kernels import two_layer as K
from pipeline import papers
from tests.conftest import PROJECT
from tests.pipeline.papers.conftest import paper_context

CLAIMS = ("E09.C1", "E09.C2", "E09.C3")


def verdict(cid: str):
    papers.load()
    return papers.CLAIMS[cid].run(paper_context("e09", "ci"))


def check_record(v, tmp_path: Path) -> None:
    """Regime and control in the details, the record survives JSON, and the figure is drawn from it alone."""
    assert v.details["regime"] and v.details["control"]
    record = json.loads(json.dumps(v.as_dict(), default=float))
    path = tmp_path / f"{v.claim}.png"
    papers.figure_of(v.claim)(record, path)
    assert path.is_file() and path.stat().st_size > 10_000


def test_the_claims_are_registered_with_figures_and_notes():
    papers.load()
    assert [c.id for c in papers.claims() if c.paper == "E09"] == list(CLAIMS)
    assert all(papers.figure_of(c) is not None for c in CLAIMS)
    p = papers.PAPERS["E09"]
    assert p.arxiv == "2311.15390" and p.related and p.notes == "docs/theory/e09.md"
    notes = (PROJECT / p.notes).read_text()
    for c in CLAIMS:
        assert f'<a id="{papers.anchor(c)}"></a>' in notes, c


# --------------------------------------------------------------------------- C1
def test_c1_passes_on_ci_for_every_model(tmp_path):
    v = verdict("E09.C1")
    assert v.passed and v.slack >= 1 and v.measured < 1e-6
    rows = v.details["table"]
    assert {(r["activation"], r["reading"]) for r in rows} == {(a, r) for a in K.ACTIVATIONS for r in K.READINGS}
    assert all(r["control_no_softmax_term"] > 1e-3 for r in rows)  # the control is computed and fails
    assert all(r["relu_vs_identity_hessian"] == 0.0 for r in v.details["readings"])
    check_record(v, tmp_path)


def test_c1_fails_without_the_softmax_second_order_term(monkeypatch):
    """A Hessian whose chain treats the softmax as linear (the bracket diag(h) − huᵀ − uhᵀ left out)."""
    monkeypatch.setattr(K, "_bracket", lambda C, u, g: torch.zeros(C.shape[1], C.shape[1], dtype=C.dtype))
    v = verdict("E09.C1")
    assert not v.passed and v.slack < 1 and v.measured > 1e-3


# --------------------------------------------------------------------------- C2
def test_c2_passes_on_ci_with_the_reference_behaviour(tmp_path):
    v = verdict("E09.C2")
    assert v.passed and v.slack >= 1 and v.measured <= 1.0
    d = v.details
    assert d["steps_checked"] > 0 and d["l"] > 0 and d["M"] > 0 and 0 < d["x_star_offset"] < 1e-5
    groups = {(g["scores"], g["factor"]): g for g in d["table"]}
    assert groups[("leverage", 2.0)]["converged"] == 0  # s = 2d diverges (the reference run's finding)
    assert groups[("leverage", 32.0)]["converged"] == groups[("leverage", 32.0)]["runs"]
    assert groups[("leverage", 32.0)]["median_iterations"] < groups[("leverage", 8.0)]["median_iterations"]
    assert all(r["iterations"] <= 6 for r in d["runs"] if r["scores"] == "full")
    assert "broken at" in d["control"] and len(d["readings"]) == 6
    check_record(v, tmp_path)


def test_c2_fails_with_a_wrong_gauss_newton_factor(monkeypatch):
    """The factor M = GC off by a factor 2 (J counted twice in the chain): Newton is no longer quadratic."""
    real = K.gauss_newton_matrix
    monkeypatch.setattr(K, "gauss_newton_matrix", lambda *a, **k: 2.0 * real(*a, **k))
    v = verdict("E09.C2")
    assert not v.passed and v.slack < 1


# --------------------------------------------------------------------------- C3
def test_c3_passes_on_ci_with_the_kappa_law_and_the_control(tmp_path):
    v = verdict("E09.C3")
    assert v.passed and v.slack >= 1 and -2.2 <= v.measured <= -1.8
    d = v.details
    assert d["fit"]["points"] >= 5 and all(r["lambda_min"] > 0 for r in d["table"])
    assert all(r["basin"] >= r["framework_radius"] for r in d["table"])
    ks = [r for r in d["table"] if r["sweep"] == "kappa_C"]
    assert max(r["gd_progress"] for r in ks) > 0.1 > min(r["gd_progress"] for r in ks)
    check_record(v, tmp_path)


def test_c3_fails_when_the_regulariser_acts_on_x_instead_of_cx(monkeypatch):
    """½‖w·x‖² read for ½‖diag(w)Cx‖² (with w = 0.1): λ_min floors at w² and stops following κ(C)⁻²."""
    real = K.hessian
    monkeypatch.setattr(K, "hessian", lambda *a, **k: real(*a, **k) + 1e-2 * torch.eye(a[0].shape[1], dtype=a[0].dtype))
    v = verdict("E09.C3")
    assert not v.passed and v.slack < 1 and v.measured > -1.8
