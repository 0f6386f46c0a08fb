"""E02.C2: the local rates of Newton, gradient descent and approximate Gauss–Newton (docs/theory/e02.md §E02.3–E02.5,
check E02.C2).

- Newton (exact Hessian, Armijo) on realisable instances (n = 60, d = 5) from x_true + 0.05·N(0, I): the ratio
  e_{t+1}/e_t² stays below M̂/l̂, with M̂ = max_t ‖∇²L(x_t) − ∇²L(x*)‖₂/e_t measured along the run and
  l̂ = min_t λ_min(∇²L(x_t)) (the classical constant M/(2l) with a factor 2 for measuring M at the iterates only).
  Control: exact Gauss–Newton (curvature dropped) on a noisy target, where the residual at x* is not zero: its
  ratio e_{t+1}/e_t² grows past its own M̂/l̂ (linear, not quadratic, convergence).
- Gradient descent with η = 1/L̂ on the same instances: every per-step factor e_{t+1}/e_t is at most 1 − l̂/L̂,
  with l̂, L̂ the smallest and largest Hessian eigenvalues over points of the ball ‖x − x*‖ ≤ e_0. Control:
  on a noisy target the same descent with Λ replaced by Σ_* in the gradient does not reach x* (at zero residual
  every gradient of the form Jᵀ(σ_* − σ) vanishes at x*, whatever J: the control needs a residual).
- Approximate Gauss–Newton (n = 400, d = 8, x0 = x_true + 0.03·N(0, I), 10 iterations, s rows of G = 2ΛA(x)
  drawn per iteration by their leverage scores, curvature dropped): s = 2d does not contract, the linear rate
  falls with s, is at most ε̂₀/(1 − ε̂₀) and about 2ε̂₀ (between 0.2 and 1 times it where ε̂₀ ≤ 1/2), ε̂₀ falls
  like s^(−1/2) (matrix Chernoff), exact Gauss–Newton converges quadratically; control: uniform sampling
  with the same s ends at least 100 times farther from x*.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from kernels import leverage_inversion as K
from pipeline.core.fits import fit_power_law
from pipeline.papers import Context, Measurement, at_least, at_most, claim, holds, inside, slack
from pipeline.papers.e02.instances import gaussian_start, instance, sphere_start
from pipeline.problems import CountingOracle
from pipeline.solvers import StopRule, make_solver
from pipeline.solvers.newton import Newton

PAPER = "E02"
ROUND_OFF = 1e-12        # errors below this are round-off: left out of the ratios
NEWTON_ITERS = 12
NEWTON_DONE = 1e-13      # Newton and exact Gauss–Newton reach this distance ...
NEWTON_WITHIN = 8        # ... within this many iterations
GN_WITHIN = 6
BALL_POINTS = 20         # random points of the ball ‖x − x*‖ ≤ e_0 for l̂, L̂
GD_DONE = 1e-10          # gradient descent's final distance
CONTROL_FAR = 1e-3       # the wrong gradient ends at least this far from x*
ABOUT = (0.2, 1.0)       # the rate over 2ε̂₀ where ε̂₀ ≤ 1/2
EPS_SLOPE, EPS_BAND = -0.5, (-0.75, -0.25)  # ε̂₀ ∝ s^(−1/2)
UNIFORM_FACTOR = 100.0   # uniform sampling ends at least this many times farther from x*
FINAL_LARGEST = 1e-7     # leverage sampling at the largest s ends within this distance (reference: 1.4e-8 at 32d)
#: the reference runs of docs/theory/e02.md §E02.5 (float64, one instance)
REFERENCE_NEWTON = [1.1e-1, 2.8e-2, 2.1e-3, 1.3e-5, 5.0e-10, 3e-16]
REFERENCE_GN = [5.6e-2, 2.6e-3, 6.3e-6, 3e-11, 1e-16]
REFERENCE_FINAL = {2: 1.6, 4: 2e-3, 8: 2.5e-5, 16: 1.0e-7, 32: 1.4e-8}


def distances(trace) -> list[float]:
    return [float(e) for e in trace.column("distance")]


def quadratic_ratios(e: list[float]) -> list[float]:
    """e_{t+1}/e_t² while e_{t+1} is above round-off."""
    return [b / (a * a) for a, b in zip(e, e[1:]) if b > ROUND_OFF and a > 0]


def newton_constants(problem, xs: list[torch.Tensor], x_star: torch.Tensor) -> tuple[float, float]:
    """(M̂, l̂): max ‖∇²L(x_t) − ∇²L(x*)‖₂/‖x_t − x*‖ over iterates at distance ≥ 1e-6, min λ_min(∇²L(x_t))."""
    H_star = problem.hess(x_star)
    M, low = 0.0, math.inf
    for x in xs:
        H = problem.hess(x)
        low = min(low, float(torch.linalg.eigvalsh(H)[0]))
        e = float(torch.linalg.vector_norm(x - x_star))
        if e >= 1e-6:
            M = max(M, float(torch.linalg.matrix_norm(H - H_star, ord=2)) / e)
    return M, low


def newton_run(problem, x0: torch.Tensor, x_star: torch.Tensor, gauss_newton: bool = False) -> dict:
    """Newton (or, with ``gauss_newton``, exact Gauss–Newton with the curvature dropped) from x0: the distances,
    the ratios e_{t+1}/e_t² and the bound M̂/l̂ measured on the iterates."""
    if gauss_newton:
        solver = make_solver({"name": "approx_gauss_newton", "scores": "full", "curvature": "drop", "measure_eps": False})
    else:
        solver = Newton()
    xs: list[torch.Tensor] = []
    x = x0.clone()
    e = [float(torch.linalg.vector_norm(x - x_star))]
    for _ in range(NEWTON_ITERS):  # one step at a time, to keep every iterate
        xs.append(x)
        trace = solver.run(CountingOracle(problem), x, StopRule(eps=None, gtol=0.0, max_iter=1), x_star=x_star)
        x = trace.x if trace.x is not None else x
        e.append(float(torch.linalg.vector_norm(x - x_star)))
    M, low = newton_constants(problem, xs, x_star)
    ratios = quadratic_ratios(e)
    reached = next((t for t, v in enumerate(e) if v <= NEWTON_DONE), None)
    return {"distance": e, "ratios": ratios, "max_ratio": max(ratios) if ratios else math.nan,
            "M_hat": M, "l_hat": low, "bound": M / low if low > 0 else math.inf, "reached": reached}


def ball_constants(problem, x_star: torch.Tensor, radius: float, ctx: Context, stream: int) -> tuple[float, float]:
    """(l̂, L̂): smallest λ_min and largest λ_max of ∇²L over x* and BALL_POINTS random points of the ball."""
    g = ctx.generator(stream)
    lows, highs = [], []
    for k in range(BALL_POINTS + 1):
        if k == 0:
            x = x_star
        else:
            r = radius * float(torch.rand(1, generator=g, dtype=torch.float64))
            x = sphere_start(ctx, stream * 1000 + k, x_star, r)
        ev = torch.linalg.eigvalsh(problem.hess(x))
        lows.append(float(ev[0]))
        highs.append(float(ev[-1]))
    return min(lows), max(highs)


def wrong_gradient(problem, x: torch.Tensor) -> torch.Tensor:
    """The gradient with Λ replaced by Σ_* (the P∘P term dropped): the control's."""
    A, b, sigma, w = problem.A, problem.b, problem.sigma, problem.w
    st = K.state(A, K.residual(A, b, x))
    return -2.0 * st.As.T @ (st.sigma * (st.sigma - sigma)) + A.T @ (w * w * (A @ x))


