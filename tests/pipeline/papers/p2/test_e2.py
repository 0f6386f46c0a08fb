"""C2.7–C2.11, judged on the zo_* study tables: the criteria pass on tables that follow the theory and
fail on tables that break one law each (tables built here with the columns the plot stage writes)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import pipeline.papers.p2  # noqa: F401  (registers P2's claims and figures)
from pipeline.core.errors import ConfigError
from pipeline.papers.p2.e2 import FULL_BATCH, fit_batch_law
from pipeline.papers import CLAIMS
from tests.pipeline.papers.conftest import paper_context

#: the configurations of docs/theory/p2.md §P2.6, E2 (r ≈ fast + 0.2 at κ = 40; n-sweep at r ≈ 32.2)
GRIDS = {"zo_rank": [dict(r=f + 0.2, kappa=40.0, d=100, n=1, key=("data.fast", f)) for f in (2, 4, 8, 16, 32)],
         "zo_kappa": [dict(r=8 + 8 / k, kappa=k, d=100, n=1, key=("data.kappa", k)) for k in (10, 20, 40, 80)],
         "zo_dim": [dict(r=8.2, kappa=40.0, d=d, n=1, key=("data.d", d)) for d in (16, 32, 64, 128, 256)],
         "zo_nperturb": [dict(r=32.2, kappa=40.0, d=100, n=n, key=("solver.n", n)) for n in (1, 2, 4, 8, 16, 32)]}


def write_tables(root, law, r2=0.999, seeds=3):
    """One table per full-batch study, T_dec = law(κ, γ, d, seed), as the plot stage writes them."""
    for study, grid in GRIDS.items():
        rows = []
        for g in grid:
            gamma = 1 + (g["r"] + 1) / g["n"]
            for s in range(seeds):
                rows.append({"solver": "zo_sgd", "seed": s, f"config.{g['key'][0]}": g["key"][1], "config.seed": s,
                             "config.solver": "zo_sgd", "iterations_per_decade": law(g["kappa"], gamma, g["d"], s),
                             "info.kappa": g["kappa"], "info.gamma": gamma, "info.n": g["n"], "instance.d": g["d"],
                             "instance.effective_rank": g["r"], "decay_r2": r2})
            rows.append(dict(rows[-1], solver="gd", iterations_per_decade=1.0))  # other solvers are ignored
        (root / study).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(root / study / "table.csv", index=False)


def write_batch(root, T_of_B, kappa=11.7, gamma=5.95, a_mu=8.3, tuned=None):
    """zo_batch (theory step) and zo_batch_tuned (constant steps c/(ℓγ), T = tuned(B, c); default: the
    theory step's T at c = 1 and twice as slow at c = 0.5)."""
    rows = [{"solver": "zo_sgd", "seed": s, "config.solver.batch": B, "iterations_per_decade": T_of_B(B) * (1 + 0.02 * s),
             "info.kappa": kappa, "info.gamma": gamma, "instance.alpha_over_mu": a_mu, "instance.softmax_share": 0.01}
            for B in (1, 2, 4, 8, 16, 32, 64) for s in range(3)]
    (root / "zo_batch").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "zo_batch" / "table.csv", index=False)
    tuned = tuned or (lambda B, c: T_of_B(B) / c)
    rows = [{"solver": "zo_sgd", "seed": 0, "config.solver.batch": B, "config.solver.step_scale": c,
             "iterations_per_decade": tuned(B, c)} for B in (1, 2, 4, 8, 16, 32, 64) for c in (0.5, 1.0)]
    (root / "zo_batch_tuned").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "zo_batch_tuned" / "table.csv", index=False)


@pytest.fixture
def ctx(tmp_path):
    return dataclasses.replace(paper_context("p2", "ci"), results_dir=tmp_path)


def theory(kappa, gamma, d, s):  # T_dec = 1.15 κγ with a little seed noise, as measured in E2
    return 1.15 * kappa * gamma * (1 + 0.01 * (s - 1))


def check(cid, ctx):
    return CLAIMS[cid].run(ctx)


def test_criteria_pass_on_tables_that_follow_the_theory(ctx):
    write_tables(ctx.results_dir, theory)
    for cid in ("C2.7", "C2.8", "C2.9", "C2.10"):
        v = check(cid, ctx)
        assert v.passed, (cid, v.measured, v.details.get("table"))
    v = check("C2.8", ctx)
    coef = {r["coefficient"]: r["fitted"] for r in v.details["table"]}
    assert coef["b_kappa"] == pytest.approx(1, abs=1e-3) and coef["b_gamma"] == pytest.approx(1, abs=1e-3)
    assert abs(coef["b_d"]) < 1e-3
    assert check("C2.7", ctx).measured == pytest.approx(1.15 / math.log(10), rel=1e-9)  # median seed


