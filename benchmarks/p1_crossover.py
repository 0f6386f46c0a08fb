"""Where approximate Newton overtakes the baselines on P1: a sweep over d at fixed n, per regime.

One child process per (d, regime) builds one instance (benchmarks/p1_solvers.py: docs/theory/p1.md §P1.6
generator, κ(A) = 10, 0.1% heavy rows ×30, planted b, dense A), computes x* by exact Newton, and
runs side by side, from the same x0, until (L − L*)/(L(x0) − L*) ≤ 1e-8:

- approximate Newton, re-sketched (the paper's algorithm: leverage scores of √|D|·A at every
  iteration) and sketched once (τ(A) once, p ∝ |D|∘τ(A)), ε0 = 0.25, δ = 0.01 (FusedNewton in
  p1_solvers.py: |D| in place of D, Armijo backtracking, two passes over A per iteration);
- exact Newton (the project's solver, and FusedNewton with the exact Hessian: the same code as
  approximate Newton, only the Hessian differs), scipy trust-exact, Newton-CG, L-BFGS-B and
  torch.optim.LBFGS.

The exact Newtons run first. Approximate Newton runs to the gap or ``--budget`` seconds; a baseline
is stopped at ``--cap-factor`` × the fastest baseline so far on the instance (at least
``--cap-floor`` s), since it cannot be the best baseline beyond that ('> t (cap)'). A solver that
ran past the budget (or 2000 iterations) at some d is not run at the larger d of that regime. A run
shorter than ``--cheap`` seconds is made three times, round-robin over the solvers (median). Each
child also measures the machine's constants on its A: one streaming pass (the median time of A@x)
and the rate of the dense Gram product Aᵀdiag(D)A (flop/s), which the cost model uses. Torch runs
with ``--threads`` threads (default 1: on a machine shared with other jobs, 2 threads stall at every
parallel region).

    python benchmarks/p1_crossover.py                          # the sweep (n = 5e4, d = 100 … 1000), figure
    python benchmarks/p1_crossover.py --plot-only              # redraw from docs/figures/p1_crossover.json
    python benchmarks/p1_crossover.py --stream                 # one iteration / one pass at n = 1e6, d = 100

Raw results go to docs/figures/p1_crossover.json (key "sweep"; --stream writes key "stream"), the
figure to docs/figures/p1_crossover.png.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # first, so that `kernels` is the project's package, not benchmarks/kernels.py
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))  # for p1_solvers

import p1_solvers as P  # noqa: E402

FIGDIR = ROOT / "docs" / "figures"
RESKETCH, ONCE = "approx, re-sketched", "approx, sketched once"
EXACT_FUSED, EXACT = "newton, fused (exact Hessian)", "newton (exact Hessian)"
SOLVERS = {  # run in this order: the exact Newtons first (they set the baselines' cap)
    EXACT_FUSED: {"name": "fused", "hessian": "exact"},
    EXACT: {"name": "newton"},
    RESKETCH: {"name": "fused", "hessian": "resketch", "eps0": 0.25},
    ONCE: {"name": "fused", "hessian": "once", "eps0": 0.25},
    "scipy trust-exact": {"name": "scipy", "method": "trust-exact", "label": "trust_exact"},
    "scipy Newton-CG": {"name": "scipy", "method": "Newton-CG", "label": "newton_cg"},
    "scipy L-BFGS-B": {"name": "scipy", "method": "L-BFGS-B", "label": "lbfgsb"},
    "torch.optim.LBFGS": {"name": "torch_lbfgs"},
}
APPROX = (RESKETCH, ONCE)
DELTA = 0.01


def _median_time(fn, reps: int) -> float:
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def machine_constants(prob, reps_gram: int = 3) -> dict:
    """One streaming pass (median of 7 A@x) and the Gram rate 2nd²/t(Aᵀdiag(D)A) on this instance's A."""
    import torch
    from kernels.matrix import scaled_gram

    n, d = prob.A.shape
    x = torch.randn(d, dtype=torch.float64)
    D = torch.rand(n, dtype=torch.float64)
    t_pass = _median_time(lambda: prob.A @ x, 7)
    t_rpass = _median_time(lambda: prob.A.T @ D, 7)
    t_gram = _median_time(lambda: scaled_gram(prob.A, D), reps_gram)
    return {"t_pass_s": t_pass, "t_rpass_s": t_rpass, "t_gram_s": t_gram,
            "gram_flops_per_s": 2.0 * n * d * d / t_gram}


