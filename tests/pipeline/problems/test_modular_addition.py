"""The E05 problem: the oracle against the kernels and autograd (both regularisers), mini-batches, the start θ(0)
from the instance, the monitored margin and Fourier power, the size constants, its keys validated by name, and a
job that trains it with Adam from x0=problem without a reference optimum."""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from kernels import modular as K
from pipeline.cli.precheck import check_job
from pipeline.core.errors import ConfigError
from pipeline.core.schema import validate
from pipeline.data import ModularData
from pipeline.data.modular import synthesize_e05
from pipeline.job.prepare import prepare
from pipeline.problems import PROBLEMS, CountingOracle, ModularAddition
from pipeline.problems.modular_addition import ModularAdditionConfig
from pipeline.reference import compute_reference
from tests.conftest import compose

SMALL = ["data.p=5", "data.k=2", "data.m=6", "data.init_scale=0.5"]


def problem(p=5, k=2, m=6, scale=0.5, seed=1, **params):
    arrays = synthesize_e05(OmegaConf.structured(ModularData(p=p, k=k, m=m, init_scale=scale)), seed)
    return ModularAddition.from_arrays(arrays, params=ModularAdditionConfig(paper="E05", **params))


@pytest.mark.parametrize("regulariser", K.REGULARISERS)
def test_the_oracle_agrees_with_the_kernels_and_autograd(regulariser):
    pr = problem(regulariser=regulariser, weight_decay=0.05)
    assert PROBLEMS["modular_addition"] is ModularAddition and pr.dim == 6 * 3 * 5 and pr.m == 6
    x = pr.initial_point()
    assert torch.equal(x, pr.theta0.reshape(-1)) and x.data_ptr() != pr.theta0.data_ptr()
    L, g = pr.loss_grad(x)
    ref = K.loss(pr.theta(x), 0.05, regulariser)
    assert math.isclose(float(L), float(ref), rel_tol=1e-12) and torch.equal(pr.grad(x), g)
    assert torch.allclose(g, torch.func.grad(pr._autograd_loss)(x), rtol=1e-10, atol=1e-13)
    H = pr.hess(x)
    v = torch.linspace(-1, 1, pr.dim, dtype=torch.float64)
    assert H.shape == (90, 90) and torch.allclose(H, H.T, atol=1e-12)
    assert torch.allclose(pr.hvp(x, v), H @ v, rtol=1e-9, atol=1e-11)
    batch = torch.tensor([0, 7, 24])
    Lb, gb = CountingOracle(pr).batch_loss_grad(x, batch)
    a = K.digits(batch, 5, 2)
    assert math.isclose(float(Lb), float(K.loss(pr.theta(x), 0.05, regulariser, a=a)), rel_tol=1e-12)
    assert gb.shape == (90,) and not torch.allclose(gb, g)


def test_the_chunked_oracle_is_the_same_and_a_large_hessian_is_refused():
    whole, chunked = problem(p=5, k=3, m=4), problem(p=5, k=3, m=4, chunk=30)
    x = whole.initial_point()
    L1, g1 = whole.loss_grad(x)
    L2, g2 = chunked.loss_grad(x)
    assert math.isclose(float(L1), float(L2), rel_tol=1e-12) and torch.allclose(g1, g2, rtol=1e-11, atol=1e-14)
    big = problem(p=11, k=3, m=160)
    assert big.dim == 7040
    with pytest.raises(ValueError, match="hvp"):
        big.hess(big.initial_point())


def test_monitor_observed_and_the_size_constants():
    pr = problem(p=5, k=2, m=None)
    assert pr.observed() == {}
    c = pr.size_constants()
    assert c["optimal_width"] == 16 and c["m"] == 16 and c["width_ratio"] == 1.0 and c["points"] == 25
    assert math.isclose(c["gamma_star"], K.optimal_margin(5, 2))
    mon = pr.monitor(pr.initial_point())
    assert set(mon) == {"margin_ratio", "power_median"} and mon["margin_ratio"] < 0.5
    built = K.construction(5, 2).reshape(-1)
    assert abs(pr.monitor(built)["margin_ratio"] - 1.0) < 1e-12
    obs = pr.observed()
    assert obs["margin_ratio"] == pytest.approx(1.0) and obs["margin_ratio_best"] == pytest.approx(1.0)
    assert obs["frequencies_present"] == 2.0 == obs["frequencies"] and obs["power_median"] > 1 - 1e-12
    st = pr.stats(built)
    assert {"margin_ratio", "power_min"} <= set(st) and "kappa" in st


def test_keys_are_validated_by_name_and_the_reference_is_none(lab_root):
    cfg = compose(["problem=modular_addition", "data=modular", *SMALL, "tracking=off", "x0=problem",
                   "reference.method=none", "solver=adam"])
    validate(cfg)
    check_job(cfg)
    for bad, key in (("problem.regulariser=l1", "problem.regulariser"), ("problem.weight_decay=-1", "problem.weight_decay"),
                     ("data.p=25", "data.p"), ("data.init_scale=0", "data.init_scale")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            validate(compose(["problem=modular_addition", "data=modular", bad, "tracking=off"]))
    x_star, f_star, consts = compute_reference(cfg, synthesize_e05(cfg.data, 0))
    assert math.isnan(f_star) and consts["gamma_star"] == K.optimal_margin(5, 2)


def test_a_job_trains_it_with_adam_from_its_own_start(lab_root):
    cfg = compose(["problem=modular_addition", "data=modular", "data.p=5", "data.k=2", "tracking=off", "x0=problem",
                   "reference.method=none", "solver=adam", "solver.lr=0.03", "stop.max_iter=300", "stop.eps=null"])
    job = prepare(cfg, lab_root / "cache")
    assert torch.equal(job.x0, job.problem.initial_point()) and job.f_star is None

    def observe(rec):
        return None

    observe.monitor = job.problem.monitor
    trace = job.solver.run(CountingOracle(job.problem), job.x0, job.stop, observe)
    df = trace.to_frame()
    assert "margin_ratio" in df and df["margin_ratio"].notna().sum() >= 20
    assert df["margin_ratio"].dropna().iloc[-1] > 0.6 > df["margin_ratio"].iloc[0] and df["loss"].iloc[-1] < df["loss"].iloc[0]
    assert job.problem.observed()["frequencies_present"] == 2.0
