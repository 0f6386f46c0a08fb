"""P3's cost claim (docs/theory/p3.md §P3.6, C3.11): one iteration costs O(T_mat(n,n,d) + T_mat(n,d,d) + d^{2ω}).

Item 5 of docs/theory/p3.md §P3.7: the exact d²×d² Hessian costs more than the claimed total (n²d² and nd⁴ terms),
so the check times the two parts the claim is made of separately: the non-Hessian work (S, ∇_x L and
the exact Y-step) against n at d = 8, and the d²×d² Newton solve against d. The Hessian build is timed
too and reported, but it is not part of the verdict.

A wall-clock claim (``timing=True``): its verdict goes to the timing ledger, apart from the
byte-stable verdicts. Timed single-threaded (``torch.set_num_threads(1)``, restored afterwards) with
the process CPU clock, so that the slopes measure work, not the thread pool's switch-over points or
other processes on the machine; the wall-clock medians are recorded alongside.
"""
from __future__ import annotations

import torch

from kernels import attention as K
from pipeline.core.fits import fit_power_law
from pipeline.papers import Context, Measurement, claim, holds, inside, median_times, single_thread, slack
from pipeline.papers.p3.lemmas import PD_L, loglog_slope, osc_bound, pd_weights, planted, random_points
from pipeline.solvers.newton import newton_direction

PAPER = "P3"
COST_D = 8  # docs/theory/p3.md §P3.6: the non-Hessian part is timed at d = 8
SOLVE_N = 64  # n of the instances whose PD Hessian is solved (n ≥ d on every d grid)
D_FIT_MIN = 12  # the solve's slope is fitted on d ≥ 12 (d² ≥ 144): below, the ~40 µs cost of a LAPACK call
#                 dominates the O(d⁶) work (local slope ≤ 2.3 between d = 8 and 12 on the 2-core CI machine)
N_FIT_MIN = 128  # the n-slope is fitted on n ≥ 128 (study p3_cost's fit_x_min): below, fixed per-call costs weigh
N_BAND = (1.5, 2.5)  # around the classical 2 of T_mat(n, n, d); the same band as study p3_cost's law
D_BAND = (4.0, 7.5)  # the same band as study p3_cost_d's law; around the classical 6 of (d²)³: on the CI machine the slope between d = 12 and 16 scatters
#                      over 5–7.1 between runs (the 256×256 factor leaves the L2 cache), and over d = 12…24 it is
#                      4.7–5.9 (BLAS blocking gets more efficient with size, the pre-asymptotic side of 6)
LAM_Y = 1e-3  # the ridge of the Y-step (docs/theory/p3.md §P3.1)


def _setup(ctx: Context, stream: int, n: int, d: int):
    """A planted instance (P3.6, R = 1), a point (X, Y) of the unit ball and the PD weights of C3.6."""
    inst = planted(ctx, stream, n, d, 1.0)
    X, Y = random_points(ctx, stream + 50, d, 1, 1.0)[0]
    sigma = float(torch.linalg.svdvals(inst.A1)[-1] * torch.linalg.svdvals(inst.A2)[-1])
    return (inst.A1, inst.A2, inst.A3, inst.B), X, Y, pd_weights(osc_bound(inst, 1.0), PD_L, sigma)


def _ci(fit: dict) -> str:
    return "[{:.2f}, {:.2f}]".format(*fit["ci"]) if fit["ci"] else "undefined"


def _fit(x, y) -> dict:
    fit = fit_power_law(x, y)
    return {"slope": loglog_slope(x, y), "ci": [fit.ci_low, fit.ci_high] if fit else None, "points": len(x)}


@claim("C3.11", PAPER, "one iteration costs O(T_mat(n,n,d) + T_mat(n,d,d) + d^{2ω}) (P3-Thm); classically "
       "n²d for S, ∇_x L and the Y-step, and d⁶ for the d²×d² Newton solve",
       f"single-threaded process CPU time, median of p3_cost_repeats after a warm-up: log-log slope of S + ∇_x L + "
       f"Y-step against n ∈ p3_cost_ns (d = {COST_D}), fitted on n ≥ {N_FIT_MIN}, within [{N_BAND[0]:g}, {N_BAND[1]:g}], "
       f"and of the "
       f"Cholesky Newton solve on the PD d²×d² Hessian against d ∈ p3_cost_ds (n = {SOLVE_N}), fitted on "
       f"d ≥ {D_FIT_MIN}, within [{D_BAND[0]:g}, {D_BAND[1]:g}]", timing=True)