def softmax_share(prob, x_star, H) -> float:
    """‖∇²L(x*) − AᵀW²A‖₂/‖∇²L(x*)‖₂ (as in pipeline/reference/regime.py, on the H built)."""
    import torch
    from kernels.matrix import scaled_gram

    H_reg = scaled_gram(prob.A, prob.w * prob.w)
    norm = lambda M: float(torch.linalg.eigvalsh(0.5 * (M + M.T)).abs().max())  # noqa: E731
    return norm(H - H_reg) / norm(H)


def one(n: int, d: int, regime: str, threads: int, budget_s: float, cheap_s: float, skip: dict[str, str],
        cap_factor: float = 1.5, cap_floor_s: float = 5.0) -> dict:
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    prob = P.build(n, d, None, regime)
    t_build = time.perf_counter() - t0
    x_star, f_star = P.reference(prob)
    H = prob.hess(x_star)
    ev = torch.linalg.eigvalsh(H)
    share = softmax_share(prob, x_star, H)
    del H
    x0 = P.start_point(d)
    out = {"n": n, "d": d, "regime": regime, "threads": threads, "nnz": n * d, "A_bytes": 8 * n * d,
           "kappa_H": float(ev[-1] / ev[0]), "softmax_share": share,
           "logit_spread": float((prob.A @ x_star).max() - (prob.A @ x_star).min()),
           "min_D_x0": float(prob.hessian_parts(x0).D.min()), "build_s": t_build,
           "setup_s": time.perf_counter() - t0, "budget_s": budget_s,
           "jl_cols": __import__("kernels.sketch", fromlist=["jl_dimension"]).jl_dimension(n, DELTA),
           "sketch_rows": 4 * d * d, "scores": "sketched" if 4 * d * d < n else "exact QR"}
    P.warm_up({k: v for k, v in SOLVERS.items() if k not in skip}, d, None, regime, x0)
    out.update(machine_constants(prob, 3 if d <= 300 else 1))
    out.update(cap_factor=cap_factor, cap_floor_s=cap_floor_s)
    runs: dict[str, list[dict]] = {}
    caps: dict[str, float] = {}
    best = math.inf  # fastest baseline that reached the gap so far (first round)
    for label, params in SOLVERS.items():
        if label in skip:
            continue
        # a baseline slower than cap_factor × the fastest baseline so far cannot be the best baseline:
        # it is stopped there ('capped'); approximate Newton runs to the budget
        caps[label] = budget_s if label in APPROX else min(budget_s, max(cap_floor_s, cap_factor * best))
        runs[label] = [P.run_solver(prob, label, params, x0, x_star, f_star, caps[label])]
        r0 = runs[label][0]
        if label not in APPROX and r0["reached"]:
            best = min(best, r0["time_s"])
        print(f"  {regime} d={d} {label}: {r0['time_s']:.3g} s, {r0['iterations']} it, reached={r0['reached']}",
              file=sys.stderr, flush=True)
    for _ in range(2):  # repeats of the cheap runs, interleaved (round-robin) so that load hits all alike
        for label, rs in runs.items():
            if rs[0]["reached"] and rs[0]["time_s"] < cheap_s:
                rs.append(P.run_solver(prob, label, SOLVERS[label], x0, x_star, f_star, caps[label]))
    out["solvers"] = {}
    for label in SOLVERS:
        if label in skip:
            out["solvers"][label] = {"skipped": skip[label], "reached": False}
            continue
        rs = runs[label]
        times = [r["time_s"] for r in rs]
        res = dict(rs[sorted(range(len(rs)), key=lambda i: times[i])[len(rs) // 2]])
        res.update(times_s=times, cap_s=caps[label],
                   capped=bool(not res["reached"] and caps[label] < budget_s and res["time_s"] >= caps[label]))
        out["solvers"][label] = res
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def load(path: Path) -> dict:
    """The raw results file: {"sweep": [one row per (regime, d)], "stream": {...}}."""
    return json.loads(path.read_text()) if path.exists() else {"sweep": [], "stream": None}


def save(path: Path, key: str, value) -> None:
    data = load(path)
    data[key] = value
    path.write_text(json.dumps(data, indent=1))


# --------------------------------------------------------------------------------------------------
# cost model


def model(r: dict) -> dict:
    """Predicted times (s) of the whole solves from the measured iteration counts and machine constants.

    Per iteration, both methods make two streaming passes (t_pass each) and a d×d Cholesky solve
    (d³/3 flop); exact Newton forms the Gram matrix over all n rows (2nd² flop), approximate Newton
    over the distinct rows it sampled (2·rows·d² flop, rows measured). The leverage scores cost, each
    time they are computed: sketched (4d² < n): one pass (CountSketch) + the QR of the 4d²×d sketch
    (2·4d²·d² flop) + the n×d×m product with the Gaussian block (2ndm flop, m = ⌈8 ln(n/δ)⌉); exact:
    a thin QR with Q formed (4nd² flop). Flops are charged at the measured Gram rate F.
    ``*_noscores`` leaves the scores out: the per-iteration cost O(nnz + s·d² + d³) of the paper's
    analysis, against O(nnz·d + d³) for exact Newton.
    """
    n, d, F, tp = r["n"], r["d"], r["gram_flops_per_s"], r["t_pass_s"]
    m = r["jl_cols"]
    solve = d**3 / 3 / F
    exact_it = 2 * tp + 2 * n * d * d / F + solve
    if 4 * d * d < n:
        score = tp + 2 * (4 * d * d) * d * d / F + 2 * n * d * m / F
    else:
        score = 4 * n * d * d / F
    s = r["solvers"]
    out = {}
    e = s.get(EXACT_FUSED, {})
    t_exact = e["iterations"] * exact_it if e.get("reached") else math.nan
    out["exact_s"] = t_exact
    for label in APPROX:
        a = s.get(label, {})
        if not a.get("info"):  # skipped
            out[label] = out[label + "_noscores"] = math.nan
            continue
        # a run stopped by the budget: the iterations it made (its time is at least that: ratio upper bound)
        rows = a["info"]["rows_touched_mean"]
        it = a["iterations"]
        per_it = 2 * tp + 2 * rows * d * d / F + solve
        n_scores = it if label == RESKETCH else 1
        out[label + "_s"] = it * per_it + n_scores * score
        out[label] = t_exact / out[label + "_s"]
        out[label + "_noscores"] = t_exact / (it * per_it)
    return out


def ratios(r: dict) -> dict:
    """Measured: best baseline / approx and exact Newton (fused) / approx, per approximate variant."""
    s = r["solvers"]
    ok = lambda k: s.get(k, {}).get("reached") and not s[k].get("skipped")  # noqa: E731
    base = {k: s[k]["time_s"] for k in SOLVERS if k not in APPROX and ok(k)}
    best = min(base, key=base.get) if base else None
    out = {"best_baseline": best}
    for label in APPROX:
        a = s.get(label, {})
        # a run stopped by the budget gives an upper bound on the ratio (its time is at least the budget)
        bound = not a.get("reached") and (a.get("skipped") or a.get("time_s", 0.0) >= r["budget_s"])
        t = a["time_s"] if ok(label) else (r["budget_s"] if bound else math.nan)
        out[label + "_bound"] = bool(bound)
        out[label] = base[best] / t if best else math.nan
        out[label + "_vs_exact"] = s[EXACT_FUSED]["time_s"] / t if ok(EXACT_FUSED) else math.nan
    return out


# --------------------------------------------------------------------------------------------------
# figure and table


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    n = rows[0]["n"]
    colour = {"regulariser": "tab:blue", "softmax": "tab:red"}
    style = {RESKETCH: "-", ONCE: "--"}
    marker = {RESKETCH: "o", ONCE: "s"}
    fig, (ax_m, ax_p) = plt.subplots(1, 2, figsize=(13, 6.2), constrained_layout=True, sharey=True)
    for regime in ("regulariser", "softmax"):
        sel = sorted((r for r in rows if r["regime"] == regime), key=lambda r: r["d"])
        if not sel:
            continue
        ds = [r["d"] for r in sel]
        meas = [ratios(r) for r in sel]
        mod = [model(r) for r in sel]
        for label in APPROX:
            meas_ok = [math.nan if m[label + "_bound"] else m[label] for m in meas]
            ax_m.plot(ds, meas_ok, style[label], marker=marker[label], color=colour[regime],
                      label=f"{regime} regime, {label}")
            ax_p.plot(ds, [math.nan if m[label + "_bound"] else m[label + "_vs_exact"] for m in meas],
                      linestyle="none", marker=marker[label], color=colour[regime],
                      mfc="none" if label == ONCE else colour[regime], ms=7)
            for ax, key in ((ax_m, label), (ax_p, label + "_vs_exact")):  # budget-stopped runs: upper bounds
                bd = [(d, m[key]) for d, m in zip(ds, meas) if m[label + "_bound"]]
                if bd:
                    ax.plot(*zip(*bd), linestyle="none", marker="v", ms=10, color=colour[regime], mfc="none")
            ax_p.plot(ds, [m[label] for m in mod], style[label], color=colour[regime], lw=1.4)
        ax_p.plot(ds, [m[RESKETCH + "_noscores"] for m in mod], ":", color=colour[regime], lw=1.4)
    for ax in (ax_m, ax_p):
        ax.axhline(1.0, color="k", lw=0.9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("d (columns of A)")
        ax.grid(True, which="both", alpha=0.25)
    ax_m.set_ylabel("time ratio (above 1: approximate Newton is faster)")
    thr = rows[0]["threads"]
    ax_m.set_title(f"measured: best baseline / approximate Newton, time to relative gap 1e-8\n"
                   f"n = {n:,} rows, dense A, {thr} torch thread{'s' if thr > 1 else ''}")
    ax_p.set_title(f"exact Newton (fused) / approximate Newton, n = {n:,}:\n"
                   "measured (markers) and cost model (lines)")
    bd_handle = Line2D([], [], color="gray", marker="v", mfc="none", ms=9, ls="none",
                       label="run stopped at the time budget (upper bound)")
    ax_m.legend(handles=ax_m.get_legend_handles_labels()[0] + [bd_handle], fontsize=8, loc="upper center",
                bbox_to_anchor=(0.5, -0.13), ncol=2)
    handles = [Line2D([], [], color="tab:blue", lw=2, label="regulariser regime"),
               Line2D([], [], color="tab:red", lw=2, label="softmax regime"),
               Line2D([], [], color="gray", marker="o", ls="none", label="measured, re-sketched"),
               Line2D([], [], color="gray", marker="s", mfc="none", ls="none", label="measured, sketched once"),
               Line2D([], [], color="gray", ls="-", label="model, re-sketched"),
               Line2D([], [], color="gray", ls="--", label="model, sketched once"),
               Line2D([], [], color="gray", ls=":",
                      label="model O(nnz + s·d² + d³): re-sketched,\nleverage scores left out"),
               Line2D([], [], color="gray", marker="v", mfc="none", ms=9, ls="none",
                      label="stopped at the time budget\n(upper bound)")]
    ax_p.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    ds_all = sorted({r["d"] for r in rows})
    for ax in (ax_m, ax_p):
        ax.set_xticks(ds_all)
        ax.set_xticklabels([str(d) for d in ds_all])
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def cell(m: dict) -> str:
    if m.get("capped"):
        return f"> {m['cap_s']:.3g} s (cap, {m['iterations']} it)"
    return P._cell(m)


def table(rows: list[dict]) -> str:
    labels = list(SOLVERS)
    short = {RESKETCH: "approx, re-sketched", ONCE: "approx, once", EXACT: "newton", EXACT_FUSED: "newton, fused",
             "scipy trust-exact": "trust-exact", "scipy Newton-CG": "Newton-CG", "scipy L-BFGS-B": "L-BFGS-B",
             "torch.optim.LBFGS": "torch LBFGS"}
    head = ["regime", "d", "scores", "rows sampled / n", "softmax share"] + [short[k] for k in labels] + \
        ["best baseline / approx (re-sk., once)", "model exact / approx (re-sk., once)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: (r["regime"], r["d"])):
        s = r["solvers"]
        rs = ratios(r)
        md = model(r)
        rows_frac = s[RESKETCH]["info"]["rows_touched_mean"] / r["n"] if s[RESKETCH].get("info") else math.nan
        rows_frac = f"{rows_frac:.2f}" + (f" (s = {s[RESKETCH]['info']['sample_size']:.0f})"
                                          if s[RESKETCH].get("info") else "")
        cells = [r["regime"], str(r["d"]), r["scores"], rows_frac, f"{r['softmax_share']:.2g}"]
        cells += [cell(s[k]) for k in labels]
        fmt = lambda k: ("<" if rs[k + "_bound"] else "") + f"{rs[k]:.2f}×"  # noqa: E731
        cells.append(f"{fmt(RESKETCH)}, {fmt(ONCE)} ({short.get(rs['best_baseline'], '—')})")
        mfmt = lambda k: ("<" if rs[k + "_bound"] else "") + f"{md[k]:.2f}×"  # noqa: E731
        cells.append(f"{mfmt(RESKETCH)}, {mfmt(ONCE)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# one iteration against one streaming pass


BLOCK = 2048  # rows per block of the row-blocked Aᵀ[y, f, q] (--stream)
STREAM_VARIANTS = {
    RESKETCH: SOLVERS[RESKETCH],
    "approx, re-sketched, m = 16, row-blocked AᵀY": {"name": "fused", "hessian": "resketch", "eps0": 0.25,
                                                      "jl_cols": 16, "block_rows": BLOCK},
    ONCE: SOLVERS[ONCE],
    "approx, sketched once, row-blocked AᵀY": {"name": "fused", "hessian": "once", "eps0": 0.25, "block_rows": BLOCK},
    EXACT_FUSED: SOLVERS[EXACT_FUSED],
    "newton, fused, row-blocked AᵀY": {"name": "fused", "hessian": "exact", "block_rows": BLOCK},
    "project approx_newton (sketched)": P.SOLVERS["approx_newton (sketched, ε0 = 0.25)"],
    "project approx_newton (sketched once)": P.SOLVERS["approx_newton (sketched once, ε0 = 0.25)"],
}


def score_parts(prob, x, reps: int = 3) -> dict:
    """Median times of the pieces of one sketched leverage-score computation of √|D(x)|·A (kernels/sketch.py:
    CountSketch to 4d² rows with the row scale, its QR, R⁻¹G, the n×d×m product, the row norms) and of one
    draw of s rows and their d×d Gram (kernels/sketch.py, pipeline/solvers/approx_newton.py)."""
    import torch
    from kernels import sketch
    from kernels.matrix import matmat_row_norms2
    from pipeline.solvers.approx_newton import sparsified_hessian

    A = prob.A
    n, d = A.shape
    parts = prob.hessian_parts(x)
    root = parts.D.abs().sqrt()
    g = torch.Generator().manual_seed(0)
    rows, m = 4 * d * d, sketch.jl_dimension(n, DELTA)
    C = sketch.countsketch(A, rows, g, root)
    _, R = torch.linalg.qr(C, mode="reduced")
    G = torch.randn(d, m, generator=g, dtype=A.dtype)
    Z = torch.linalg.solve_triangular(R, G, upper=True)
    s = sketch.sample_size(d, 0.25, DELTA)
    tau = sketch.approximate_leverage_scores(A, g, delta=DELTA, row_scale=root)
    p = tau / tau.sum()
    sample = sketch.sampled_diagonal(parts.D, p, s, g)
    return {
        "jl_cols": m, "sketch_rows": rows, "sample_size": s,
        "countsketch_s": _median_time(lambda: sketch.countsketch(A, rows, g, root), reps),
        "qr_of_sketch_s": _median_time(lambda: torch.linalg.qr(C, mode="reduced"), reps),
        "solve_RG_s": _median_time(lambda: torch.linalg.solve_triangular(R, G, upper=True), reps),
        "A_times_Z_and_row_norms_s": _median_time(lambda: matmat_row_norms2(A, Z, root), reps),
        "A_times_Z_s": _median_time(lambda: A @ Z, reps),
        "all_scores_s": _median_time(
            lambda: sketch.approximate_leverage_scores(A, g, delta=DELTA, row_scale=root), reps),
        "draw_s_rows_s": _median_time(lambda: sketch.sampled_diagonal(parts.D, p, s, g), reps),
        "sampled_gram_s": _median_time(lambda: sparsified_hessian(A, parts, sample), reps),
    }


def stream(n: int, d: int, threads: int, iters: int, json_path: Path) -> dict:
    """Per-iteration time of approximate Newton as a multiple of one streaming pass over A (one dense
    matvec A@x: every entry of A read once; median of 9), measured in this process on the same A, in
    both regimes. Each variant runs twice for ``iters`` iterations from x0; an iteration's time is the
    difference of the trace's clock between consecutive iterates, the first iteration left out (it
    carries the one-time τ(A) of the sketched-once variants); the median of the 2·(iters − 1) values."""
    import torch

    from pipeline.problems import CountingOracle
    from pipeline.solvers import StopRule

    torch.set_num_threads(threads)
    res = {"n": n, "d": d, "threads": threads, "A_bytes": 8 * n * d, "iterations_run": iters, "block_rows": BLOCK,
           "regimes": {}}
    for regime in ("regulariser", "softmax"):
        prob = P.build(n, d, None, regime)
        A = prob.A
        x = P.start_point(d)
        y = torch.rand(n, dtype=torch.float64)
        Y = torch.rand(n, 3, dtype=torch.float64)
        r = {"t_pass_s": _median_time(lambda: A @ x, 9), "t_rpass_s": _median_time(lambda: A.T @ y, 9),
             "t_rpass3_s": _median_time(lambda: A.T @ Y, 9),
             "t_rpass3_blocked_s": _median_time(lambda: P.FusedNewton("b", block_rows=BLOCK)._rmatmat(A, Y), 9)}
        if regime == "regulariser":
            r["score_parts"] = score_parts(prob, x)
        variants = dict(STREAM_VARIANTS)
        if regime == "softmax":  # the project's solver stops at iteration 0 there (D has negative entries)
            variants = {k: v for k, v in variants.items() if not k.startswith("project")}
        for label, params in variants.items():
            per_it, phases, first = [], {}, []
            for rep in range(2):
                tr = P.make(label, params).run(CountingOracle(prob), x.clone(), StopRule(eps=None, max_iter=iters))
                t = tr.column("time_s")
                per_it += list(t[2:] - t[1:-1])
                first.append(float(t[1] - t[0]))
                if rep == 1 and tr.info:
                    phases = {p: (tr.info[f"{p}_s"] - tr.info.get(f"init_{p}_s", 0.0)) / tr.iterations
                              for p in P.PHASES}
                    phases["rows_touched_mean"] = tr.info["rows_touched_mean"]
            med = statistics.median(per_it)
            r[label] = {"iteration_s": per_it, "first_iteration_s": first, "median_iteration_s": med,
                        "ratio_to_pass": med / r["t_pass_s"], "phases_per_iteration_s": phases}
            print(f"{regime} {label}: {med:.4g} s per iteration = {med / r['t_pass_s']:.2f} passes", flush=True)
        res["regimes"][regime] = r
        del prob, A
    res["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    save(json_path, "stream", res)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=float, default=5e4)
    ap.add_argument("--d", nargs="+", type=int, default=[100, 200, 300, 500, 1000])
    ap.add_argument("--regime", choices=("regulariser", "softmax", "both"), default="both")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per child (1: the machine is shared; see docs/benchmarks.md)")
    ap.add_argument("--budget", type=float, default=150.0, help="seconds per solver run")
    ap.add_argument("--cheap", type=float, default=3.0, help="runs shorter than this are repeated 3 times")
    ap.add_argument("--json", type=Path, default=FIGDIR / "p1_crossover.json")
    ap.add_argument("--png", type=Path, default=FIGDIR / "p1_crossover.png")
    ap.add_argument("--plot-only", action="store_true")
    ap.add_argument("--append", action="store_true", help="keep the other (regime, d) points already in --json")
    ap.add_argument("--stream", action="store_true", help="one iteration / one pass at --stream-n, --stream-d")
    ap.add_argument("--stream-n", type=float, default=1e6)
    ap.add_argument("--stream-d", type=int, default=100)
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--skip", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--cap-factor", type=float, default=1.5,
                    help="a baseline stops at this multiple of the fastest baseline so far (at least --cap-floor)")
    ap.add_argument("--cap-floor", type=float, default=5.0)
    a = ap.parse_args()
    if a.one:
        n, d, regime = a.one
        print(json.dumps(one(int(float(n)), int(d), regime, a.threads, a.budget, a.cheap, json.loads(a.skip),
                             a.cap_factor, a.cap_floor)))
        return
    if a.stream:
        stream(int(a.stream_n), a.stream_d, a.threads, 4, a.json)
        return
    if not a.plot_only:
        regimes = ("regulariser", "softmax") if a.regime == "both" else (a.regime,)
        # --append: keep the JSON's other (regime, d) points (same n), replace the ones run now
        rows = load(a.json)["sweep"] if a.append else []
        rows = [r for r in rows if r["n"] == int(a.n) and not (r["regime"] in regimes and r["d"] in a.d)]
        t_all = time.perf_counter()
        for regime in regimes:
            skip: dict[str, str] = {}
            for d in sorted(a.d):
                cmd = [sys.executable, __file__, "--one", str(int(a.n)), str(d), regime, "--threads", str(a.threads),
                       "--budget", str(a.budget), "--cheap", str(a.cheap), "--skip", json.dumps(skip),
                       "--cap-factor", str(a.cap_factor), "--cap-floor", str(a.cap_floor)]
                t = time.perf_counter()
                r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
                if r.returncode != 0:
                    print(f"d={d} {regime}: failed (exit {r.returncode})", file=sys.stderr)
                    continue
                row = json.loads(r.stdout.strip().splitlines()[-1])
                row["child_wall_s"] = time.perf_counter() - t
                rows.append(row)
                for label, m in row["solvers"].items():  # not run at the larger d of this regime:
                    if m.get("skipped") or m["reached"]:
                        continue
                    if m["time_s"] >= a.budget:
                        skip[label] = f">budget (at d = {d})"
                    elif m["iterations"] >= 2000:
                        skip[label] = f"✗ (2000 it at d = {d})"
                save(a.json, "sweep", rows)
                print(f"{regime} d={d}: {row['child_wall_s']:.0f} s", file=sys.stderr, flush=True)
        print(f"sweep wall time {time.perf_counter() - t_all:.0f} s", file=sys.stderr)
    rows = load(a.json)["sweep"]
    plot(rows, a.png)
    print(table(rows))


if __name__ == "__main__":
    main()
