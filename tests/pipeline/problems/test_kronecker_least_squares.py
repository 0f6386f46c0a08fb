"""The E06 problem: Kronecker least squares through the tensor trick against the formed A1 ⊗ A2 and autograd, its
Gauss–Newton split, its instance (the data kind ``kronecker``), its reference optimum and how a job builds it."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from kernels.kronecker import KroneckerFactor
from pipeline.cli.precheck import check_job
from pipeline.core.errors import ConfigError
from pipeline.core.schema import validate
from pipeline.data import KINDS, KroneckerData
from pipeline.data.kronecker import synthesize_e06
from pipeline.job.prepare import prepare
from pipeline.problems import PROBLEMS, CountingOracle, GaussNewtonParts, KroneckerLeastSquares
from pipeline.problems.kronecker_least_squares import KroneckerLeastSquaresConfig
from pipeline.reference import compute_reference
from pipeline.solvers import StopRule, make_solver
from tests.conftest import compose


def arrays(n=30, d=3, seed=3, **kw):
    return synthesize_e06(OmegaConf.structured(KroneckerData(n=n, d=d, **kw)), seed)


def point(dim, seed=0):
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_the_oracle_matches_the_formed_product_and_autograd(lam):
    arr = arrays()
    prob = KroneckerLeastSquares.from_arrays(arr, params=KroneckerLeastSquaresConfig(lam=lam))
    assert prob.dim == 9 and PROBLEMS["kronecker_least_squares"] is KroneckerLeastSquares and prob.lam == lam
    A = torch.kron(torch.as_tensor(arr["A1"]), torch.as_tensor(arr["A2"]))
    b = torch.as_tensor(arr["B"]).reshape(-1)  # b = vec_r(B)
    x = point(9)
    r = A @ x - b
    L, g = prob.loss_grad(x)
    assert math.isclose(float(L), 0.5 * float(r @ r) + 0.5 * lam * float(x @ x), rel_tol=1e-12)
    torch.testing.assert_close(g, A.T @ r + lam * x, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g, torch.func.grad(prob.loss)(x), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(prob.grad(x), g)
    H = A.T @ A + lam * torch.eye(9, dtype=torch.float64)
    torch.testing.assert_close(prob.hess(x), H, rtol=1e-10, atol=1e-12)
    v = point(9, 1)
    torch.testing.assert_close(prob.hvp(x, v), H @ v, rtol=1e-10, atol=1e-12)
    assert prob.stats(x)["mu"] > 0


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_the_gauss_newton_parts_sum_to_the_hessian(lam):
    prob = KroneckerLeastSquares.from_arrays(arrays(), params=KroneckerLeastSquaresConfig(lam=lam))
    x = point(9)
    parts = prob.gauss_newton(x)
    assert isinstance(parts, GaussNewtonParts) and isinstance(parts.factor, KroneckerFactor)
    assert parts.curvature is None and parts.factor.shape == (900, 9)
    torch.testing.assert_close(parts.factor.gram() + parts.rest, prob.hess(x))
    torch.testing.assert_close(parts.rest, lam * torch.eye(9, dtype=torch.float64))


def test_the_direct_solve_is_the_minimiser_and_a1_pinv_b_a2_pinv():
    arr = arrays(n=25, d=2, noise=0.5)
    prob = KroneckerLeastSquares.from_arrays(arr)
    x = prob.solve()
    assert float(prob.grad(x).norm()) < 1e-10 * float(prob.grad(torch.zeros(4, dtype=torch.float64)).norm())
    A1, A2, B = (torch.as_tensor(arr[k]) for k in ("A1", "A2", "B"))
    torch.testing.assert_close(x, (torch.linalg.pinv(A1) @ B @ torch.linalg.pinv(A2).T).reshape(-1))


def test_the_instance_is_coherent_and_planted():
    arr = arrays(n=200, d=4, coherence=30.0, noise=0.0)
    A1, A2 = arr["A1"], arr["A2"]
    assert A1.shape == (200, 4) and arr["B"].shape == (200, 200) and arr["x_true"].shape == (16,)
    X = arr["x_true"].reshape(4, 4)
    assert np.linalg.matrix_rank(X) == 2
    np.testing.assert_allclose(arr["B"], A1 @ X @ A2.T)  # noiseless: b = vec_r(A1 X A2ᵀ) exactly
    norms = np.linalg.norm(A1, axis=1)
    assert norms[:4].min() > 5 * np.median(norms[4:])     # the first d rows scaled by 30
    prob = KroneckerLeastSquares.from_arrays(arr)
    consts = prob.instance_constants(torch.as_tensor(arr["x_true"]))
    assert consts["coherence_A1"] > 20 and consts["coherence"] == consts["coherence_A1"] * consts["coherence_A2"]
    assert consts["loss_star"] < 1e-20 and consts["kappa"] > 1 and consts["rows"] == 200 * 200
    plain = arrays(n=200, d=4, coherence=1.0)
    c = KroneckerLeastSquares.from_arrays(plain).instance_constants(torch.zeros(16, dtype=torch.float64))
    assert c["coherence_A1"] < 5
    assert KINDS["kronecker"].schema is KroneckerData


def test_the_reference_optimum_is_the_direct_solve():
    cfg = compose(["problem=kronecker_least_squares", "data=kronecker", "data.n=40", "data.d=3"])
    arr = arrays(n=40, d=3, seed=0)
    x_star, f_star, consts = compute_reference(cfg, arr)
    prob = KroneckerLeastSquares.from_arrays(arr)
    np.testing.assert_allclose(x_star, prob.solve().numpy(), rtol=1e-9, atol=1e-12)
    assert math.isclose(f_star, consts["loss_star"], rel_tol=1e-12) and consts["ref_iterations"] <= 3
    assert consts["mu"] > 0 and consts["coherence_A1"] > 1


def test_approximate_gauss_newton_converges_at_the_sketch_rate():
    """L is quadratic, so with H̃ = 𝖠ᵀD̃𝖠 the error contracts per step by at most ε̂₀ in the H-norm:
    leverage sampling converges; uniform sampling on coherent factors does not."""
    arr = arrays(n=100, d=3, seed=1)
    prob = KroneckerLeastSquares.from_arrays(arr)
    x_star = prob.solve()
    f_star = float(prob.loss(x_star))
    x0 = torch.zeros(9, dtype=torch.float64)
    stop = StopRule(eps=1e-10, f_star=f_star, max_iter=40)
    lev = make_solver({"name": "approx_gauss_newton", "sample_size": 400, "scores": "leverage", "seed": 0}).run(
        CountingOracle(prob), x0, stop, x_star=x_star)
    assert lev.iterations_to_eps([1e-10])["1e-10"] is not None and lev.iterations <= 15
    eps0 = lev.to_frame()["eps0_hat"].dropna()
    assert float(eps0.max()) < 0.6
    uni = make_solver({"name": "approx_gauss_newton", "sample_size": 400, "scores": "uniform", "seed": 0}).run(
        CountingOracle(prob), x0, stop, x_star=x_star)
    reached = uni.iterations_to_eps([1e-10])["1e-10"]
    assert reached is None or reached > 2 * lev.iterations


def test_a_job_builds_the_problem_with_its_ridge(lab_root):
    cfg = compose(["problem=kronecker_least_squares", "data=kronecker", "data.n=20", "data.d=2", "problem.lam=0.25",
                   "solver=approx_gauss_newton", "tracking=off"])
    job = prepare(cfg, lab_root / "cache")
    assert isinstance(job.problem, KroneckerLeastSquares) and job.problem.lam == 0.25 and job.f_star is not None


def test_the_precheck_names_the_keys():
    with pytest.raises(ConfigError, match="kronecker"):
        check_job(compose(["problem=kronecker_least_squares", "data=synthetic", "tracking=off"]))
    check_job(compose(["problem=kronecker_least_squares", "data=kronecker", "tracking=off"]))
    with pytest.raises(ConfigError, match="problem.lam"):
        validate(compose(["problem=kronecker_least_squares", "data=kronecker", "problem.lam=-1", "tracking=off"]))
    with pytest.raises(ConfigError, match="data.n"):
        validate(compose(["problem=kronecker_least_squares", "data=kronecker", "data.n=3", "tracking=off"]))
    with pytest.raises(ConfigError, match="data.rank"):
        validate(compose(["problem=kronecker_least_squares", "data=kronecker", "data.rank=9", "tracking=off"]))
    with pytest.raises(ConfigError, match="data.coherence"):
        validate(compose(["problem=kronecker_least_squares", "data=kronecker", "data.coherence=0", "tracking=off"]))