def cost_scaling(ctx: Context) -> Measurement:
    repeats = int(ctx.sizes.p3_cost_repeats)
    ns, ds = [int(n) for n in ctx.sizes.p3_cost_ns], [int(d) for d in ctx.sizes.p3_cost_ds]
    rows_n, rows_d = [], []
    with single_thread() as threads:
        for i, n in enumerate(ns):
            data, X, Y, w = _setup(ctx, 3900 + i, n, COST_D)

            def iteration():
                K.loss_and_gradients(*data, X, Y, w, LAM_Y)  # S, L, ∇_X L (and ∇_Y L)
                K.y_step(*data, X, LAM_Y)

            cpu, wall = median_times(iteration, repeats)
            h_cpu, _ = median_times(lambda: K.hessian_x(*data, X, Y, w), repeats)
            rows_n.append({"n": n, "cpu_s": cpu, "wall_s": wall, "hessian_build_s": h_cpu})
        for i, d in enumerate(ds):
            data, X, Y, w = _setup(ctx, 3950 + i, SOLVE_N, d)
            H = K.hessian_x(*data, X, Y, w)
            g = K.vec_r(K.gradient_x(*data, X, Y, w))
            pd = int(torch.linalg.cholesky_ex(H)[1]) == 0  # newton_direction takes its Cholesky branch
            cpu, wall = median_times(lambda: newton_direction(H, g), repeats)
            h_cpu, _ = median_times(lambda: K.hessian_x(*data, X, Y, w), repeats)
            rows_d.append({"d": d, "cpu_s": cpu, "wall_s": wall, "hessian_build_s": h_cpu, "pd": pd})
    used_n = [r for r in rows_n if r["n"] >= N_FIT_MIN]
    fit_n = _fit([r["n"] for r in used_n], [r["cpu_s"] for r in used_n])
    used = [r for r in rows_d if r["d"] >= D_FIT_MIN]
    fit_d = _fit([r["d"] for r in used], [r["cpu_s"] for r in used])
    sn, sd = fit_n["slope"], fit_d["slope"]
    passed = (len(used) >= 2 and len(used_n) >= 2 and all(r["pd"] for r in rows_d) and N_BAND[0] <= sn <= N_BAND[1]
              and D_BAND[0] <= sd <= D_BAND[1])
    local = lambda rows, key: [{"from": a[key], "to": b[key], "slope": loglog_slope([a[key], b[key]],  # noqa: E731
                                                                                     [a["cpu_s"], b["cpu_s"]])}
                               for a, b in zip(rows, rows[1:])]
    return Measurement(measured=sn,
                       measured_label=f"log-log slope in n of S + ∇_x L + Y-step (d = {COST_D}, {len(used_n)} sizes "
                                      f"n ≥ {N_FIT_MIN}, 95% CI {_ci(fit_n)}); solve slope in d {sd:.2f} "
                                      f"({len(used)} sizes d ≥ {D_FIT_MIN}, 95% CI {_ci(fit_d)})", bound=None,
                       bound_label="paper: O(T_mat(n,n,d) + T_mat(n,d,d) + d^{2ω}) per iteration, constant unknown",
                       tight=2.0, passed=passed,
                       slack=slack(holds(len(used) >= 2), holds(len(used_n) >= 2), holds(all(r["pd"] for r in rows_d)), inside(sn, *N_BAND),
                                   inside(sd, *D_BAND)),
                       details={"points_n": rows_n, "points_d": rows_d, "slope_n": fit_n, "slope_d": fit_d,
                                "slope_d_all_points": _fit(ds, [r["cpu_s"] for r in rows_d]),
                                "slope_n_wall": _fit([r["n"] for r in used_n], [r["wall_s"] for r in used_n]),
                                "slope_n_all_points": _fit(ns, [r["cpu_s"] for r in rows_n]),
                                "local_slopes_n": local(rows_n, "n"), "local_slopes_d": local(rows_d, "d"),
                                "hessian_build_slope_n": _fit(ns, [r["hessian_build_s"] for r in rows_n]),
                                "hessian_build_slope_d": _fit(ds, [r["hessian_build_s"] for r in rows_d]),
                                "n_band": list(N_BAND), "d_band": list(D_BAND), "d_fit_min": D_FIT_MIN, "n_fit_min": N_FIT_MIN,
                                "cost_d": COST_D, "solve_n": SOLVE_N, "repeats": repeats, "threads_timed": 1,
                                "threads_default": threads,
                                "clock": "process CPU time (time.process_time), single-threaded",
                                "note": "the Hessian build (O(n²d² + nd⁴), docs/theory/p3.md §P3.5) is not part of the "
                                        "claimed total (P3.7 item 5); its times are reported for comparison"})
