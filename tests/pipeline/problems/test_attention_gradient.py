"""The E07 problem: the exact oracle against autograd, the low-rank gradient as the problem's option, what it records
along a run, its reference optimum (the planted X) and how a job builds it from the config."""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from kernels import attention_gradient as K
from pipeline.cli.precheck import check_job
from pipeline.core.errors import ConfigError
from pipeline.core.schema import validate
from pipeline.data import BoundedAttentionData
from pipeline.data.bounded_attention import synthesize_e07
from pipeline.job.prepare import prepare
from pipeline.job.summarize import observed
from pipeline.problems import PROBLEMS, AttentionGradient, CountingOracle
from pipeline.problems.attention_gradient import AttentionGradientConfig
from pipeline.reference import compute_reference
from tests.conftest import compose


def arrays(n=40, d=2, B=1.0, seed=3, **kw):
    return synthesize_e07(OmegaConf.structured(BoundedAttentionData(n=n, d=d, B=B, **kw)), seed)


def point(dim, seed=0, scale=0.5):
    return scale * torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_the_exact_oracle_agrees_with_autograd():
    prob = AttentionGradient.from_arrays(arrays(d=3))
    assert prob.dim == 9 and prob.scale == 3.0 and PROBLEMS["attention_gradient"] is AttentionGradient
    x = point(9)
    L, g = prob.loss_grad(x)
    assert torch.allclose(g, torch.func.grad(prob.loss)(x), rtol=1e-11, atol=1e-14)
    H = torch.autograd.functional.hessian(prob.loss, x)
    assert torch.allclose(prob.hess(x), 0.5 * (H + H.T), rtol=1e-10, atol=1e-13)
    v = point(9, 1)
    assert torch.allclose(prob.hvp(x, v), H @ v, rtol=1e-10, atol=1e-13)
    assert torch.equal(prob.grad(x), g)


def test_the_lowrank_option_changes_the_gradient_only():
    arr = arrays(B=0.6)
    exact = AttentionGradient.from_arrays(arr)
    lr = AttentionGradient.from_arrays(arr, params=AttentionGradientConfig(gradient="lowrank", degree=3))
    x = point(4)
    X = x.reshape(2, 2)
    assert torch.equal(lr.loss(x), exact.loss(x)) and torch.equal(lr.hvp(x, x), exact.hvp(x, x))
    L, g = lr.loss_grad(x)
    want = K.lowrank_gradient(lr.A1, lr.A2, lr.A3, lr.E, lr.Y, X, 3, 2.0)
    assert torch.equal(g, want.reshape(-1)) and torch.equal(L, exact.loss(x))
    assert 0 < float((g - exact.grad(x)).abs().max()) < 1e-2
    cheb = AttentionGradient.from_arrays(arr, params=AttentionGradientConfig(gradient="lowrank", degree=6,
                                                                            coefficients="chebyshev"))
    assert float((cheb.grad(x) - exact.grad(x)).abs().max() / exact.grad(x).abs().max()) < 1e-4
    paper = AttentionGradient.from_arrays(arr, params=AttentionGradientConfig(gradient="lowrank", indices="paper"))
    assert float((paper.grad(x) - exact.grad(x)).abs().max() / exact.grad(x).abs().max()) > 1e-2


def test_the_problem_records_a1x_and_the_gradient_error_along_a_run():
    arr = arrays(B=2.5)
    prob = AttentionGradient.from_arrays(arr, params=AttentionGradientConfig(gradient="lowrank", degree=2))
    oracle = CountingOracle(prob)
    xs = [torch.zeros(4, dtype=torch.float64)] + [torch.as_tensor(arr["x_true"]) * t for t in (0.5, 1.0, 3.0)]
    for x in xs:
        oracle.loss_grad(x)
    seen = observed(prob)
    a1x = [K.a1x_norm(prob.A1, x.reshape(2, 2)) for x in xs]
    assert seen["gradient_calls"] == 4 and seen["a1x_inf_max"] == max(a1x) and seen["a1x_inf_last"] == a1x[-1]
    assert math.isclose(a1x[2], 2.5, rel_tol=1e-12)  # the planted ‖A1X_true‖_∞ = B
    assert seen["gradient_error_max"] > 0.1 and seen["a1x_inf_at_error_0.1"] in a1x
    assert seen["k1"] == 6 and seen["k3"] == 48 and seen["degree"] == 2 and seen["B2_over_ln_n"] == 2.5**2 / math.log(40)
    exact = AttentionGradient.from_arrays(arr)
    for x in xs:
        exact.grad(x)
    assert observed(exact)["gradient_error_max"] == 0.0 and "k1" not in observed(exact)


def test_the_reference_optimum_is_the_planted_x_with_zero_loss():
    cfg = compose(["problem=attention_gradient", "data=bounded_attention", "data.n=30"])
    arr = arrays(n=30, seed=0)
    x_star, f_star, consts = compute_reference(cfg, arr)
    assert f_star <= 1e-25 and abs(consts["loss_star"]) <= 1e-25
    assert float(abs(x_star - arr["x_true"]).max()) <= 1e-10
    assert consts["B"] == 1.0 and math.isclose(consts["a1x_inf_star"], 1.0, rel_tol=1e-10) and consts["mu"] > 0


def test_a_job_builds_the_problem_with_its_options(lab_root):
    cfg = compose(["problem=attention_gradient", "data=bounded_attention", "data.n=24", "problem.gradient=lowrank",
                   "problem.degree=3", "problem.indices=paper_D5", "solver=gd", "tracking=off"])
    job = prepare(cfg, lab_root / "cache")
    p = job.problem
    assert (p.gradient, p.degree, p.indices, p.coefficients) == ("lowrank", 3, "paper_D5", "taylor")
    assert job.f_star is not None and job.f_star <= 1e-25


def test_the_precheck_names_the_data_the_problem_takes():
    with pytest.raises(ConfigError, match="bounded_attention"):
        check_job(compose(["problem=attention_gradient", "data=synthetic", "tracking=off"]))
    check_job(compose(["problem=attention_gradient", "data=bounded_attention", "tracking=off"]))
    with pytest.raises(ConfigError, match="problem.degree"):
        validate(compose(["problem=attention_gradient", "data=bounded_attention", "problem.degree=-1", "tracking=off"]))
    with pytest.raises(ConfigError, match="problem.indices"):
        validate(compose(["problem=attention_gradient", "data=bounded_attention", "problem.indices=D3", "tracking=off"]))
