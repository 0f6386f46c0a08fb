"""The P2 problem: its batch oracle agrees with the full loss, and with m = 1 it is P1's problem."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.data.zo import finite_sum, lowrank
from pipeline.problems import CountingOracle, SoftmaxRegression, ZOSoftmax
from pipeline.data.zo import FiniteSumData, LowRankData


@pytest.fixture(scope="module")
def fs():
    return ZOSoftmax.from_arrays(finite_sum(OmegaConf.structured(FiniteSumData(m=8, d=5)), seed=1))


def test_batch_of_everything_is_the_full_loss(fs):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(5, 4, generator=g, dtype=torch.float64)
    full = fs.column_losses(X)
    assert torch.allclose(full, fs.column_losses(X, torch.arange(8)), rtol=1e-14)
    assert torch.allclose(full, torch.stack([fs.loss(X[:, j]) for j in range(4)]), rtol=1e-13)


def test_batch_with_repeats_averages_with_multiplicity(fs):
    x = torch.full((5,), 0.3, dtype=torch.float64)
    batch = torch.tensor([2, 2, 5])
    one = [ZOSoftmax(fs.A[[k]], fs.b[[k]], fs.w[[k]], fs.centre).loss(x) for k in (2, 5)]
    assert float(fs.column_losses(x[:, None], batch)[0]) == pytest.approx(float((2 * one[0] + one[1]) / 3), rel=1e-14)


def test_counting_oracle_counts_forward_passes_per_column(fs):
    o = CountingOracle(fs)
    o.column_losses(torch.zeros(5, 6, dtype=torch.float64))
    o.column_losses(torch.zeros(5, 2, dtype=torch.float64), torch.tensor([0]))
    assert o.calls["forward"] == 8 and o.calls["loss"] == 0


def test_single_instance_equals_the_P1_problem():
    arr = lowrank(OmegaConf.structured(LowRankData(rows=60, d=12, fast=3, slow=2)), seed=0)
    p2 = ZOSoftmax.from_arrays(arr)
    p1 = SoftmaxRegression.from_arrays({"A": arr["A"][0], "b": arr["b"][0], "w": arr["w"][0]})
    x = torch.linspace(-1, 1, 12, dtype=torch.float64)
    assert float(p2.loss(x)) == pytest.approx(float(p1.loss(x)), rel=1e-13)
    assert torch.allclose(p2.grad(x), p1.grad(x), rtol=1e-11, atol=1e-16)
    assert torch.allclose(p2.hess(x), p1.hess(x), rtol=1e-11, atol=1e-14)
    X = torch.stack([x, -x, 2 * x], 1)
    assert torch.allclose(p2.column_losses(X), p1.column_losses(X), rtol=1e-13)
    assert p2.smoothness_bound() == pytest.approx(p1.smoothness_bound(), rel=1e-12)
