"""The E09 problem and its data kind: the planted instances (keys validated by name), the oracle and its
Gauss–Newton split against the kernels and autograd, the model the data and the problem share, the reference
optimum (the regularised minimiser next to x_true) and its constants, and how a job builds and solves it."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from kernels import two_layer as K
from pipeline.cli.precheck import check_job
from pipeline.core.errors import ConfigError
from pipeline.core.schema import validate
from pipeline.data import KINDS, TwoLayerData
from pipeline.data.two_layer import synthesize_e09
from pipeline.job.prepare import prepare
from pipeline.problems import PROBLEMS, CountingOracle, GaussNewtonParts, TwoLayerRegression
from pipeline.problems.two_layer_regression import TwoLayerRegressionConfig
from pipeline.reference import compute_reference, instance_key
from pipeline.solvers import StopRule, make_solver
from tests.conftest import compose

SMALL = ["data.n=40", "data.d=4", "data.m=60"]


def arrays(n=40, d=4, m=60, seed=3, **kw):
    return synthesize_e09(OmegaConf.structured(TwoLayerData(n=n, d=d, m=m, **kw)), seed)


def test_the_planted_instance_is_seeded_and_has_the_declared_scales():
    a, b = arrays(), arrays()
    assert all(np.array_equal(a[k], b[k]) for k in a) and KINDS["two_layer"].make is synthesize_e09
    assert a["C"].shape == (40, 4) and a["A"].shape == (60, 40) and a["b"].shape == (60,) and a["w"].shape == (40,)
    assert math.isclose(np.abs(a["C"] @ a["x_true"]).max(), 3.0, rel_tol=1e-12)  # ‖Cx_true‖∞ = logit_scale
    assert str(a["activation"]) == "relu" and str(a["reading"]) == "composed" and np.all(a["w"] == 1e-3)
    k = arrays(kappa_C=100.0, logit_scale=0.5)
    sv = np.linalg.svd(k["C"], compute_uv=False)
    assert math.isclose(sv[0] / sv[-1], 100.0, rel_tol=1e-9) and math.isclose(sv[0], 1.5 * math.sqrt(10), rel_tol=1e-9)
    assert math.isclose(np.abs(k["C"] @ k["x_true"]).max(), 0.5, rel_tol=1e-12)
    noisy = arrays(noise=0.1)
    assert 0 < np.abs(noisy["b"] - a["b"]).max() < 1.0 and np.array_equal(noisy["C"], a["C"])


def test_the_target_is_made_by_the_instance_model():
    for act in K.ACTIVATIONS:
        for reading in K.READINGS:
            a = arrays(activation=act, reading=reading)
            p = TwoLayerRegression.from_arrays(a)
            assert (p.activation, p.reading) == (act, reading)
            assert float(p.forward(p.x_true).r.abs().max()) <= 1e-9 * max(1.0, float(np.abs(a["b"]).max()))


def test_the_oracle_agrees_with_the_kernels_and_autograd_and_splits_its_hessian():
    p = TwoLayerRegression.from_arrays(arrays(activation="exp", reading="readout"))
    assert PROBLEMS["two_layer_regression"] is TwoLayerRegression and p.dim == 4 and p.n == 40 and p.m == 60
    x = p.x_true + 0.3
    L, g = p.loss_grad(x)
    assert torch.allclose(g, torch.func.grad(p.loss)(x), rtol=1e-10, atol=1e-12) and torch.equal(p.grad(x), g)
    H = torch.autograd.functional.hessian(p.loss, x)
    assert torch.allclose(p.hess(x), H, rtol=1e-9, atol=1e-10)
    v = torch.linspace(-1, 1, 4, dtype=torch.float64)
    assert torch.allclose(p.hvp(x, v), H @ v, rtol=1e-9, atol=1e-10)
    parts = p.gauss_newton(x)
    assert isinstance(parts, GaussNewtonParts) and parts.factor.shape == (60, 4)
    M = K.gauss_newton_matrix(p.C, p.A, p.b, p.w, x, "exp", "readout")
    assert torch.equal(parts.factor.rows(torch.arange(60)), M) and torch.allclose(parts.factor.gram(), M.T @ M)
    assert torch.allclose(parts.factor.gram() + parts.rest + parts.curvature, p.hess(x), rtol=1e-11, atol=1e-11)
    assert abs(float(parts.factor.leverage_scores().sum()) - 4.0) < 1e-9
    assert torch.allclose(parts.rest, p.C.T @ torch.diag(p.w**2) @ p.C)


def test_a_problem_key_that_contradicts_the_instance_is_refused_by_name():
    a = arrays()
    TwoLayerRegression.from_arrays(a, params=TwoLayerRegressionConfig())
    with pytest.raises(ConfigError, match="problem.activation"):
        TwoLayerRegression.from_arrays(a, params=TwoLayerRegressionConfig(activation="exp"))
    with pytest.raises(ConfigError, match="problem.reading"):
        TwoLayerRegression.from_arrays(a, params=TwoLayerRegressionConfig(reading="readout"))


def test_the_data_follows_the_problem_keys_and_keys_are_validated_by_name():
    cfg = compose(["problem=two_layer_regression", "data=two_layer", "problem.activation=exp", "problem.reading=readout",
                   "tracking=off"])
    validate(cfg)
    check_job(cfg)
    assert (cfg.data.activation, cfg.data.reading) == ("exp", "readout")
    plain = compose(["problem=two_layer_regression", "data=two_layer", "tracking=off"])
    assert (plain.data.activation, plain.data.reading) == ("relu", "composed")
    assert instance_key(cfg) != instance_key(plain)  # the model is part of the instance
    for bad, key in (("data.m=3", "data.m"), ("data.n=8", "data.n"), ("data.kappa_C=0.5", "data.kappa_C"),
                     ("problem.activation=tanh", "problem.activation"), ("data.logit_scale=0", "data.logit_scale")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            validate(compose(["problem=two_layer_regression", "data=two_layer", "data.d=10", bad, "tracking=off"]))
    with pytest.raises(ConfigError, match="two_layer"):
        check_job(compose(["problem=two_layer_regression", "data=synthetic", "tracking=off"]))


def test_the_reference_optimum_is_the_regularised_minimiser_next_to_x_true():
    cfg = compose(["problem=two_layer_regression", "data=two_layer", *SMALL])
    a = arrays(seed=0)
    x_star, f_star, c = compute_reference(cfg, a)
    assert 0 < c["x_star_offset"] < 1e-4 and c["mu"] > 0 and c["kappa"] >= 1 and c["ref_grad_norm"] <= 1e-11
    assert math.isclose(c["x_star_offset"], float(np.linalg.norm(x_star - a["x_true"])), rel_tol=1e-9)
    assert c["min_pre_activation"] > 0 and math.isclose(c["logit_scale_star"], 3.0, rel_tol=1e-3)
    assert c["kappa_C"] > 1 and 0.9 < c["data_share"] <= 1.0 and f_star > 0 and c["m"] == 60.0
    p = TwoLayerRegression.from_arrays(a)
    assert float(torch.linalg.vector_norm(p.grad(torch.as_tensor(x_star)))) <= 1e-11


def test_a_job_solves_it_with_approximate_gauss_newton(lab_root):
    cfg = compose(["problem=two_layer_regression", "data=two_layer", *SMALL, "solver=approx_gauss_newton",
                   "x0=near_reference", "x0_radius=0.05", "stop.max_iter=40", "stop.eps=1e-10", "tracking=off"])
    job = prepare(cfg, lab_root / "cache")
    assert job.problem.activation == "relu" and abs(float(torch.linalg.vector_norm(job.x0 - job.x_star)) - 0.05) < 1e-12
    trace = job.solver.run(CountingOracle(job.problem), job.x0, StopRule(eps=None, gtol=0.0, max_iter=40),
                           x_star=job.x_star)
    assert trace.to_frame()["distance"].min() < 1e-10 and trace.info["eps0_hat_max"] > 0
    full = make_solver({"name": "approx_gauss_newton", "scores": "full"}).run(
        CountingOracle(job.problem), job.x0, StopRule(eps=None, gtol=0.0, max_iter=6), x_star=job.x_star)
    assert full.to_frame()["distance"].min() < 1e-10  # exact Newton: a few steps
