"""E07's claims: registered, passing on the ci profile, and failing when a formula of the kernel is broken."""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import pytest
import yaml

from kernels import attention_gradient as K
from kernels import polynomial as P
from pipeline import papers, studies
from pipeline.core.sink import NullSink
from pipeline.job import run as run_job
from pipeline.papers.e07 import cost, exactness, optimisation, threshold
from tests.conftest import PROJECT, compose
from tests.pipeline.papers.conftest import paper_context

CLAIMS = ("E07.C1", "E07.C2", "E07.C3", "E07.C3.time")


def verdict(cid: str, ctx=None):
    papers.load()
    return papers.CLAIMS[cid].run(ctx or paper_context("e07", "ci"))


def test_the_claims_are_registered_with_their_figures_and_the_timing_claim_is_marked():
    papers.load()
    assert [c.id for c in papers.claims() if c.paper == "E07"] == list(CLAIMS)
    assert all(papers.figure_of(c) is not None for c in CLAIMS)
    assert papers.CLAIMS["E07.C3.time"].timing and papers.CLAIMS["E07.C3"].studies == ("e07_gd",)
    assert papers.slug({"claim": "E07.C3.time"}) + "_timing.png" == "E07.C3.time_timing.png"
    notes = (PROJECT / "docs" / "theory" / "e07.md").read_text()
    for c in CLAIMS:
        assert f'<a id="{papers.anchor(c)}"></a>' in notes, c


def check_record(v, tmp_path: Path, timing: bool = False) -> None:
    """Regime and control in the details, and the figure drawn from the verdict record alone."""
    assert v.details["regime"] and v.details["control"]
    path = tmp_path / f"{v.claim}{'_timing' if timing else ''}.png"
    papers.figure_of(v.claim)(v.as_dict(), path)
    assert path.is_file() and path.stat().st_size > 10_000


def break_lemma_d3(monkeypatch) -> None:
    """Every chain built with the paper's Lemma D.3 as printed (q = hcᵀ), whatever indices are asked for."""
    real = K.lowrank_factors

    def broken(A1, A2, A3, E, Y, X, g, scale, coef=None, indices="fixed"):
        return real(A1, A2, A3, E, Y, X, g, scale, coef, "paper_D3")

    monkeypatch.setattr(K, "lowrank_factors", broken)


# --------------------------------------------------------------------------- C1
def test_c1_passes_on_ci_and_shows_the_paper_indices_differ(tmp_path):
    v = verdict("E07.C1")
    assert v.passed, v.details
    ctrl = v.details["control_errors"]
    assert ctrl["paper"] > 0.1 and ctrl["paper_D3"] > 0.1 and ctrl["paper_D5"] > 1e-2 and ctrl["fixed"] < 1e-11
    assert "paper's indices differs from the exact gradient, the fixed one matches" in v.details["control"]
    check_record(v, tmp_path)


def test_c1_fails_when_the_exact_gradient_drops_the_row_term(monkeypatch):
    """p = f∘q without −diag(r)f: the exact gradient no longer matches the differences (nor the chain)."""
    def broken(A1, A2, A3, E, Y, X, scale, block_rows=None):
        f = K.softmax_scores(A1, A2, X, scale)
        h = A3 @ Y
        c = f @ h - E
        return 0.5 * (c * c).sum(), A1.T @ (f * (c @ h.T)) @ A2 / scale

    monkeypatch.setattr(K, "loss_and_gradient", broken)
    assert not verdict("E07.C1").passed


def test_c1_fails_when_the_chain_uses_the_papers_lemma_d3(monkeypatch):
    break_lemma_d3(monkeypatch)
    v = verdict("E07.C1")
    assert not v.passed and v.details["control_errors"]["fixed"] > 0.1


# --------------------------------------------------------------------------- C2
def test_c2_passes_on_ci_with_the_blow_up_above_the_threshold(tmp_path):
    v = verdict("E07.C2")
    assert v.passed, v.details["table"]
    pts = v.details["points"]
    assert all(p["rank_over_n"] >= 1 for p in pts if p["ratio"] == max(v.details["ratios"]))
    assert all(p["uniform_error"] > p["target"] for p in pts)
    check_record(v, tmp_path)


def test_c2_fails_when_the_feature_map_drops_the_multinomial_weights(monkeypatch):
    """Φ without the multinomial coefficients is a different polynomial: no degree reaches 1/n, every rank blows up."""
    real = P.phi

    def broken(Q, g, coef=None):
        m = P.monomials(Q.shape[1], g)
        return real(Q, g, coef) / m.multinomial.to(Q.dtype)

    monkeypatch.setattr(threshold, "phi", broken)
    assert not verdict("E07.C2").passed


