"""E08's optimizers (pipeline/solvers/accelerating.py) and the framework_sgd solver (pipeline/solvers/framework.py)."""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from kernels import framework as fw
from pipeline.cli.precheck import check_config
from pipeline.core.errors import ConfigError
from pipeline.data.zo import FiniteSumData, finite_sum
from pipeline.problems import CountingOracle, ZOSoftmax
from pipeline.solvers import StopRule, make_solver
from pipeline.solvers.accelerating import FrameworkOptimizer
from pipeline.solvers.framework import FrameworkSGD, hessian_norm
from tests.conftest import compose


def quadratic_params(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    H = torch.randn(6, 6, generator=g, dtype=torch.float64)
    H = H @ H.T / 6 + 0.1 * torch.eye(6, dtype=torch.float64)
    noise = [torch.randn(6, generator=g, dtype=torch.float64) * 0.3 for _ in range(40)]
    return H, noise


def trajectory(make_opt, H, noise, steps: int = 30):
    """Two parameter tensors (a 2-vector and a 2×2 matrix) holding one 6-vector, a noisy quadratic's gradient."""
    a = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor([[0.5, 2.0], [-1.5, 0.3]], dtype=torch.float64))
    opt = make_opt([a, b])
    out = []
    for t in range(steps):
        x = torch.cat([a.detach(), b.detach().reshape(-1)])
        g = H @ x + noise[t % len(noise)]
        a.grad, b.grad = g[:2].clone(), g[2:].reshape(2, 2).clone()
        opt.step()
        out.append(torch.cat([a.detach(), b.detach().reshape(-1)]).clone())
    return torch.stack(out), opt


@pytest.mark.parametrize("base,reference", [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.05)),
    ("sgdm", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.9, 0.99), eps=1e-8)),
])
def test_the_base_methods_own_steps_are_torchs(base, reference):
    H, noise = quadratic_params()
    ours, opt = trajectory(lambda p: FrameworkOptimizer(p, lr=0.05, base=base, accelerate="none", momentum=0.8,
                                                        betas=(0.9, 0.99)), H, noise)
    theirs, _ = trajectory(reference, H, noise)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-13)
    assert not opt.framework_form if base != "sgd" else opt.framework_form


@pytest.mark.parametrize("base", ["sgdm", "adam"])
def test_framework_step_is_the_kernels_direction_on_all_parameters_as_one_vector(base):
    H, noise = quadratic_params(1)
    ref = FrameworkOptimizer([torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))], lr=0.05, base=base,
                             accelerate="none", momentum=0.8, betas=(0.9, 0.99))   # tracks v_t only
    traj, opt = trajectory(lambda p: FrameworkOptimizer(p, lr=0.05, base=base, momentum=0.8, betas=(0.9, 0.99)),
                           H, noise, steps=25)
    # replay: the same gradients, v_t from the base method's state, g_t from the kernel
    x = torch.tensor([1.0, -1.0, 0.5, 2.0, -1.5, 0.3], dtype=torch.float64)
    p = ref.param_groups[0]["params"][0]
    for t in range(25):
        g = H @ x + noise[t % len(noise)]
        vs, _ = ref._own([p], [g])
        x = x - 0.05 * fw.framework_step(g, vs[0]).g
        assert torch.allclose(x, traj[t], rtol=0, atol=1e-12), (t, float((x - traj[t]).abs().max()))
    c = opt.counts()
    assert c["T"] == 25 and c["k"] + c["l"] + c["plain"] == 25 and c["k"] > 0
    assert len(opt.log["c2"]) == 25 and all(0.0 <= c2 <= 1.0 for c2 in opt.log["c2"])


def test_reject_accelerating_never_decelerates_and_counts_the_rejections():
    H, noise = quadratic_params(2)
    _, fwk = trajectory(lambda p: FrameworkOptimizer(p, lr=0.2, base="sgdm", momentum=0.9), H, noise, steps=60)
    _, ra = trajectory(lambda p: FrameworkOptimizer(p, lr=0.2, base="sgdm", momentum=0.9, accelerate="ra"), H, noise,
                       steps=60)
    assert fwk.counts()["l"] > 0
    c = ra.counts()
    assert c["l"] == 0 and c["u_b"] == 0.0 and c["rejected"] > 0 and c["plain"] == c["rejected"] + 1  # step 1: no buffer


