"""C2.1 and C2.2 judge the project's own SPSA estimator (kernels.spsa.spsa_gradient): a broken estimator,
put where lemmas.py looks it up, makes them fail. Small sizes: the breaks are gross (a factor 2 or n)."""
from __future__ import annotations

import pytest
import torch

import pipeline.papers.p2  # noqa: F401  (registers P2's claims and figures)
from kernels import spsa
from pipeline.papers import CLAIMS
from pipeline.papers.p2 import lemmas
from tests.pipeline.papers.conftest import paper_context


@pytest.fixture(scope="module")
def small():
    ctx = paper_context("p2", "ci")
    ctx.sizes.zo_bias_draws = 2000
    ctx.sizes.zo_moment_draws = 4000
    return ctx


def estimator(step: float = 2.0, average=lambda s, n: s / n):
    """The n-SPSA estimate written out: proj_j = [L(x + εz_j) − L(x − εz_j)]/(step·ε), ĝ = average(Σ_j proj_j z_j, n);
    step = 2 with the mean over j is the correct one."""

    def spsa_gradient(losses, x, Z, eps):
        n = Z.shape[1]
        L = losses(torch.cat([x[:, None] + eps * Z, x[:, None] - eps * Z], 1))
        proj = (L[:n] - L[n:]) / (step * eps)
        return average(Z @ proj, n), proj

    return spsa_gradient


def test_the_written_out_estimator_is_the_kernel():
    g = torch.Generator().manual_seed(3)
    A = torch.randn(6, 5, generator=g, dtype=torch.float64)
    x = torch.randn(5, generator=g, dtype=torch.float64)
    Z = spsa.perturbations(5, 4, "gaussian", g)

    def losses(P):
        return torch.logsumexp(A @ P, 0)

    for got, want in zip(estimator()(losses, x, Z, 1e-3), spsa.spsa_gradient(losses, x, Z, 1e-3)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d,n,c", [(20, 1, 100), (100, 16, 7), (7, 3, 5)])
def test_moment_estimates_are_the_solver_calls(d, n, c):
    """The batched estimates of C2.2/C2.3 are those of one spsa_gradient call per d×n block, as ZO-SGD calls it."""
    g = torch.Generator().manual_seed(d + n)
    uh = torch.randn(d, generator=g, dtype=torch.float64)
    uh /= torch.linalg.vector_norm(uh)
    Z = spsa.perturbations(d, c * n, "sphere", g).reshape(d, c, n)
    x = torch.randn(d, generator=g, dtype=torch.float64)
    direct = torch.stack([spsa.spsa_gradient(lambda P: uh @ (P - x[:, None]), x, Z[:, i], lemmas.MOMENT_EPS)[0]
                          for i in range(c)], 1)
    torch.testing.assert_close(lemmas.linear_spsa_estimates(uh, Z), direct, rtol=1e-9, atol=1e-9)


def test_the_checks_pass_with_the_kernel_at_small_sizes(small):
    """C2.1 passes at the small sizes; C2.2 needs its ci draws for the 1% criterion, so here only its
    estimator-dependent parts: the control ûᵀĝ_n − 1 has mean 0 and every cell is within 3% of its factor."""
    assert CLAIMS["C2.1"].run(small).passed
    v = CLAIMS["C2.2"].run(small)
    assert v.details["controls_ok"] and v.details["max_abs_dev_exact"] < 0.03


def test_a_missing_half_fails_both_checks(small, monkeypatch):
    monkeypatch.setattr(spsa, "spsa_gradient", estimator(step=1.0))  # [L(x+εz) − L(x−εz)]/ε
    v1 = CLAIMS["C2.1"].run(small)
    assert not v1.passed and not any(r["plain_ok"] for r in v1.details["by_eps"])
    v2 = CLAIMS["C2.2"].run(small)
    assert not v2.passed and not v2.details["matches_exact_within_1pct"] and not v2.details["controls_ok"]
    assert all(abs(c["ratio_plain"] / c["exact"] - 4.0) < 0.4 for c in v2.details["cells"])  # ‖2ĝ‖² = 4‖ĝ‖²


@pytest.mark.parametrize("average", [lambda s, n: s / n**2, lambda s, n: s], ids=["over_n_squared", "sum"])
def test_a_wrong_average_over_the_perturbations_fails_the_moment_check(small, monkeypatch, average):
    monkeypatch.setattr(spsa, "spsa_gradient", estimator(average=average))
    v = CLAIMS["C2.2"].run(small)
    assert not v.passed and not v.details["matches_exact_within_1pct"] and not v.details["controls_ok"]
    assert all(abs(c["rel_dev_exact"]) > 0.5 for c in v.details["cells"] if c["n"] > 1)
