"""E07.C3: gradient descent on L(X) with the chain's inexact gradient (docs/theory/e07.md §E07.5, check E07.C3).

Judged on the run table of study e07_gd (conf/study/e07_gd.yaml): gradient descent with the exact gradient
and with the low-rank chain's (Taylor degree g, fixed indices), the same step 1/(2ℓ) (ℓ = λ_max of the exact
Hessian at x0 = 0), on planted benign instances with entry bounds B from small to large; L* = 0 (noiseless
E). Each run logs ‖A1X‖_∞ along the way (largest over its gradient calls), the chain's sampled gradient
error and the ‖A1X‖_∞ at which that error first passed 10 % (``observed.*``). The control is computed
here: gradient descent with the chain under the paper's printed indices (Lemmas D.3 and D.5) on the
study's smallest-B instance.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from pipeline.data.bounded_attention import BoundedAttentionData, synthesize_e07
from pipeline.papers import Context, Measurement, at_least, at_most, claim, holds, slack
from pipeline.problems import AttentionGradient, CountingOracle
from pipeline.problems.attention_gradient import AttentionGradientConfig
from pipeline.solvers import StopRule
from pipeline.solvers.gd import GDParams, GradientDescent

PAPER = "E07"
STUDY = "e07_gd"
SMALL, LARGE = 0.1, 0.7   # B²/ln n: where the curves must overlap, and where the chain must stall or leave
EPS = ("0.01", "0.0001", "1e-06")
TOL = 0.05                # overlap: iterations to each ε within max(2, 5 %) of the exact run's
GRADIENT = "config.problem.gradient"
ELL_SCALE = 2.0           # the step 1/(ELL_SCALE·ℓ) of study e07_gd (its solver.ell_scale), for the control run


def _num(v) -> float:
    v = pd.to_numeric(v, errors="coerce")
    return float(v) if pd.notna(v) else math.nan


def pairs(df: pd.DataFrame) -> list[dict]:
    """One row per (B, seed): the exact and the low-rank run side by side."""
    out = []
    for (B, seed), g in df.groupby(["config.data.B", "seed"]):
        runs = {r[GRADIENT]: r for r in g.to_dict("records")}
        if not {"exact", "lowrank"} <= set(runs):
            continue
        ex, lr = runs["exact"], runs["lowrank"]
        row = {"B": float(B), "seed": int(seed), "n": int(ex["config.data.n"]),
               "B2_over_ln_n": _num(ex["instance.B2_over_ln_n"])}
        for tag, r in (("exact", ex), ("lowrank", lr)):
            row.update({f"{tag}_outcome": str(r["outcome"]), f"{tag}_final_gap": _num(r["final_relative_gap"]),
                        f"{tag}_iterations": int(r["iterations"]), f"{tag}_a1x_max": _num(r["observed.a1x_inf_max"]),
                        **{f"{tag}_it_{e}": _num(r.get(f"iterations_to_eps.{e}")) for e in EPS}})
        row["lowrank_error_max"] = _num(lr.get("observed.gradient_error_max"))
        row["lowrank_error_x0_max"] = _num(lr.get("observed.gradient_error_x0_max"))
        row["lowrank_a1x_at_error_0.1"] = _num(lr.get("observed.a1x_inf_at_error_0.1"))
        row["k3"] = _num(lr.get("observed.k3"))
        row["degree"], row["coefficients"] = int(lr["observed.degree"]), str(lr["observed.coefficients"])
        row["overlap"] = all(math.isfinite(row[f"lowrank_it_{e}"]) and
                             abs(row[f"lowrank_it_{e}"] - row[f"exact_it_{e}"]) <= max(2.0, TOL * row[f"exact_it_{e}"])
                             for e in EPS)
        row["a2_inf"], row["d"], row["scale"] = _num(ex["instance.a2_inf"]), int(ex["instance.d"]), _num(ex["instance.scale"])
        row["f_star"] = _num(ex["instance.loss_star"])
        out.append(row)
    return sorted(out, key=lambda r: (r["B"], r["seed"]))


def paper_indices_control(row: dict) -> dict:
    """Gradient descent (same step rule, x0 = 0) with the chain under the paper's printed indices on the instance
    of ``row`` (rebuilt from its seed), for twice the exact run's iterations to 1e-6."""
    cfg = OmegaConf.structured(BoundedAttentionData(n=row["n"], d=row["d"], B=row["B"], family="benign",
                                                    scale="d" if row["scale"] == row["d"] else "one"))
    arrays = synthesize_e07(cfg, row["seed"])
    rebuilt = float(np.abs(arrays["A2"]).max())
    budget = int(2 * row["exact_it_1e-06"]) if math.isfinite(row["exact_it_1e-06"]) else 1000
    out = {"B": row["B"], "seed": row["seed"], "budget": budget, "a2_inf_table": row["a2_inf"], "a2_inf_rebuilt": rebuilt}
    for indices in ("paper", "fixed"):
        prob = AttentionGradient.from_arrays(arrays, params=AttentionGradientConfig(
            gradient="lowrank", degree=row["degree"], coefficients=row["coefficients"], indices=indices))
        tr = GradientDescent(GDParams(ell_scale=ELL_SCALE)).run(CountingOracle(prob), torch.zeros(prob.dim, dtype=torch.float64),
                                   StopRule(eps=1e-6, f_star=row["f_star"], max_iter=budget))
        out[f"{indices}_final_gap"] = float(tr.relative_gap()[-1])
        out[f"{indices}_reached_1e-06"] = tr.iterations_to_eps([1e-6])["1e-06"]
        out[f"{indices}_status"] = tr.status
    return out