def test_bound_fails_when_T_exceeds_ln10_kappa_gamma(ctx):
    write_tables(ctx.results_dir, lambda k, g, d, s: 2.6 * k * g)
    assert not check("C2.7", ctx).passed
    assert check("C2.9", ctx).passed  # still one constant


def test_joint_regression_detects_a_dimension_dependence(ctx):
    write_tables(ctx.results_dir, lambda k, g, d, s: k * g * d ** 0.3)
    v = check("C2.8", ctx)
    rows = {r["coefficient"]: r for r in v.details["table"]}
    assert not v.passed and rows["b_d"]["verdict"] == "fail" and rows["b_d"]["fitted"] == pytest.approx(0.3, abs=1e-6)


def test_joint_regression_detects_a_wrong_rank_exponent(ctx):
    write_tables(ctx.results_dir, lambda k, g, d, s: k * g ** 0.5)
    rows = {r["coefficient"]: r for r in check("C2.8", ctx).details["table"]}
    assert rows["b_gamma"]["verdict"] == "fail" and rows["b_kappa"]["verdict"] == "pass"


def test_shared_constant_fails_when_it_drifts(ctx):
    write_tables(ctx.results_dir, lambda k, g, d, s: k * g * d ** 0.5)
    assert not check("C2.9", ctx).passed


def test_linear_rate_fails_on_a_curved_run(ctx):
    write_tables(ctx.results_dir, theory, r2=0.9)
    v = check("C2.10", ctx)
    assert not v.passed and v.measured == pytest.approx(0.9)


def test_batch_law_recovers_B0_and_c0():
    B = np.array([1, 2, 4, 8, 16, 32, 64.0])
    c0, B0 = fit_batch_law(B, 50 * (1 + 7.0 / B))
    assert c0 == pytest.approx(50) and B0 == pytest.approx(7.0)


def test_batch_claim_passes_on_the_prediction_and_fails_without_a_batch_term(ctx):
    kg = 11.7 * 5.95
    write_batch(ctx.results_dir, lambda B: 0.8 * kg * (1 + 8.3 / B))
    v = check("C2.11", ctx)
    assert v.passed and v.details["B0_over_alpha_over_mu"] == pytest.approx(1, abs=0.05)
    write_batch(ctx.results_dir, lambda B: kg)  # no 1/B regime at all: B0 ≈ 0
    assert not check("C2.11", ctx).passed
    write_batch(ctx.results_dir, lambda B: 0.8 * kg * (1 + 40 / B))  # α/μ five times too small
    assert not check("C2.11", ctx).passed


def test_missing_study_is_a_clear_error(ctx):
    with pytest.raises(ConfigError) as err:
        check("C2.7", ctx)
    assert err.value.key == "results_dir" and "zo_rank" in str(err.value)


def test_claims_name_their_studies():
    for cid in ("C2.7", "C2.8", "C2.9", "C2.10"):
        assert CLAIMS[cid].studies == FULL_BATCH
    assert CLAIMS["C2.11"].studies == ("zo_batch", "zo_batch_tuned")


def test_batch_control_says_whether_the_batch_term_survives_a_tuned_step(ctx):
    kg = 11.7 * 5.95
    law = lambda B: 0.8 * kg * (1 + 8.3 / B)  # noqa: E731
    write_batch(ctx.results_dir, law, tuned=lambda B, c: law(B) / c)  # the 1/B term stays with every step
    v = check("C2.11", ctx)
    assert v.details["term_survives_tuning"] and v.details["tuned"]["best_scale"] == [1.0] * 7
    # a step ∝ B made the law: with a tuned constant step T is flat in B
    write_batch(ctx.results_dir, law, tuned=lambda B, c: 0.8 * kg * (1.0 if c == 1.0 else 1.5))
    v = check("C2.11", ctx)
    assert v.passed and not v.details["term_survives_tuning"] and "does not survive" in v.details["control"]


def test_batch_claim_per_regime_reads_only_that_regimes_runs(ctx):
    kg = 11.7 * 5.95
    write_batch(ctx.results_dir, lambda B: 0.8 * kg * (1 + 8.3 / B))
    for name in ("zo_batch", "zo_batch_tuned"):
        path = ctx.results_dir / name / "table.csv"
        df = pd.read_csv(path)
        broken = df.assign(**{"iterations_per_decade": 0.8 * kg})  # no batch term in the softmax regime
        pd.concat([df.assign(**{"config.data.regime": "regulariser"}),
                   broken.assign(**{"config.data.regime": "softmax"})]).to_csv(path, index=False)
    verdicts = {v.regime: v for v in CLAIMS["C2.11"].verdicts(ctx)}
    assert verdicts["regulariser"].passed and not verdicts["softmax"].passed
