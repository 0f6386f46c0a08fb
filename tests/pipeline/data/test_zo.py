"""P2 instances (docs/theory/p2.md §P2.6): the low-rank spectrum is set by (fast, slow, kappa) whatever d is; the
finite sum interpolates at x_true when centred and not when the data are not realizable."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from pipeline.data.zo import finite_sum, lowrank
from pipeline.problems import CountingOracle, ZOSoftmax
from pipeline.data.zo import FiniteSumData, LowRankData
from pipeline.solvers import StopRule, make_solver


def reference(prob):
    tr = make_solver({"name": "newton", "solve": "pinv"}).run(
        CountingOracle(prob), torch.zeros(prob.dim, dtype=torch.float64), StopRule(eps=None, gtol=1e-13, max_iter=50))
    return tr.x


@pytest.mark.parametrize("d", [16, 64, 256])
def test_lowrank_spectrum_does_not_move_with_d(d):
    arr = lowrank(OmegaConf.structured(LowRankData(rows=200, d=d, fast=4, slow=6, kappa=25.0)), seed=1)
    assert arr["A"].shape == (1, 200, d) and np.linalg.matrix_rank(arr["A"][0]) == 10
    assert np.linalg.norm(arr["x_true"]) == pytest.approx(1.0)
    prob = ZOSoftmax.from_arrays(arr)
    c = prob.instance_constants(reference(prob))
    assert c["rank"] == 10 and c["alpha"] == 0.0
    # w² = 20 dominates ‖B‖ ≤ 0.31, so r ≈ fast + slow/kappa and κ ≈ kappa (docs/theory/p2.md §P2.6, within 1.5%)
    assert c["effective_rank"] == pytest.approx(4 + 6 / 25, rel=0.02)
    assert c["kappa"] == pytest.approx(25.0, rel=0.03)
    assert c["ell"] == pytest.approx(20.0, rel=0.02)


def test_lowrank_is_seeded():
    cfg = OmegaConf.structured(LowRankData(rows=50, d=20, fast=2, slow=2))
    a, b, c = lowrank(cfg, 3), lowrank(cfg, 3), lowrank(cfg, 4)
    assert np.array_equal(a["A"], b["A"]) and not np.array_equal(a["A"], c["A"])


def test_centred_finite_sum_interpolates_at_x_true():
    arr = finite_sum(OmegaConf.structured(FiniteSumData(m=20)), seed=0)
    prob = ZOSoftmax.from_arrays(arr)
    xt = torch.as_tensor(arr["x_true"])
    assert float(prob.loss(xt)) == pytest.approx(0.0, abs=1e-30)
    assert float(prob.instance_gradients(xt).abs().max()) < 1e-15  # every L_k is minimised there
    c = prob.instance_constants(xt)
    assert c["alpha"] > 0 and c["mu"] > 0 and c["m"] == 20


def test_alpha_is_the_local_noise_ratio():
    """α of the quadratic model equals the largest tr Σ(x)/(L(x) - L*) over directions, as x → x*."""
    arr = finite_sum(OmegaConf.structured(FiniteSumData(m=30, d=6)), seed=2)
    prob = ZOSoftmax.from_arrays(arr)
    xt = torch.as_tensor(arr["x_true"])
    c = prob.instance_constants(xt)
    Hk = prob.hessians(xt)
    Hbar = Hk.mean(0)
    ev, V = torch.linalg.eigh(Hbar)
    M = V @ torch.diag(ev.rsqrt()) @ V.T
    K = M @ ((Hk @ Hk).mean(0) - Hbar @ Hbar) @ M
    top = torch.linalg.eigh(K).eigenvectors[:, -1]
    e = M @ top  # the direction that attains the maximum
    x = xt + 1e-5 * e / torch.linalg.vector_norm(e)
    G = prob.instance_gradients(x)
    ratio = float((G - G.mean(0)).pow(2).sum(1).mean() / prob.loss(x))
    assert ratio == pytest.approx(c["alpha"], rel=1e-3)


def test_non_realizable_control_has_noise_at_the_optimum():
    arr = finite_sum(OmegaConf.structured(FiniteSumData(m=20, realizable=False, noise=0.5)), seed=0)
    assert np.array_equal(arr["A"][0], arr["A"][7])  # one shared A
    prob = ZOSoftmax.from_arrays(arr)
    x_star = reference(prob)
    G = prob.instance_gradients(x_star)
    assert float(torch.linalg.vector_norm(G.mean(0))) < 1e-12
    assert float((G - G.mean(0)).pow(2).sum(1).mean()) > 1e-8  # tr Σ(x*) > 0: B4 fails
