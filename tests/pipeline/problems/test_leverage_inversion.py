"""The E02 problem and its data: the oracle against autograd, the Gauss–Newton split, the domain between the poles,
the reference optimum (the planted x), the instance constants, the data kind's construction and validation, and how
a job and the approximate Gauss–Newton solver use them."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from kernels import leverage_inversion as K
from pipeline.cli.precheck import check_job
from pipeline.core.errors import ConfigError
from pipeline.core.schema import validate
from pipeline.data import KINDS, LeverageTargetData
from pipeline.data.leverage_target import synthesize_e02
from pipeline.job.prepare import prepare
from pipeline.problems import PROBLEMS, CountingOracle, GaussNewtonParts, LeverageInversion
from pipeline.reference import compute_reference
from pipeline.solvers import StopRule, make_solver
from tests.conftest import compose


def arrays(seed=3, **kw):
    return synthesize_e02(OmegaConf.structured(LeverageTargetData(**kw)), seed)


def near(x, seed=0, scale=0.05):
    return x + scale * torch.randn(x.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def direct_loss(A, b, sigma, w, x):
    s = A @ x - b
    H = A.T @ (A / (s * s).unsqueeze(1))
    r = torch.einsum("id,de,ie->i", A, torch.linalg.inv(H), A) / (s * s) - sigma
    return 0.5 * (r @ r) + 0.5 * ((w * w) @ ((A @ x) ** 2))


# --------------------------------------------------------------------------- data
def test_the_data_kind_is_registered_and_plants_a_realisable_target():
    assert KINDS["leverage_target"].schema is LeverageTargetData and KINDS["leverage_target"].make is synthesize_e02
    arr = arrays(n=50, d=4, s_min=0.5, s_max=2.0)
    assert arr["A"].shape == (50, 4) and arr["b"].shape == (50,) and arr["x_true"].shape == (4,)
    assert np.allclose(arr["A"] @ arr["x_true"] - arr["b"], arr["s_true"])
    assert 0.5 <= np.abs(arr["s_true"]).min() and np.abs(arr["s_true"]).max() <= 2.0
    assert (arr["s_true"] > 0).any() and (arr["s_true"] < 0).any()
    assert math.isclose(arr["sigma"].sum(), 4.0, rel_tol=1e-12) and arr["sigma"].min() >= 0 and arr["sigma"].max() <= 1
    sig = K.leverage(torch.as_tensor(arr["A"]), torch.as_tensor(arr["s_true"]))
    assert np.allclose(arr["sigma"], sig.numpy(), atol=1e-14)
    assert np.all(arr["w"] == 0.0) and float(arr["s_abs_min"]) == np.abs(arr["s_true"]).min()
    again = arrays(n=50, d=4, s_min=0.5, s_max=2.0)
    assert all(np.array_equal(arr[k], again[k]) for k in arr)


def test_kappa_sets_the_condition_number_and_keeps_the_other_draws():
    base, cond = arrays(kappa=None), arrays(kappa=100.0)
    sv = np.linalg.svd(cond["A"], compute_uv=False)
    assert math.isclose(sv[0] / sv[-1], 100.0, rel_tol=1e-10) and math.isclose(float(cond["kappa_A"]), 100.0, rel_tol=1e-10)
    assert math.isclose(sv[0], np.linalg.svd(base["A"], compute_uv=False)[0], rel_tol=1e-12)
    assert np.array_equal(base["x_true"], cond["x_true"]) and np.array_equal(base["s_true"], cond["s_true"])


def test_noise_gives_a_valid_unreachable_target_and_pole_rows_move_only_their_rows():
    clean, noisy = arrays(), arrays(noise=2.0, w=0.1)
    assert math.isclose(noisy["sigma"].sum(), 5.0, rel_tol=1e-12) and noisy["sigma"].min() >= 0 and noisy["sigma"].max() <= 1
    assert np.abs(noisy["sigma"] - clean["sigma"]).max() > 1e-3 and np.all(noisy["w"] == 0.1)
    poles = arrays(pole_rows=2, pole_s=0.01)
    assert np.allclose(np.abs(poles["s_true"][:2]), [0.01, 0.015]) and float(poles["s_abs_min"]) == pytest.approx(0.01)
    assert np.array_equal(poles["s_true"][2:], clean["s_true"][2:])


@pytest.mark.parametrize("override, key", [("data.n=5", "data.n"), ("data.s_max=0.5", "data.s_max"),
                                           ("data.pole_rows=100", "data.pole_rows"), ("data.kappa=0.5", "data.kappa"),
                                           ("data.s_min=0", "data.s_min")])
def test_validation_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose(["problem=leverage_inversion", "data=leverage_target", override, "tracking=off"]))


# --------------------------------------------------------------------------- oracle
def test_the_oracle_agrees_with_autograd_of_the_definition():
    arr = arrays(noise=1.0, w=0.2)
    prob = LeverageInversion.from_arrays(arr)
    assert PROBLEMS["leverage_inversion"] is LeverageInversion and prob.dim == 5 and prob.n == 60
    x = near(torch.as_tensor(arr["x_true"]), scale=0.1)
    f = lambda z: direct_loss(prob.A, prob.b, prob.sigma, prob.w, z)  # noqa: E731
    L, g = prob.loss_grad(x)
    assert torch.allclose(L, f(x), rtol=1e-12) and torch.allclose(prob.loss(x), L)
    assert torch.allclose(g, torch.func.grad(f)(x), rtol=1e-9, atol=1e-13) and torch.allclose(prob.grad(x), g)
    H = torch.autograd.functional.hessian(f, x)
    assert torch.allclose(prob.hess(x), H, rtol=1e-9, atol=1e-12)
    v = near(torch.zeros(5), 1, 1.0)
    assert torch.allclose(prob.hvp(x, v), H @ v, rtol=1e-9, atol=1e-12)
    st = prob.stats(x)
    assert st["mu"] > 0 and math.isclose(st["ell"], float(torch.linalg.eigvalsh(H)[-1]), rel_tol=1e-9)


def test_the_gauss_newton_split_sums_to_the_hessian():
    arr = arrays(noise=1.0, w=0.2)
    prob = LeverageInversion.from_arrays(arr)
    x = near(torch.as_tensor(arr["x_true"]), scale=0.1)
    parts = prob.gauss_newton(x)
    assert isinstance(parts, GaussNewtonParts) and parts.factor.shape == (60, 5)
    G = K.gauss_newton_factor(prob.A, prob.b, x)
    assert torch.allclose(parts.factor.rows(torch.arange(60)), G)
    assert torch.allclose(parts.rest, prob.A.T @ (0.04 * prob.A))
    assert torch.allclose(parts.factor.gram() + parts.rest + parts.curvature, prob.hess(x), atol=1e-12)
    assert float(parts.curvature.abs().max()) > 1e-3  # a nonzero residual: the curvature part is real
    tau = parts.factor.leverage_scores()
    assert math.isclose(float(tau.sum()), 5.0, rel_tol=1e-10)


def test_the_domain_is_the_planted_sign_cell():
    arr = arrays()
    prob = LeverageInversion.from_arrays(arr)
    x = torch.as_tensor(arr["x_true"])
    assert prob.in_domain(x)
    s = arr["s_true"]
    i = int(np.argmin(np.abs(s)))
    a = torch.as_tensor(arr["A"][i])
    across = x - 1.01 * float(s[i]) * a / float(a @ a)  # s_i → −0.01·s_i: across the pole of row i
    assert not prob.in_domain(across)
    assert torch.allclose(prob.scores(across), K.leverage(prob.A, prob.residual(across)))
    free = LeverageInversion.from_arrays({k: v for k, v in arr.items() if k != "s_true"})
    assert free.signs is None and free.in_domain(across)
    assert not free.in_domain(x - float(s[i]) * a / float(a @ a))  # on the pole itself


def test_the_solver_halves_a_step_that_would_cross_a_pole():
    """With a poor sample (s = 2d) approximate Gauss–Newton proposes steps across poles: they are halved until the
    new point lies in the planted cell, so that every iterate stays there."""
    arr = arrays(n=400, d=8)
    prob = LeverageInversion.from_arrays(arr)
    xs = torch.as_tensor(arr["x_true"])
    oracle = CountingOracle(prob)
    tr = make_solver({"name": "approx_gauss_newton", "sample_size": 16, "scores": "leverage", "seed": 3}).run(
        oracle, near(xs, 2, 0.05), StopRule(eps=None, gtol=0.0, max_iter=30), x_star=xs)
    assert oracle.calls["domain_halvings"] > 0 and prob.in_domain(tr.x) and len(tr) == 31


def test_from_a_start_outside_the_planted_cell_only_points_inside_are_accepted():
    """The domain check applies to the new points: a run from another cell either steps back into the planted cell
    or ends as diverged (no step inside after the halvings)."""
    arr = arrays(pole_rows=1, pole_s=0.02)
    prob = LeverageInversion.from_arrays(arr)
    xs = torch.as_tensor(arr["x_true"])
    a = prob.A[0]
    x0 = xs - 1.5 * float(prob.residual(xs)[0]) * a / float(a @ a)  # s_0 → −0.5·s_0
    assert not prob.in_domain(x0)
    tr = make_solver({"name": "approx_gauss_newton", "scores": "full"}).run(
        CountingOracle(prob), x0, StopRule(eps=None, gtol=0.0, max_iter=5), x_star=xs)
    assert prob.in_domain(tr.x) or (tr.status == "diverged" and "domain" in tr.message)


# --------------------------------------------------------------------------- reference and jobs
def test_the_reference_optimum_is_the_planted_x_with_its_constants():
    cfg = compose(["problem=leverage_inversion", "data=leverage_target"])
    arr = arrays(seed=0)
    x_star, f_star, consts = compute_reference(cfg, arr)
    assert f_star <= 1e-28 and float(np.abs(x_star - arr["x_true"]).max()) <= 1e-10
    assert LeverageInversion.reference_starts(arr)[0].tolist() == arr["x_true"].tolist()
    assert consts["lambda_min"] == consts["mu"] > 0 and consts["in_planted_cell"] == 1.0
    assert math.isclose(consts["lambda_min_gauss_newton"], consts["lambda_min"], rel_tol=1e-8)  # zero residual
    assert math.isclose(consts["s_abs_min"], float(arr["s_abs_min"]), rel_tol=1e-8)
    assert math.isclose(consts["kappa_A"], float(arr["kappa_A"]), rel_tol=1e-10) and consts["residual"] < 1e-12
    assert consts["n"] == 60 and consts["d"] == 5


def test_a_noisy_target_has_a_nonzero_residual_optimum():
    cfg = compose(["problem=leverage_inversion", "data=leverage_target", "data.noise=1.0", "data.w=0.03"])
    arr = arrays(seed=1, noise=1.0, w=0.03)
    x_star, f_star, consts = compute_reference(cfg, arr)
    assert consts["residual"] > 1e-3 and consts["lambda_min"] > 0 and consts["ref_grad_norm"] <= 1e-11
    assert abs(consts["lambda_min_gauss_newton"] - consts["lambda_min"]) > 1e-4


def test_a_job_builds_the_problem_and_approximate_gauss_newton_solves_it(lab_root):
    cfg = compose(["problem=leverage_inversion", "data=leverage_target", "solver=approx_gauss_newton",
                   "solver.sample_factor=16", "x0=near_reference", "x0_radius=0.05", "tracking=off"])
    job = prepare(cfg, lab_root / "cache")
    assert isinstance(job.problem, LeverageInversion) and job.f_star is not None and job.f_star <= 1e-28
    tr = job.solver.run(CountingOracle(job.problem), job.x0, StopRule(eps=None, gtol=0.0, max_iter=15), x_star=job.x_star)
    e = tr.column("distance")
    assert e[-1] < 1e-6 * e[0]
    assert np.isfinite(tr.to_frame()["eps0_hat"].to_numpy()[:-1]).all()


def test_the_precheck_names_the_data_the_problem_takes():
    with pytest.raises(ConfigError, match="leverage_target"):
        check_job(compose(["problem=leverage_inversion", "data=synthetic", "tracking=off"]))
    check_job(compose(["problem=leverage_inversion", "data=leverage_target", "tracking=off"]))
