"""The P3 problem: the joint oracle on z = [vec_r(X); vec_r(Y)] agrees with autograd and with its blocks."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.data.attention import synthesize_p3
from pipeline.problems import AttentionRegression, CountingOracle
from pipeline.data import AttentionData


@pytest.fixture(scope="module")
def prob():
    return AttentionRegression.from_arrays(synthesize_p3(OmegaConf.structured(AttentionData(n=7, d=3, w2=0.1)), 3))


def point(prob, seed=0):
    return 0.5 * torch.randn(prob.dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_split_and_join_are_row_major_inverses(prob):
    z = point(prob)
    X, Y = prob.split(z)
    assert X[0, 1] == z[1] and Y[1, 0] == z[9 + 3]
    assert torch.equal(prob.join(X, Y), z)


def test_joint_gradient_and_hessian_match_autograd(prob):
    z = point(prob, 1)
    L, g = prob.loss_grad(z)
    ga = torch.func.grad(prob.loss)(z)
    Ha = torch.autograd.functional.hessian(prob.loss, z)
    assert torch.allclose(g, ga, rtol=1e-11, atol=1e-13)
    assert torch.allclose(prob.hess(z), Ha, rtol=1e-9, atol=1e-11)
    v = point(prob, 2)
    assert torch.allclose(prob.hvp(z, v), Ha @ v, rtol=1e-9, atol=1e-11)


def test_blocks_agree_with_the_joint_oracle(prob):
    z = point(prob, 3)
    X, Y = prob.split(z)
    k = prob.d**2
    H = prob.hess(z)
    assert torch.allclose(prob.hess_x(X, Y), H[:k, :k], rtol=1e-10, atol=1e-12)
    assert torch.allclose(prob.grad_x(X, Y).reshape(-1), prob.grad(z)[:k], rtol=1e-12, atol=1e-14)
    Ystar = prob.y_step(X)
    assert float(torch.linalg.vector_norm(prob.grad(prob.join(X, Ystar))[k:])) <= 1e-10
    assert float(prob.loss_xy(X, Ystar)) <= float(prob.loss(z))


def test_block_oracles_are_counted(prob):
    oracle = CountingOracle(prob)
    X, Y = prob.split(point(prob))
    oracle.y_step(X)
    oracle.hess_x(X, Y)
    oracle.hess_x(X, Y)
    assert oracle.calls["y_step"] == 1 and oracle.calls["hess_x"] == 2
    assert oracle.d == 3 and "d" not in oracle.calls  # plain attributes pass through uncounted


def test_reference_starts_and_constants(prob):
    arr = synthesize_p3(OmegaConf.structured(AttentionData(n=7, d=3)), 3)
    starts = AttentionRegression.reference_starts(arr)
    assert len(starts) == 2 and (starts[1] == 0).all()
    c = prob.instance_constants(point(prob))
    assert c["n"] == 7 and c["d"] == 3 and c["sigma_min_A1A2"] > 0 and c["sigma_min_M2"] >= 0
