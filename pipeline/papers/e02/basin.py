"""E02.C3: the basin and the conditioning of the optimum (docs/theory/e02.md §E02.5, check E02.C3).

- Basin: Newton (exact Hessian, Armijo) from x* + r0·u (u random unit vectors) on realisable instances with
  |s_true| ~ U[s_min, 3]: the success rate (distance to x* below 1e-8) against r0, per s_min; the basin radius
  r_½ is the largest r0 of the grid up to which at least half of the starts succeed.
- λ_min(∇²L(x*)) against min|s_i|: in the family above the raw λ_min follows the overall scale of |s| (∇²L scales
  like 1/|s|² when every s_i does: L(x; A, cb) = L(x/c; A, b)), so it is reported there with the scale-free
  κ(∇²L(x*)); the claim "λ_min drops as min|s| → 0" is judged on instances whose bulk stays at |s| ~ U[1, 3]
  while two rows approach their poles (|s| = pole_s and 1.5·pole_s).
- λ_min against κ(A): A = A₀M with M = VΣ₀⁻¹ΣVᵀ (the singular values replaced), so ∇²L_κ(x*) = Mᵀ∇²L₀(x*)M
  exactly (checked) and λ_min ∝ σ_min(M)² ∝ κ⁻² once κ is large: the fitted slope on κ ≥ 10 with its 95% CI.
- Noisy target with the regulariser (w > 0): Newton from x_true reaches a stationary point with a nonzero
  residual where λ_min(∇²L) > 0. Control: the Gauss–Newton part alone (curvature dropped) misstates λ_min there.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from pipeline.core.fits import fit_power_law
from pipeline.papers import Context, Measurement, at_least, at_most, claim, holds, inside, slack
from pipeline.papers.e02.instances import instance, sphere_start
from pipeline.problems import CountingOracle
from pipeline.solvers import StopRule
from pipeline.solvers.newton import Newton

PAPER = "E02"
SUCCESS = 1e-8                 # a start succeeds when Newton ends this close to x*
NEWTON_ITERS = 40
KAPPA_SLOPE, KAPPA_BAND = -2.0, (-2.3, -1.7)
KAPPA_FIT_MIN = 10.0           # the κ law is asymptotic: fitted on κ ≥ 10
REPARAM_LIMIT = 1e-8           # ‖M⁻ᵀ∇²L_κM⁻¹ − ∇²L₀‖/‖∇²L₀‖ at x*
REPARAM_ROUNDOFF = 1e-9        # the same, reported as "≤ 1e-9" below this (round-off)
RESIDUAL_MIN = 1e-3            # a noisy target leaves at least this residual ‖σ_*(x*) − σ‖
GRAD_DONE = 1e-10
CONTROL_MIN = 1e-3             # the Gauss–Newton λ_min differs from the exact one by at least this (relative)
S_MAX = 3.0


def newton_success(problem, x_star: torch.Tensor, x0: torch.Tensor) -> tuple[bool, int]:
    """(ended within SUCCESS of x*, iterations) for Newton from x0."""
    tr = Newton().run(CountingOracle(problem), x0, StopRule(eps=None, gtol=1e-12, max_iter=NEWTON_ITERS), x_star=x_star)
    return bool(tr.column("distance")[-1] < SUCCESS), int(tr.iterations)


def spectrum(problem, x: torch.Tensor) -> dict:
    ev = torch.linalg.eigvalsh(problem.hess(x))
    return {"lambda_min": float(ev[0]), "lambda_max": float(ev[-1]), "kappa_H": float(ev[-1] / ev[0])}


def pole_distance(problem, x: torch.Tensor) -> float:
    """min_i |s_i(x)|/‖a_i‖: the distance from x to the nearest pole hyperplane s_i = 0."""
    return float((problem.residual(x).abs() / torch.linalg.vector_norm(problem.A, dim=1)).min())


def basin_rows(ctx: Context, sz, n: int, d: int) -> list[dict]:
    """Success rate against r0 for each s_min (|s_true| ~ U[s_min, 3]), with the spectrum at x*."""
    rows = []
    radii = [float(r) for r in sz.e02_basin_radii]
    for i, s_min in enumerate(sz.e02_s_mins):
        for k in range(int(sz.e02_c3_seeds)):
            inst = instance(ctx, 4000 + 100 * i + k, n=n, d=d, s_min=float(s_min), s_max=max(S_MAX, float(s_min)))
            p, xs = inst.problem, inst.x_true
            row = {"s_min": float(s_min), "seed": inst.seed, **spectrum(p, xs),
                   "min_abs_s": float(p.residual(xs).abs().min()), "mean_abs_s": float(p.residual(xs).abs().mean()),
                   "pole_distance": pole_distance(p, xs)}
            for j, r0 in enumerate(radii):
                wins = [newton_success(p, xs, sphere_start(ctx, 5000 + 1000 * i + 100 * k + 10 * j + t, xs, r0))[0]
                        for t in range(int(sz.e02_basin_starts))]
                row[f"success_{r0:g}"] = float(np.mean(wins))
            rows.append(row)
    return rows


def basin_summary(rows: list[dict], radii: list[float]) -> list[dict]:
    """Per s_min: median spectrum, mean success rate per r0, and the basin radius r_½."""
    out = []
    for s_min in sorted({r["s_min"] for r in rows}):
        rs = [r for r in rows if r["s_min"] == s_min]
        rate = {r0: float(np.mean([r[f"success_{r0:g}"] for r in rs])) for r0 in radii}
        half = 0.0
        for r0 in radii:
            if rate[r0] < 0.5:
                break
            half = r0
        out.append({"s_min": s_min, "runs": len(rs), **{f"success_{r0:g}": rate[r0] for r0 in radii}, "r_half": half,
                    **{key: float(np.median([r[key] for r in rs]))
                       for key in ("lambda_min", "lambda_max", "kappa_H", "min_abs_s", "mean_abs_s", "pole_distance")}})
    return out


def pole_rows(ctx: Context, sz, n: int, d: int) -> list[dict]:
    """λ_min(∇²L(x*)) with two rows at |s| = pole_s, 1.5·pole_s and the bulk at |s| ~ U[1, 3]."""
    out = []
    for i, ps in enumerate(sz.e02_pole_s):
        specs = []
        for k in range(int(sz.e02_c3_seeds)):
            inst = instance(ctx, 6000 + k, n=n, d=d, pole_rows=2, pole_s=float(ps))  # the same draws for every pole_s
            specs.append({**spectrum(inst.problem, inst.x_true), "min_abs_s": float(inst.problem.residual(inst.x_true).abs().min())})
        out.append({"pole_s": float(ps), "runs": len(specs),
                    **{key: float(np.median([s[key] for s in specs])) for key in ("lambda_min", "lambda_max", "kappa_H", "min_abs_s")}})
    return out


def kappa_rows(ctx: Context, sz, n: int, d: int) -> tuple[list[dict], float]:
    """λ_min(∇²L(x*)) against κ(A) (the same Gaussian draws for every κ), and the largest deviation of
    M⁻ᵀ∇²L_κ(x*)M⁻¹ from ∇²L₀(x*) (the reparametrisation A_κ = A₀M)."""
    per = {float(kp): [] for kp in sz.e02_kappas}
    worst = 0.0
    for k in range(int(sz.e02_c3_seeds)):
        base = instance(ctx, 7000 + k, n=n, d=d)
        A0 = base.problem.A
        H0 = base.problem.hess(base.x_true)
        for kp in per:
            inst = instance(ctx, 7000 + k, n=n, d=d, kappa=kp)
            H = inst.problem.hess(inst.x_true)
            M = torch.linalg.lstsq(A0, inst.problem.A).solution  # A_κ = A₀M
            Minv = torch.linalg.inv(M)
            worst = max(worst, float(torch.linalg.matrix_norm(Minv.T @ H @ Minv - H0) / torch.linalg.matrix_norm(H0)))
            per[kp].append({**spectrum(inst.problem, inst.x_true), "kappa_A": float(inst.arrays["kappa_A"])})
    rows = [{"kappa": kp, "runs": len(v), **{key: float(np.median([s[key] for s in v]))
                                             for key in ("lambda_min", "lambda_max", "kappa_H", "kappa_A")}}
            for kp, v in per.items()]
    return rows, worst


def noisy_rows(ctx: Context, sz, n: int, d: int) -> list[dict]:
    """Newton from x_true on noisy targets, with the regulariser (w) and without (w = 0)."""
    out = []
    for k in range(int(sz.e02_c3_seeds)):
        for w in (float(sz.e02_w), 0.0):
            inst = instance(ctx, 8000 + k, n=n, d=d, noise=float(sz.e02_noise), w=w)
            p = inst.problem
            tr = Newton().run(CountingOracle(p), inst.x_true, StopRule(eps=None, gtol=1e-12, max_iter=100))
            x = tr.x
            ev = torch.linalg.eigvalsh(p.hess(x))
            parts = p.gauss_newton(x)
            gn = torch.linalg.eigvalsh(parts.factor.gram() + parts.rest)
            out.append({"seed": inst.seed, "w": w, "grad_norm": float(torch.linalg.vector_norm(p.grad(x))),
                        "residual": float(torch.linalg.vector_norm(p.scores(x) - p.sigma)),
                        "lambda_min": float(ev[0]), "lambda_max": float(ev[-1]),
                        "lambda_min_gauss_newton": float(gn[0]),
                        "gn_gap": abs(float(gn[0]) - float(ev[0])) / float(ev[0]) if float(ev[0]) > 0 else math.inf,
                        "in_planted_cell": bool(p.in_domain(x)), "distance_to_x_true": float(torch.linalg.vector_norm(x - inst.x_true))})
    return out


@claim("E02.C3", PAPER, "the Hessian is positive definite near the optimum under bounded-norm assumptions and "
       "min_i|s_i| ≥ β > 0; the results are local (arXiv 2404.13785): the basin shrinks and λ_min drops as min|s_i| → 0 "
       "or as κ(A) grows",
       f"Newton from x* + r0·u (n = 60, d = 5, |s_true| ~ U[s_min, 3]): success rate 1 at the smallest r0 and below 1 "
       f"at the largest for every s_min, basin radius r_½ at the smallest s_min below that at the largest, κ(∇²L(x*)) "
       f"larger at the smallest s_min; with the bulk at |s| ~ U[1, 3] and two rows at |s| = pole_s, λ_min(∇²L(x*)) "
       f"at the smallest pole_s below that at the largest; λ_min against κ(A): fitted slope on κ ≥ {KAPPA_FIT_MIN:g} in "
       f"{list(KAPPA_BAND)} (derived: {KAPPA_SLOPE:g}) and ‖M⁻ᵀ∇²L_κM⁻¹ − ∇²L₀‖ ≤ {REPARAM_LIMIT:g}·‖∇²L₀‖; noisy "
       f"target with w > 0: Newton from x_true ends with ‖∇L‖ ≤ {GRAD_DONE:g}, residual ≥ {RESIDUAL_MIN:g}, "
       f"λ_min(∇²L) > 0; control: the Gauss–Newton part's λ_min differs from the exact one by ≥ {CONTROL_MIN:g} "
       f"(relative) at those points")
def basin(ctx: Context) -> Measurement:
    sz = ctx.sizes
    n, d = int(sz.e02_n), int(sz.e02_d)
    radii = [float(r) for r in sz.e02_basin_radii]
    rows = basin_rows(ctx, sz, n, d)
    summary = basin_summary(rows, radii)
    poles = pole_rows(ctx, sz, n, d)
    kappas, reparam = kappa_rows(ctx, sz, n, d)
    # a round-off quantity (1e-12 to 1e-10, following the BLAS code path of the process and the machine): reported
    # as its decade ceiling, and as REPARAM_ROUNDOFF when below it, so that the verdict is byte-stable whichever
    # worker or machine runs the check (a broken reparametrisation errs by O(1), far above REPARAM_LIMIT)
    reparam = max(10.0 ** math.ceil(math.log10(reparam)), REPARAM_ROUNDOFF) if reparam > 0 else 0.0
    noisy = noisy_rows(ctx, sz, n, d)
    fit_pts = [r for r in kappas if r["kappa"] >= KAPPA_FIT_MIN]
    fit = fit_power_law([r["kappa"] for r in fit_pts], [r["lambda_min"] for r in fit_pts])
    lo_s, hi_s = summary[0], summary[-1]
    lo_p, hi_p = min(poles, key=lambda r: r["pole_s"]), max(poles, key=lambda r: r["pole_s"])
    with_w = [r for r in noisy if r["w"] > 0]
    m = [holds(r[f"success_{radii[0]:g}"] == 1.0) for r in summary]
    m += [holds(r[f"success_{radii[-1]:g}"] < 1.0) for r in summary]
    m += [at_most(lo_s["r_half"], hi_s["r_half"], strict=True), at_least(lo_s["kappa_H"], hi_s["kappa_H"], strict=True),
          at_most(lo_p["lambda_min"], hi_p["lambda_min"], strict=True)]
    m += [inside(fit.slope, *KAPPA_BAND) if fit is not None and fit.points >= 5 else 0.0, at_most(reparam, REPARAM_LIMIT)]
    for r in with_w:
        m += [at_most(r["grad_norm"], GRAD_DONE), at_least(r["residual"], RESIDUAL_MIN), at_least(r["lambda_min"], 0.0, strict=True),
              at_least(r["gn_gap"], CONTROL_MIN)]
    m += [holds(bool(with_w))]
    s = slack(*m)
    gn_lams = ", ".join(f"{r['lambda_min_gauss_newton']:.3g}" for r in with_w)
    exact_lams = ", ".join(f"{r['lambda_min']:.3g}" for r in with_w)
    table = [{"s_min": r["s_min"], **{f"success r0={r0:g}": r[f"success_{r0:g}"] for r0 in radii}, "r_half": r["r_half"],
              "lambda_min": r["lambda_min"], "kappa_H": r["kappa_H"], "mean_abs_s": r["mean_abs_s"],
              "pole_distance": r["pole_distance"]} for r in summary]
    fit_d = {"slope": fit.slope, "ci_low": fit.ci_low, "ci_high": fit.ci_high, "points": fit.points,
             "intercept": fit.intercept} if fit else None
    return Measurement(
        measured=fit.slope if fit else math.nan, measured_label="fitted slope of λ_min(∇²L(x*)) against κ(A) (κ ≥ 10)",
        bound=None, bound_label="paper: local strong convexity l > 0, constants unknown; derived here: slope −2",
        tight=KAPPA_SLOPE, passed=s >= 1, slack=s,
        details={"n": n, "d": d, "radii": radii, "basin_runs": rows, "basin": summary, "poles": poles, "kappas": kappas,
                 "kappa_fit": fit_d, "kappa_band": list(KAPPA_BAND), "reparametrisation_error": reparam,
                 "noisy": noisy, "table": table,
                 "regime": f"realisable planted instances, n = {n}, d = {d}: min|s_i(x*)| from "
                           f"{min(r['min_abs_s'] for r in summary):.3g} to {max(r['min_abs_s'] for r in summary):.3g} "
                           f"(distance to the nearest pole {min(r['pole_distance'] for r in summary):.3g} to "
                           f"{max(r['pole_distance'] for r in summary):.3g}), near-pole rows at |s| down to "
                           f"{lo_p['min_abs_s']:.3g}, κ(A) from {min(r['kappa_A'] for r in kappas):.3g} to "
                           f"{max(r['kappa_A'] for r in kappas):.3g}; noisy targets (noise {float(sz.e02_noise):g}·d/n) "
                           f"with residual ‖σ_*(x*) − σ‖ ≈ {np.median([r['residual'] for r in with_w]):.3g}",
                 "control": f"at the noisy optima the Gauss–Newton part alone gives λ_min "
                            f"{gn_lams} against the exact {exact_lams} (relative gap ≥ "
                            f"{min(r['gn_gap'] for r in with_w):.3g}); in the U[s_min, 3] family the raw λ_min goes "
                            f"from {hi_s['lambda_min']:.3g} (s_min = {hi_s['s_min']:g}) to {lo_s['lambda_min']:.3g} "
                            f"(s_min = {lo_s['s_min']:g}), following the overall scale of |s|, which is why the "
                            f"λ_min claim is judged with the bulk of |s| fixed"})
