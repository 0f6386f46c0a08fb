"""E10 claims: each check passes on the ci sizes and fails when the estimator is broken."""
from __future__ import annotations

import pytest
import torch

import pipeline.papers.e10  # noqa: F401  (registers E10's claims and figures)
from kernels import polynomial as P
from kernels import streaming as S
from pipeline.papers import CLAIMS, PAPERS, anchor, figure_of
from tests.conftest import PROJECT
from tests.pipeline.papers.conftest import paper_context

IDS = ["E10.C1", "E10.C2", "E10.C3"]


@pytest.fixture(scope="module")
def ctx():
    return paper_context("e10", "ci")


@pytest.fixture(scope="module")
def verdicts(ctx):
    return {cid: CLAIMS[cid].run(ctx) for cid in IDS}


@pytest.mark.parametrize("cid", IDS)
def test_claim_is_registered_passes_and_says_its_regime_and_control(verdicts, cid):
    v = verdicts[cid]
    assert v.claim == cid and v.paper == "E10" and v.statement == CLAIMS[cid].statement
    assert v.passed and v.slack >= 1, v.details
    assert v.details["regime"] and v.details["control"] and v.details["table"]
    if v.bound is None:
        assert "unknown" in v.bound_label


@pytest.mark.parametrize("cid", IDS)
def test_each_claim_has_a_figure_and_an_anchor_in_the_notes(verdicts, cid, tmp_path):
    path = tmp_path / f"{cid}.png"
    figure_of(cid)(verdicts[cid].as_dict(), path)
    assert path.stat().st_size > 10_000
    notes = (PROJECT / PAPERS["E10"].notes).read_text()
    assert f"### {cid} —" in notes and anchor(cid) == cid.lower().replace(".", "-")


def test_memory_reproduces_the_counts_and_the_control_grows(verdicts):
    d = verdicts["E10.C1"].details
    assert d["state_matches_formula"] and all(r["sketch"] == r["formula"] for r in d["table"])
    assert d["fits"]["tabulated_hashes"]["ci_low"] > 0.5 and abs(d["fits"]["kv_cache"]["slope"] - 1) < 1e-6


class KeepsRows(S.StreamingAttention):
    """A bug: the output rows are kept (n×d) instead of forgotten after sketching."""

    def _emit(self, rows):
        super()._emit(rows)
        self.kept = torch.cat([getattr(self, "kept", rows[:0]), rows])

    def tensors(self):
        return {**super().tensors(), "kept": getattr(self, "kept", self.row_sum[:0])}


def test_memory_fails_when_the_estimator_keeps_its_rows(ctx, monkeypatch):
    monkeypatch.setattr(S, "StreamingAttention", KeepsRows)
    v = CLAIMS["E10.C1"].run(ctx)
    assert not v.passed and v.measured > 0.5


def test_guarantee_reproduces_the_prototype_reference(verdicts):
    ref = verdicts["E10.C2"].details["reference"]
    assert ref["floats_three_matrices"] == 3500 and ref["poly_max_error"] < 1e-6
    assert all(1.0 < r < 1.5 for r in ref["ratios"])
    controls = verdicts["E10.C2"].details["controls_fraction_ok"]
    assert controls["planted_one_repetition"] < 0.99 and controls["planted_few_buckets"] < 0.99


def test_guarantee_fails_with_a_wrong_sign_hash(ctx, monkeypatch):
    real = S.buckets_and_signs

    def unsigned(*args, **kwargs):  # every sign +1: buckets sum their entries
        h, s = real(*args, **kwargs)
        return h, torch.ones_like(s)

    monkeypatch.setattr(S, "buckets_and_signs", unsigned)
    v = CLAIMS["E10.C2"].run(ctx)
    assert not v.passed and v.measured < 0.99


def test_guarantee_fails_without_the_median(ctx, monkeypatch):
    monkeypatch.setattr(S, "_median", lambda x: x.mean(dim=0))  # the mean lets one bad repetition through
    v = CLAIMS["E10.C2"].run(ctx)
    assert not v.passed and v.details["fractions_ok"]["planted_raw"] < 0.99


def test_guarantee_fails_with_a_wrong_normaliser(ctx, monkeypatch):
    monkeypatch.setattr(S, "_normalised_rows", lambda U1, num, den: num / den.mean())  # one D for every row
    v = CLAIMS["E10.C2"].run(ctx)
    assert not v.passed and v.details["reference"]["poly_max_error"] > 1e-6


def test_error_fails_when_the_features_lose_the_multinomial_coefficient(ctx, monkeypatch):
    real = S.phi

    def no_multinomial(Q, g, coef=None):  # Φ without multinomial(α): P(⟨q, k⟩) no longer expands right
        return real(Q, g, coef) / P.monomials(Q.shape[1], g).multinomial.to(Q)

    monkeypatch.setattr(S, "phi", no_multinomial)
    v = CLAIMS["E10.C3"].run(ctx)
    assert not v.passed and v.details["worst_eps2_over_tail"] > 1e-3


def test_error_fails_with_a_wrong_sign_hash(ctx, monkeypatch):
    real = S.buckets_and_signs
    monkeypatch.setattr(S, "buckets_and_signs", lambda *a, **kw: (real(*a, **kw)[0], torch.ones_like(real(*a, **kw)[1])))
    v = CLAIMS["E10.C3"].run(ctx)
    assert not v.passed and not all(r["all_ok"] for r in v.details["table"])
