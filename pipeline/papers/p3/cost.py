"""P3's cost claim (theory/P3 §P3.6, C3.11): one iteration costs O(T_mat(n,n,d) + T_mat(n,d,d) + d^{2ω}).

Theory P3.7 item 5: the exact d²×d² Hessian costs more than the claimed total (n²d² and nd⁴ terms),
so the check times the two parts the claim is made of separately: the non-Hessian work (S, ∇_x L and
the exact Y-step) against n at d = 8, and the d²×d² Newton solve against d. The Hessian build is timed
too and reported, but it is not part of the verdict.

A wall-clock claim (``timing=True``): its verdict goes to the timing ledger, apart from the
byte-stable verdicts. Timed single-threaded (``torch.set_num_threads(1)``, restored afterwards) with
the process CPU clock, so that the slopes measure work, not the thread pool's switch-over points or
other processes on the machine; the wall-clock medians are recorded alongside.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from kernels import attention as K
from pipeline.core.fits import fit_power_law
from pipeline.papers.p3.lemmas import PD_L, loglog_slope, osc_bound, pd_weights, planted, random_points, single_thread
from pipeline.papers import Context, Measurement, claim
from pipeline.solvers.newton import newton_direction

PAPER = "P3"
COST_D = 8  # theory P3.6: the non-Hessian part is timed at d = 8
SOLVE_N = 64  # n of the instances whose PD Hessian is solved (n ≥ d on every d grid)
D_FIT_MIN = 12  # the solve's slope is fitted on d ≥ 12 (d² ≥ 144): below, the ~40 µs cost of a LAPACK call
#                 dominates the O(d⁶) work (local slope ≤ 2.3 between d = 8 and 12 on the 2-core CI machine)
N_BAND = (1.5, 2.5)  # around the classical 2 of T_mat(n, n, d)
D_BAND = (4.0, 7.5)  # around the classical 6 of (d²)³: on the CI machine the slope between d = 12 and 16 scatters
#                      over 5–7.1 between runs (the 256×256 factor leaves the L2 cache), and over d = 12…24 it is
#                      4.7–5.9 (BLAS blocking gets more efficient with size, the pre-asymptotic side of 6)
SAMPLE_S = 2e-3  # one timed sample repeats the call until it lasts about 2 ms (single calls of 30 µs are jitter)
LAM_Y = 1e-3  # the ridge of the Y-step (theory P3.1)


def median_times(fn, repeats: int) -> tuple[float, float]:
    """Median per-call (process CPU, wall) time over ``repeats`` samples, after a warm-up call that also sets
    how many calls one sample holds (enough for about SAMPLE_S)."""
    t0 = time.perf_counter()
    fn()  # warm-up: first-touch allocations and lazy initialisation are not part of an iteration
    calls = max(1, int(SAMPLE_S / max(time.perf_counter() - t0, 1e-7)))
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            fn()
        cpu.append((time.process_time() - c0) / calls)
        wall.append((time.perf_counter() - w0) / calls)
    return float(np.median(cpu)), float(np.median(wall))


def _setup(ctx: Context, stream: int, n: int, d: int):
    """A planted instance (P3.6, R = 1), a point (X, Y) of the unit ball and the PD weights of C3.6."""
    inst = planted(ctx, stream, n, d, 1.0)
    X, Y = random_points(ctx, stream + 50, d, 1, 1.0)[0]
    sigma = float(torch.linalg.svdvals(inst.A1)[-1] * torch.linalg.svdvals(inst.A2)[-1])
    return (inst.A1, inst.A2, inst.A3, inst.B), X, Y, pd_weights(osc_bound(inst, 1.0), PD_L, sigma)


def _fit(x, y) -> dict:
    fit = fit_power_law(x, y)
    return {"slope": loglog_slope(x, y), "ci": [fit.ci_low, fit.ci_high] if fit else None, "points": len(x)}


@claim("C3.11", PAPER, "one iteration costs O(T_mat(n,n,d) + T_mat(n,d,d) + d^{2ω}) (P3-Thm); classically "
       "n²d for S, ∇_x L and the Y-step, and d⁶ for the d²×d² Newton solve",
       f"single-threaded process CPU time, median of p3_cost_repeats after a warm-up: log-log slope of S + ∇_x L + "
       f"Y-step against n ∈ p3_cost_ns (d = {COST_D}, every n) within [{N_BAND[0]:g}, {N_BAND[1]:g}], and of the "
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
    fit_n = _fit(ns, [r["cpu_s"] for r in rows_n])
    used = [r for r in rows_d if r["d"] >= D_FIT_MIN]
    fit_d = _fit([r["d"] for r in used], [r["cpu_s"] for r in used])
    sn, sd = fit_n["slope"], fit_d["slope"]
    passed = (len(used) >= 2 and all(r["pd"] for r in rows_d) and N_BAND[0] <= sn <= N_BAND[1]
              and D_BAND[0] <= sd <= D_BAND[1])
    local = lambda rows, key: [{"from": a[key], "to": b[key], "slope": loglog_slope([a[key], b[key]],  # noqa: E731
                                                                                     [a["cpu_s"], b["cpu_s"]])}
                               for a, b in zip(rows, rows[1:])]
    return Measurement(measured=sn,
                       measured_label=f"log-log slope in n of S + ∇_x L + Y-step (d = {COST_D}); solve slope in d "
                                      f"{sd:.2f} (d ≥ {D_FIT_MIN})", bound=None,
                       bound_label="paper: O(T_mat(n,n,d) + T_mat(n,d,d) + d^{2ω}) per iteration, constant unknown",
                       tight=2.0, passed=passed, slack=None,
                       details={"points_n": rows_n, "points_d": rows_d, "slope_n": fit_n, "slope_d": fit_d,
                                "slope_d_all_points": _fit(ds, [r["cpu_s"] for r in rows_d]),
                                "slope_n_wall": _fit(ns, [r["wall_s"] for r in rows_n]),
                                "local_slopes_n": local(rows_n, "n"), "local_slopes_d": local(rows_d, "d"),
                                "hessian_build_slope_n": _fit(ns, [r["hessian_build_s"] for r in rows_n]),
                                "hessian_build_slope_d": _fit(ds, [r["hessian_build_s"] for r in rows_d]),
                                "n_band": list(N_BAND), "d_band": list(D_BAND), "d_fit_min": D_FIT_MIN,
                                "cost_d": COST_D, "solve_n": SOLVE_N, "repeats": repeats, "threads_timed": 1,
                                "threads_default": threads,
                                "clock": "process CPU time (time.process_time), single-threaded",
                                "note": "the Hessian build (O(n²d² + nd⁴), theory P3.5) is not part of the "
                                        "claimed total (P3.7 item 5); its times are reported for comparison"})