def test_rva_sign_ignores_the_base_method_and_always_accelerates():
    H, noise = quadratic_params(3)
    runs = [trajectory(lambda p, b=b: FrameworkOptimizer(p, lr=0.05, base=b, accelerate="rva",
                                                         generator=torch.Generator().manual_seed(5)), H, noise)
            for b in ("sgd", "sgdm", "adam")]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][0], runs[2][0])
    c = runs[0][1].counts()
    assert c["k"] == c["T"] and c["l"] == 0 and 0 < c["u_a"] <= c["B"] <= 1
    mix, _ = trajectory(lambda p: FrameworkOptimizer(p, lr=0.05, base="sgdm", accelerate="rva", rva_rule="mix",
                                                     generator=torch.Generator().manual_seed(5)), H, noise)
    assert not torch.equal(mix, runs[0][0])


def test_optimizer_refuses_bad_options():
    p = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))]
    with pytest.raises(ValueError, match="base"):
        FrameworkOptimizer(p, lr=0.1, base="nesterov")
    with pytest.raises(ValueError, match="accelerate"):
        FrameworkOptimizer(p, lr=0.1, accelerate="always")
    with pytest.raises(ValueError, match="generator"):
        FrameworkOptimizer(p, lr=0.1, accelerate="rva")
    with pytest.raises(ValueError, match="lr"):
        FrameworkOptimizer(p, lr=0.0)


# --------------------------------------------------------------------------- the problem's batch oracle, measurements
@pytest.fixture(scope="module")
def finite():
    """A non-interpolating finite sum (one shared A of rank 6 < d = 10) and its minimiser."""
    arr = finite_sum(OmegaConf.structured(FiniteSumData(m=40, rows=6, d=10, realizable=False, regime="softmax")), 3)
    prob = ZOSoftmax.from_arrays(arr)
    ref = make_solver({"name": "newton", "solve": "pinv"}).run(CountingOracle(prob), torch.zeros(10, dtype=torch.float64),
                                                               StopRule(eps=None, gtol=1e-12, max_iter=100))
    return prob, ref.x, float(prob.loss(ref.x))


def test_batch_loss_grad_is_the_mean_over_the_batch_with_repeats(finite):
    prob, x_star, _ = finite
    x = x_star + 0.3
    batch = torch.tensor([3, 3, 17, 0])
    loss, grad = prob.batch_loss_grad(x, batch)
    G = prob.instance_gradients(x)
    assert torch.allclose(grad, G[batch].mean(0), rtol=0, atol=1e-15)
    xa = x.clone().requires_grad_(True)
    sub = ZOSoftmax(prob.A[batch], prob.b[batch], prob.w[batch], prob.centre)
    sub.loss(xa).backward()
    assert torch.allclose(xa.grad, grad, rtol=0, atol=1e-14)
    assert float(loss) == pytest.approx(float(sub.loss(x)), rel=1e-14)
    full = prob.batch_loss_grad(x, torch.arange(prob.m))
    assert torch.allclose(full[1], prob.grad(x), rtol=0, atol=1e-15)


def test_hessian_norm_matches_the_dense_spectrum_on_a_low_rank_hessian(finite):
    prob, x_star, _ = finite
    for x in (torch.zeros(10, dtype=torch.float64), x_star, x_star + 1.0):
        exact = float(torch.linalg.eigvalsh(prob.hess(x)).abs().max())
        for iters in (8, 10, 30):   # past the rank (6) of the Hessian the Krylov space is exhausted
            assert hessian_norm(prob, x, iters, torch.Generator().manual_seed(0)) == pytest.approx(exact, rel=1e-9)


def test_second_moment_is_exact_for_draws_with_replacement(finite):
    prob, x_star, _ = finite
    x = x_star + 0.2
    G = prob.instance_gradients(x)
    g = G.mean(0)
    for B in (1, 4):
        exact = FrameworkSGD.second_moment(prob, x, B, prob.m, None, 0)
        assert exact == pytest.approx(float(g @ g) + (float((G * G).sum(1).mean()) - float(g @ g)) / B, rel=1e-13)
        gen = torch.Generator().manual_seed(1)
        draws = torch.randint(prob.m, (20000, B), generator=gen)
        mc = float((G[draws].mean(1) ** 2).sum(1).mean())
        assert mc == pytest.approx(exact, rel=0.03)


# --------------------------------------------------------------------------- the solver
def run(prob, f_star, max_iter=200, observe=None, **kw):
    return make_solver({"name": "framework_sgd", **kw}).run(CountingOracle(prob), torch.zeros(prob.dim, dtype=torch.float64),
                                                            StopRule(eps=None, f_star=f_star, max_iter=max_iter), observe)