@claim("E07.C3", PAPER, "gradient descent with the almost-linear-time gradient (AS24 Thm 1.6) follows the exact one "
       "while ‖A1X‖_∞ is bounded by o(√log n), and not beyond",
       f"study e07_gd (benign planted instances, d = 2, chain of degree g = 4, the same step 1/(2ℓ), x0 = 0, L* = 0): at every "
       f"B with B²/ln n ≤ {SMALL} the low-rank run reaches relative gaps 1e-2, 1e-4 and 1e-6 within max(2, {TOL:.0%}) "
       f"iterations of the exact run (the curves overlap); at every B with B²/ln n ≥ {LARGE}, in every pair whose exact "
       f"run reaches 1e-6 (at least one per B; a pair whose exact run ends elsewhere on the non-convex L is reported, "
       f"not judged), the low-rank run misses 1e-6 (stalled, diverged or out of iterations); ‖A1X‖_∞ logged along "
       f"every run; control: the chain with the paper's printed indices misses 1e-6 on the smallest-B instance "
       f"within twice the exact run's iterations", studies=(STUDY,))
def inexact_descent(ctx: Context) -> Measurement:
    rows = pairs(ctx.study_table(STUDY))
    small = [r for r in rows if r["B2_over_ln_n"] <= SMALL]
    large = [r for r in rows if r["B2_over_ln_n"] >= LARGE]
    smallest = min(rows, key=lambda r: (r["B"], r["seed"]))
    ctrl = paper_indices_control(smallest)
    judged = [r for r in large if math.isfinite(r["exact_it_1e-06"])]  # the exact run shows the instance is solvable
    m = [holds(bool(small)), holds(bool(large))]
    m += [holds(r["overlap"]) for r in small]
    m += [holds(any(r["B"] == B for r in judged)) for B in sorted({r["B"] for r in large})]
    m += [holds(not math.isfinite(r["lowrank_it_1e-06"])) for r in judged]
    m += [holds(math.isfinite(r["exact_a1x_max"]) and math.isfinite(r["lowrank_a1x_max"])) for r in rows]
    m += [holds(ctrl["paper_reached_1e-06"] is None), at_most(abs(ctrl["a2_inf_rebuilt"] - ctrl["a2_inf_table"]), 1e-5)]
    s = slack(*m)
    overlapping = sorted({r["B2_over_ln_n"] for r in rows if r["overlap"]})
    frontier = max(overlapping) if overlapping else 0.0
    by_B = {}
    for r in rows:
        by_B.setdefault(r["B"], []).append(r)
    summary = [{"B": B, "B2_over_ln_n": rs[0]["B2_over_ln_n"], "runs": len(rs),
                "overlap": sum(r["overlap"] for r in rs),
                "lowrank_reached_1e-06": sum(math.isfinite(r["lowrank_it_1e-06"]) for r in rs),
                "median_exact_final_gap": float(np.median([r["exact_final_gap"] for r in rs])),
                "median_lowrank_final_gap": float(np.median([r["lowrank_final_gap"] for r in rs])),
                "max_lowrank_a1x": max(r["lowrank_a1x_max"] for r in rs),
                "lowrank_outcomes": ", ".join(sorted({r["lowrank_outcome"] for r in rs})),
                "median_a1x_at_error_0.1": float(np.nanmedian([r["lowrank_a1x_at_error_0.1"] for r in rs]))
                if any(math.isfinite(r["lowrank_a1x_at_error_0.1"]) for r in rs) else None}
               for B, rs in sorted(by_B.items())]
    n = rows[0]["n"] if rows else 0
    return Measurement(
        measured=frontier, measured_label="largest B²/ln n at which a low-rank run overlaps its exact run",
        bound=None, bound_label="paper: B = o(√log n) (constant unknown)", tight=None, passed=s >= 1, slack=s,
        details={"study": STUDY, "n": n, "runs": rows, "table": summary, "control_run": ctrl,
                 "not_judged": [f"B = {r['B']:g}, seed {r['seed']}: the exact run ends at relative gap "
                                f"{r['exact_final_gap']:.3g} ({r['exact_outcome']})" for r in large
                                if not math.isfinite(r["exact_it_1e-06"])],
                 "regime": f"benign planted instances, n = {n}, d = 2, B ∈ {sorted(by_B)} (B²/ln n from "
                           f"{min(r['B2_over_ln_n'] for r in rows):.3g} to {max(r['B2_over_ln_n'] for r in rows):.3g}); "
                           f"‖A1X‖_∞ along the low-rank runs up to {max(r['lowrank_a1x_max'] for r in rows):.3g}",
                 "control": f"gradient descent with the chain under the paper's printed indices on the B = "
                            f"{ctrl['B']:g} instance ends at relative gap {ctrl['paper_final_gap']:.3g} after "
                            f"{ctrl['budget']} iterations ({ctrl['paper_status']}; reached 1e-6: "
                            f"{ctrl['paper_reached_1e-06'] is not None}), the fixed chain at {ctrl['fixed_final_gap']:.3g} "
                            f"(reached 1e-6 at iteration {ctrl['fixed_reached_1e-06']})"})