# --------------------------------------------------------------------------- C3 (judged on study e07_gd)
GRID = {"problem.gradient": ["exact", "lowrank"], "data.n": ["256"], "data.B": ["0.5", "2.5"], "seed": ["0"]}


def run_study(root: Path, only_lowrank: bool = False) -> None:
    """The ci grid of study e07_gd, run in this process (tracking off), and its table built as the plot stage does."""
    for gradient in GRID["problem.gradient"]:
        if only_lowrank and gradient == "exact":
            continue
        for B in GRID["data.B"]:
            overrides = [f"problem.gradient={gradient}", "data.n=256", f"data.B={B}", "seed=0"]
            cfg = compose(["+study=e07_gd", "profile=ci", "tracking=off", f"results_dir={root}", *overrides])
            run_job(cfg, root / "e07_gd" / "runs" / ",".join(sorted(overrides)), NullSink(), overrides=overrides)
    studies.build(cfg.study, root, GRID)


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("e07_results")
    old = os.environ.get("SOFTMAX_LAB_ROOT")
    os.environ["SOFTMAX_LAB_ROOT"] = str(root)
    try:
        run_study(root)
    finally:
        if old is None:
            os.environ.pop("SOFTMAX_LAB_ROOT", None)
        else:
            os.environ["SOFTMAX_LAB_ROOT"] = old
    return root


def c3_context(root: Path):
    return dataclasses.replace(paper_context("e07", "ci"), results_dir=root)


def test_c3_passes_on_the_ci_study(study_root, tmp_path):
    v = verdict("E07.C3", c3_context(study_root))
    assert v.passed, v.details["table"]
    small, large = v.details["table"][0], v.details["table"][-1]
    assert small["overlap"] == small["runs"] and large["lowrank_reached_1e-06"] == 0
    assert all(math.isfinite(r["lowrank_a1x_max"]) for r in v.details["runs"])
    assert v.details["control_run"]["paper_reached_1e-06"] is None
    check_record(v, tmp_path)


def test_c3_fails_when_the_chain_is_broken(study_root, tmp_path, monkeypatch):
    """The chain with the paper's Lemma D.3 in every run: the low-rank curves no longer follow the exact ones at small B."""
    import shutil

    root = tmp_path / "results"
    shutil.copytree(study_root / "e07_gd", root / "e07_gd")
    for d in (root / "e07_gd" / "runs").glob("*lowrank*"):
        shutil.rmtree(d)
    break_lemma_d3(monkeypatch)
    monkeypatch.setenv("SOFTMAX_LAB_ROOT", str(tmp_path))
    run_study(root, only_lowrank=True)
    assert not verdict("E07.C3", c3_context(root)).passed


def test_the_study_step_is_the_one_of_the_control_run():
    study = yaml.safe_load((PROJECT / "conf" / "study" / "e07_gd.yaml").read_text())
    assert study["solver"]["ell_scale"] == optimisation.ELL_SCALE
    assert {k: str(v).split(",") for k, v in study["study"]["grid"]["ci"].items()} == {
        "n": GRID["data.n"], "B": GRID["data.B"], "seed": GRID["seed"]}


# --------------------------------------------------------------------------- C3.time
def test_c3_time_passes_on_ci(tmp_path):
    v = verdict("E07.C3.time")
    assert v.passed, v.details["points"]
    assert v.details["slope_exact"]["slope"] > 1.7
    check_record(v, tmp_path, timing=True)


def test_c3_time_fails_when_the_chain_forms_an_n_by_n_matrix(monkeypatch):
    """A "low-rank" gradient that builds f̃ as an n×n matrix (the explicit chain) costs O(n²): its slope leaves the band."""
    def quadratic(A1, A2, A3, E, Y, X, g, scale, coef=None, indices="fixed", memory_light=False):
        s = math.sqrt(scale)
        Pq, V1 = P.phi(A1 @ X / s, g, coef), P.psi(A2 / s, g)
        f = (Pq @ V1.T) / (Pq @ V1.sum(dim=0)).unsqueeze(1)
        h = A3 @ Y
        fq = f * ((f @ h - E) @ h.T)
        return A1.T @ (fq - fq.sum(dim=1, keepdim=True) * f) @ A2 / scale

    monkeypatch.setattr(K, "lowrank_gradient", quadratic)
    ctx = paper_context("e07", "ci")
    ctx.sizes.e07_time_ns = [256, 512, 1024, 2048, 4096]
    v = verdict("E07.C3.time", ctx)
    assert cost.K is K and not v.passed and v.details["slope_lowrank"]["slope"] > 1.25
