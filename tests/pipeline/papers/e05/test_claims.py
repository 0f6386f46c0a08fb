"""E05's claims: registered, passing on the ci profile, and failing when the construction, the closed form, the
training's regulariser or the width is broken."""
from __future__ import annotations

import pytest

from kernels import modular as K
from pipeline import papers
from pipeline.papers.e05 import features, width
from tests.pipeline.papers.conftest import check_record, check_registration, run_claim

CLAIMS = ("E05.C1", "E05.C2", "E05.C3")


def test_the_claims_are_registered_with_their_figures_and_notes():
    check_registration("E05", CLAIMS, "2402.09469")


# --------------------------------------------------------------------------- C1
def test_c1_passes_on_ci_with_the_reference_table_and_the_controls_miss(tmp_path):
    v = run_claim("E05.C1")
    assert v.passed, v.details["table"]
    rows = v.details["table"]
    assert {(r["p"], r["k"]) for r in rows} >= {(5, 2), (7, 2), (5, 3), (7, 3), (5, 4)}
    assert all(r["relative_error"] <= 1e-10 and r["reference_match"] for r in rows)
    assert all(r["wrong_phase_ratio"] < 0 and r["no_rescale_ratio"] < 0.5 and r["drop_frequency_ratio"] < 0.9 for r in rows)
    check_record(v, tmp_path)


def test_c1_fails_without_the_equal_norm_rescaling(monkeypatch):
    monkeypatch.setattr(K, "equal_norm", lambda theta: theta)
    v = run_claim("E05.C1")
    assert not v.passed and v.measured > 0.5


def test_c1_fails_with_a_closed_form_missing_its_factor_two(monkeypatch):
    real = K.optimal_margin
    monkeypatch.setattr(K, "optimal_margin", lambda p, k: real(p, k) / 2)
    assert not run_claim("E05.C1").passed


# --------------------------------------------------------------------------- C2
def test_c2_passes_on_ci_and_the_controls_fail(tmp_path):
    v = run_claim("E05.C2")
    assert v.passed, v.details["trained"]
    d = v.details
    assert 0.9 <= d["trained"]["margin_ratio"] <= 1 and d["trained"]["frequencies_present"] == 3
    assert d["random_start"]["margin_ratio"] < 0 and d["permuted"]["margin_ratio"] < 0.5
    assert d["anatomy"]["phase_residual_median"] < 0.05 < d["anatomy"]["phase_residual_other_sign_median"]
    assert d["l2"]["margin_ratio"] < 0.9  # the other reading, plain weight decay, stalls
    check_record(v, tmp_path)


def test_c2_fails_when_trained_with_plain_weight_decay(monkeypatch):
    real = features.train
    monkeypatch.setattr(features, "train", lambda ctx, p, k, m, regulariser="margin_norm", stream=0:
                        real(ctx, p, k, m, "l2", stream))
    v = run_claim("E05.C2")
    assert not v.passed and v.measured < 0.9


# --------------------------------------------------------------------------- C3
def test_c3_passes_on_ci_with_a_shortfall_at_a_quarter_width(tmp_path):
    v = run_claim("E05.C3")
    assert v.passed, v.details["table"]
    t = {r["fraction"]: r for r in v.details["table"]}
    assert t[0.25]["margin_ratio"] < 0.9 <= t[1.0]["margin_ratio"] and t[0.25]["m"] == 24
    check_record(v, tmp_path)


@pytest.mark.parametrize("fraction", [0.25])
def test_c3_fails_when_every_width_trains_the_full_network(monkeypatch, fraction):
    """A width that is silently ignored (every run at 2^{2k−2}(p−1)): no shortfall at a quarter width."""
    real = width.train
    monkeypatch.setattr(width, "train", lambda ctx, p, k, m, regulariser="margin_norm", stream=0:
                        real(ctx, p, k, K.optimal_width(p, k), regulariser, stream))
    assert not run_claim("E05.C3").passed