def gd_run(problem, x0: torch.Tensor, x_star: torch.Tensor, step: float, iters: int, grad=None) -> list[float]:
    """x ← x − η∇L(x) (or ``grad``), the distances to x*."""
    x = x0.clone()
    e = [float(torch.linalg.vector_norm(x - x_star))]
    for _ in range(iters):
        x = x - step * (grad(problem, x) if grad is not None else problem.grad(x))
        e.append(float(torch.linalg.vector_norm(x - x_star)))
        if not math.isfinite(e[-1]) or e[-1] <= ROUND_OFF / 10:
            break
    return e


def gd_case(ctx: Context, k: int, inst, x0: torch.Tensor, iters: int) -> dict:
    """GD with η = 1/L̂ from x0: the per-step factors against 1 − l̂/L̂ (l̂, L̂ over the ball ‖x − x*‖ ≤ e_0)."""
    p, xs = inst.problem, inst.x_true
    e0 = float(torch.linalg.vector_norm(x0 - xs))
    low, high = ball_constants(p, xs, e0, ctx, 300 + k)
    e = gd_run(p, x0, xs, 1.0 / high, iters)
    factors = [b / a for a, b in zip(e, e[1:]) if b > ROUND_OFF]
    tail = factors[len(factors) // 2:] or factors
    ev = torch.linalg.eigvalsh(p.hess(xs))
    return {"seed": inst.seed, "distance": e, "l_hat": low, "L_hat": high, "bound": 1.0 - low / high,
            "max_factor": max(factors), "tail_factor": float(np.exp(np.mean(np.log(tail)))),
            "tight": 1.0 - float(ev[0]) / high, "final": e[-1], "iterations": len(e) - 1}


def gd_control(ctx: Context, k: int, problem, x_star: torch.Tensor, r0: float, iters: int) -> dict:
    """GD with Λ → Σ_* in the gradient on a noisy target (nonzero residual at x*), step 1/λ_max(∇²L(x*)): the
    wrong gradient vanishes elsewhere, so the descent settles away from x*."""
    x0 = gaussian_start(ctx, 3700 + k, x_star, r0)
    step = 1.0 / float(torch.linalg.eigvalsh(problem.hess(x_star))[-1])
    right = gd_run(problem, x0, x_star, step, iters)
    wrong = gd_run(problem, x0, x_star, step, iters, grad=wrong_gradient)
    return {"final": right[-1], "control_final": wrong[-1]}


def agn_run(problem, x0, x_star, s: int, scores: str, seed: int, iters: int) -> dict:
    """Approximate Gauss–Newton (curvature dropped) for ``iters`` iterations: distances, ε̂₀ per iteration, the
    geometric-mean rate over the steps above round-off and the median ε̂₀ over the same steps."""
    params = {"name": "approx_gauss_newton", "scores": scores, "curvature": "drop", "seed": seed,
              "measure_eps": scores != "full"}
    if scores != "full":
        params["sample_size"] = s
    trace = make_solver(params).run(CountingOracle(problem), x0, StopRule(eps=None, gtol=0.0, max_iter=iters),
                                    x_star=x_star)
    e = distances(trace)
    frame = trace.to_frame()
    eps = frame["eps0_hat"].to_numpy(float).tolist() if "eps0_hat" in frame else [math.nan] * len(e)
    steps = [t for t in range(len(e) - 1) if e[t + 1] > ROUND_OFF and e[t] > 0]
    rate = float(np.exp(np.mean([math.log(e[t + 1] / e[t]) for t in steps]))) if steps else math.nan
    eps_med = float(np.median([eps[t] for t in steps])) if steps and scores != "full" else math.nan
    return {"distance": e, "eps0": eps, "rate": rate, "eps0_median": eps_med, "final": e[-1],
            "status": trace.status, "halvings": int(trace.oracle_calls.get("domain_halvings", 0))}


def sketch_table(ctx: Context, sz) -> tuple[list[dict], list[dict], list[dict]]:
    """Every approximate Gauss–Newton run, the per-(scores, s/d) medians and the exact Gauss–Newton runs."""
    n, d, iters = int(sz.e02_agn_n), int(sz.e02_agn_d), int(sz.e02_agn_iters)
    runs, exact = [], []
    for k in range(int(sz.e02_agn_seeds)):
        inst = instance(ctx, 2000 + k, n=n, d=d)
        x0 = gaussian_start(ctx, 2000 + k, inst.x_true, float(sz.e02_agn_r0))
        gn = agn_run(inst.problem, x0, inst.x_true, 0, "full", 0, iters)
        exact.append({"seed": inst.seed, **gn,
                      "reached": next((t for t, v in enumerate(gn["distance"]) if v <= NEWTON_DONE), None)})
        for f in sz.e02_agn_factors:
            s = math.ceil(float(f) * d)
            for scores in ("leverage", "uniform"):
                r = agn_run(inst.problem, x0, inst.x_true, s, scores, inst.seed * 7 + s, iters)
                runs.append({"seed": inst.seed, "factor": float(f), "s": s, "scores": scores, **r})
    summary = []
    for scores in ("leverage", "uniform"):
        for f in sz.e02_agn_factors:
            rs = [r for r in runs if r["scores"] == scores and r["factor"] == float(f)]
            summary.append({"scores": scores, "factor": float(f), "s": rs[0]["s"], "runs": len(rs),
                            "e0": float(np.median([r["distance"][0] for r in rs])),
                            "final": float(np.median([r["final"] for r in rs])),
                            "rate": float(np.nanmedian([r["rate"] for r in rs])),
                            "eps0": float(np.nanmedian([r["eps0_median"] for r in rs])),
                            "reference_final": REFERENCE_FINAL.get(int(f)) if scores == "leverage" else None})
    return runs, summary, exact


def local_runs(ctx: Context, sz) -> tuple[list[dict], list[dict], list[dict]]:
    """Newton and GD on realisable instances, and the controls (Gauss–Newton and GD with Λ → Σ_*) on noisy ones."""
    n, d, r0, iters = int(sz.e02_n), int(sz.e02_d), float(sz.e02_c2_r0), int(sz.e02_gd_max_iter)
    newton, gd, control = [], [], []
    for k in range(int(sz.e02_c2_seeds)):
        inst = instance(ctx, 3000 + k, n=n, d=d)
        x0 = gaussian_start(ctx, 3000 + k, inst.x_true, r0)
        newton.append({"seed": inst.seed, **newton_run(inst.problem, x0, inst.x_true)})
        gd.append(gd_case(ctx, k, inst, x0, iters))
        noisy = instance(ctx, 3000 + k, n=n, d=d, noise=float(sz.e02_noise))
        p = noisy.problem
        star = Newton().run(CountingOracle(p), noisy.x_true, StopRule(eps=None, gtol=1e-13, max_iter=100)).x
        control.append({"seed": noisy.seed, "residual": float(torch.linalg.vector_norm(p.scores(star) - p.sigma)),
                        **newton_run(p, gaussian_start(ctx, 3500 + k, star, r0), star, gauss_newton=True),
                        "gd": gd_control(ctx, k, p, star, r0, iters)})
    return newton, gd, control


def local_margins(newton: list[dict], gd: list[dict], control: list[dict]) -> list[float]:
    """Newton's ratio bound and speed, GD's factor bound and end point, and the two controls."""
    m = []
    for r in newton:
        m += [at_most(r["max_ratio"], r["bound"]), holds(r["reached"] is not None and r["reached"] <= NEWTON_WITHIN)]
    m += [holds(all(r["max_ratio"] > r["bound"] for r in control))]
    for r in gd:
        m += [at_most(r["max_factor"], r["bound"]), at_most(r["final"], GD_DONE)]
    for r in control:
        m += [at_most(r["gd"]["final"], GD_DONE), at_least(r["gd"]["control_final"], CONTROL_FAR)]
    return m


def sketch_fits(lev: list[dict]) -> dict:
    """Power-law fits of the median rate and ε̂₀ against s on s ≥ 4d (slope and 95% CI)."""
    rows = [r for r in lev if r["factor"] >= 4]
    out = {}
    for name in ("rate", "eps0"):
        f = fit_power_law([r["s"] for r in rows], [r[name] for r in rows])
        out[name] = {"slope": f.slope, "ci_low": f.ci_low, "ci_high": f.ci_high, "points": f.points} if f else None
    return out


def sketch_margins(lev: list[dict], uni: dict, exact: list[dict], fits: dict) -> list[float]:
    """Approximate Gauss–Newton: s = 2d fails, exact Gauss–Newton is fast, the rate against ε̂₀, the fits, the
    largest s, and the uniform control."""
    smallest, largest = min(lev, key=lambda r: r["factor"]), max(lev, key=lambda r: r["factor"])
    m = [holds(r["reached"] is not None and r["reached"] <= GN_WITHIN) for r in exact]
    m += [at_least(smallest["final"], smallest["e0"])] if smallest["factor"] <= 2 else []
    for r in lev:
        if r["eps0"] < 1:
            m.append(at_most(r["rate"], r["eps0"] / (1 - r["eps0"])))
        if r["eps0"] <= 0.5:
            m.append(inside(r["rate"] / (2 * r["eps0"]), *ABOUT))
        if r["factor"] >= 4:
            m.append(at_least(uni[r["factor"]]["final"] / r["final"], UNIFORM_FACTOR))
    rate, eps = fits["rate"], fits["eps0"]
    m += [holds(rate is not None and rate["ci_high"] < 0), inside(eps["slope"], *EPS_BAND) if eps else 0.0,
          at_most(largest["final"], FINAL_LARGEST)]
    return m


@claim("E02.C2", PAPER, "Newton converges quadratically and gradient descent linearly (factor ≤ 1 − l/L) near the "
       "optimum (arXiv 2404.13785); approximate Newton with leverage-sampled Hessians converges linearly at a rate "
       "set by the sampling accuracy ε₀ (arXiv 2408.11267)",
       f"Newton (n = 60, d = 5, x0 = x_true + 0.05·N(0, I)): e_(t+1)/e_t² ≤ M̂/l̂ (M̂ the Hessian's Lipschitz ratio "
       f"and l̂ its smallest eigenvalue, both measured on the iterates) and distance ≤ {NEWTON_DONE:g} within "
       f"{NEWTON_WITHIN} iterations; GD with η = 1/L̂: every factor e_(t+1)/e_t ≤ 1 − l̂/L̂ (l̂, L̂ over the ball "
       f"‖x − x*‖ ≤ e_0) and final distance ≤ {GD_DONE:g}; approximate Gauss–Newton (n = 400, d = 8, 10 iterations, "
       f"curvature dropped): s = 2d ends no nearer than it started, exact Gauss–Newton reaches {NEWTON_DONE:g} within "
       f"{GN_WITHIN} iterations, median rate ≤ ε̂₀/(1 − ε̂₀) where ε̂₀ < 1 and within {ABOUT} times 2ε̂₀ where ε̂₀ ≤ 1/2, "
       f"the rate's fitted slope in s (s ≥ 4d) below 0 with its 95% CI, ε̂₀'s slope in {list(EPS_BAND)} (theory "
       f"{EPS_SLOPE}), median final distance at the largest s ≤ {FINAL_LARGEST:g}; controls: Gauss–Newton on a noisy "
       f"target breaks the Newton ratio bound on every instance, GD with Λ → Σ_* in the gradient ends ≥ {CONTROL_FAR:g} from the noisy target's x* (the right gradient: ≤ {GD_DONE:g}), and "
       f"uniform sampling ends ≥ {UNIFORM_FACTOR:g}× farther than leverage sampling at every s ≥ 4d")
def rates(ctx: Context) -> Measurement:
    sz = ctx.sizes
    n, d8 = int(sz.e02_n), int(sz.e02_agn_d)
    newton, gd, control = local_runs(ctx, sz)
    runs, summary, exact = sketch_table(ctx, sz)
    lev = [r for r in summary if r["scores"] == "leverage"]
    uni = {r["factor"]: r for r in summary if r["scores"] == "uniform"}
    fits = sketch_fits(lev)
    s = slack(*local_margins(newton, gd, control), *sketch_margins(lev, uni, exact, fits))
    largest = max(lev, key=lambda r: r["factor"])
    table = [{"s/d": r["factor"], "s": r["s"], "leverage_final": r["final"], "reference_final": r["reference_final"],
              "uniform_final": uni[r["factor"]]["final"], "leverage_rate": r["rate"], "leverage_eps0": r["eps0"],
              "rate_over_2eps0": r["rate"] / (2 * r["eps0"]), "uniform_eps0": uni[r["factor"]]["eps0"]} for r in lev]
    return Measurement(
        measured=max(r["max_ratio"] for r in newton), measured_label="largest Newton ratio e_(t+1)/e_t² (distance above 1e-12)",
        bound=None, bound_label="paper: quadratic convergence, constant unknown; judged against M̂/l̂ measured on the iterates",
        tight=max(quadratic_ratios(REFERENCE_NEWTON)), passed=s >= 1, slack=s,
        details={"newton": newton, "newton_reference": REFERENCE_NEWTON, "gd": gd, "gauss_newton_noisy": control,
                 "sketch_runs": runs, "sketch": summary, "exact_gauss_newton": exact,
                 "gauss_newton_reference": REFERENCE_GN, "fits": fits, "table": table,
                 "n": n, "d": int(sz.e02_d), "agn_n": int(sz.e02_agn_n), "agn_d": d8,
                 "regime": f"realisable planted instances, |s_true| ~ U[1, 3]: Newton/GD at n = {n}, d = {int(sz.e02_d)} "
                           f"from e_0 ≈ {np.median([r['distance'][0] for r in newton]):.3g} (λ_min(∇²L) from "
                           f"{min(r['l_hat'] for r in newton):.3g} along the runs); approximate Gauss–Newton at n = "
                           f"{int(sz.e02_agn_n)}, d = {d8}, e_0 ≈ {np.median([r['distance'][0] for r in exact]):.3g}, "
                           f"ε̂₀ from {min(r['eps0'] for r in lev):.3g} (s = {largest['s']}) to {max(r['eps0'] for r in lev):.3g}",
                 "control": f"exact Gauss–Newton (curvature dropped) on noisy targets (residual ‖σ_* − σ‖ ≈ "
                            f"{np.median([r['residual'] for r in control]):.3g} at x*) reaches ratios e_(t+1)/e_t² up to "
                            f"{max(r['max_ratio'] for r in control):.3g} against its bound "
                            f"{min(r['bound'] for r in control):.3g} (linear convergence); on the same noisy targets GD with Λ → Σ_* "
                            f"in the gradient ends {min(r['gd']['control_final'] for r in control):.3g} or farther from x* "
                            f"(with the right gradient: {max(r['gd']['final'] for r in control):.3g} or nearer); uniform "
                            f"sampling ends {min(uni[r['factor']]['final'] / r['final'] for r in lev if r['factor'] >= 4):.3g}× "
                            f"or more farther than leverage sampling (s ≥ 4d)"})