def test_solver_records_the_theorems_quantities_and_the_bound_holds(finite):
    prob, _, f_star = finite
    tr = run(prob, f_star, base="sgdm", accelerate="ra", batch=4, lr=0.5, seed=2)
    i = tr.info
    for key in ("T", "k", "l", "u_a", "u_b", "B", "sigma2", "sq_grad_mean", "L", "delta", "eta", "min_grad_norm2",
                "bound", "bound_theorem", "bound_sgd"):
        assert key in i, key
    assert i["T"] == 200 and i["l"] == 0 and i["k"] + i["plain"] == 200 and i["framework_form"] == 1.0
    assert i["min_grad_norm2"] <= i["bound"] and i["bound_ratio"] == pytest.approx(i["min_grad_norm2"] / i["bound"])
    assert i["delta"] == pytest.approx(float(prob.loss(torch.zeros(10, dtype=torch.float64))) - f_star)
    assert i["L"] >= float(torch.linalg.eigvalsh(prob.hess(torch.zeros(10, dtype=torch.float64))).abs().max()) * (1 - 1e-9)
    df = tr.to_frame()
    assert {"c2", "sigma2", "accelerating_fraction"} <= set(df.columns) and df["sigma2"].notna().all()
    assert tr.oracle_calls["batch_grad"] == 200 and tr.oracle_calls["component_grad"] == 800
    assert tr.oracle_calls["grad"] == len(df)          # the full gradient at the checkpoints only


def test_observer_sees_the_solvers_curves_and_the_run_is_deterministic(finite):
    prob, _, f_star = finite
    seen = []

    def observe(rec):
        seen.append(rec.extra)

    a = run(prob, f_star, observe=observe, base="adam", accelerate="framework", batch=2, lr=0.1, seed=4)
    b = run(prob, f_star, base="adam", accelerate="framework", batch=2, lr=0.1, seed=4)
    assert torch.equal(a.x, b.x) and a.info == b.info
    assert seen and {"sigma2", "c2", "accelerating_fraction"} <= set(seen[-1])


def test_full_batch_is_gradient_descent_and_repeated_draws_do_not_average(finite):
    prob, _, f_star = finite
    tr = run(prob, f_star, max_iter=30, base="sgd", accelerate="none", batch=None, lr=0.5)
    x = torch.zeros(10, dtype=torch.float64)
    for _ in range(30):
        x = x - 0.5 * prob.grad(x)
    assert torch.allclose(tr.x, x, rtol=0, atol=1e-13)
    assert tr.info["sigma2"] == pytest.approx(tr.info["grad_norm2_x0"])
    one = run(prob, f_star, max_iter=50, base="sgd", accelerate="none", batch=1, lr=0.5, seed=9)
    rep = run(prob, f_star, max_iter=50, base="sgd", accelerate="none", batch=8, lr=0.5, seed=9, sampling="repeat")
    assert torch.allclose(one.x, rep.x, rtol=0, atol=1e-14) and rep.info["sigma2"] == pytest.approx(one.info["sigma2"])


def test_theorem_step_needs_the_reference_and_uses_the_measured_constants(finite):
    prob, _, f_star = finite
    with pytest.raises(ConfigError, match="solver.lr_rule"):
        run(prob, None, lr_rule="theorem", batch=2)
    tr = run(prob, f_star, max_iter=100, lr_rule="theorem", batch=2, base="sgd", accelerate="none")
    i = tr.info
    assert i["eta"] == pytest.approx(math.sqrt(2 * i["eta_delta"] / (i["eta_L"] * i["eta_sigma2"] * 100)))
    assert i["bound"] == pytest.approx(fw.bound_at_step(i["eta"], 100, 0, 0, 0.0, 0.0, 0.0, i["delta"], i["L"], i["sigma2"]))


def test_config_rules_name_their_key():
    cfg = compose(["solver=framework_sgd", "problem=zo_softmax", "data=finite_sum", "solver.accelerate=rva",
                   "solver.rva_rule=mix", "solver.base=sgd"])
    with pytest.raises(ConfigError, match="solver.rva_rule"):
        check_config(cfg)
    cfg = compose(["solver=framework_sgd", "problem=zo_softmax", "data=finite_sum", "solver.base=adam",
                   "solver.accelerate=ra"])
    check_config(cfg)
    assert OmegaConf.to_object(cfg.solver).label == "adam_ra"
