"""E03's claims (docs/theory/e03.md §E03.4): the tail outside the top n^C against n (E03.C1), the output
error bound of truncated attention (E03.C2), the adaptive window against a fixed one (E03.C3).

Each check draws its own rows of logits with explicit generators (the Gaussian-logit model:
s_ij ~ N(0, σ²) i.i.d., σ = c √(2 ln n)) and measures them with :mod:`kernels.sparse_attention`.
Only sample rows of length n are ever held, never an n×n matrix. The paper's model, scalings and
constants are unknown to us [R?]: the checks test the form of the claims in the regime named in
each verdict's details.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from scipy.stats import norm
from torch import Tensor

from kernels import sparse_attention as S
from pipeline.core.fits import fit_power_law
from pipeline.papers import Context, Measurement, at_least, at_most, claim, holds, inside, slack, within

PAPER = "E03"
UNKNOWN = "constant unknown [R?]"
ROW_BLOCK = 32         # rows of length n drawn and measured at a time
K_EPS = 0.05           # C1: the empirical sparsity k_ε is logged at ε = 0.05
MARGIN = 0.15          # C1: cells with |c − √(1 − C)| < MARGIN are boundary cells (reported, not judged)
LN_FLOOR = 0.2         # C1: for c ≤ 1 the tail outside the top ⌊ln n⌋ stays ≥ this at every n
CONTROL_SIGMA = 1.0    # C1: the dense control, σ = 1 whatever n is
REFERENCE = {          # C1: float64 reference values (20 repetitions): (c, "nC"/"ln", n) -> tail
    (0.5, "nC", 1024): 0.54, (0.5, "nC", 65536): 0.62, (1.0, "nC", 1024): 0.095, (1.0, "nC", 65536): 0.044,
    (1.0, "ln", 1024): 0.32, (1.0, "ln", 65536): 0.27, (1.5, "ln", 1024): 0.06, (1.5, "ln", 65536): 0.12}
REFERENCE_C = 0.5      # C1: the C of the n^C reference values
REFERENCE_MAX = (1.5, 0.007)  # C1: c = 1.5, C = 0.5: tail ≤ 0.007 at every n
REFERENCE_REPS = 20    # C1: repetitions behind the reference values (their standard error is judged with)
ERROR_CS = (0.5, 1.0, 1.5)     # C2: σ = c √(2 ln n)
SLOPE_BAND = (0.8, 1.2)        # C2: log-log slope of the output error against τ
GAP_TOL = 1e-12                # C2: |‖p − p̃‖₁ − 2τ| and, on the values ±u, |error − 2τ‖u‖| (n·eps at n = 4096)
HEAD_DIM = 64                  # C2, C3: V ~ N(0, I_64)
MIX_C = 0.5                    # C3: adaptive window k = ⌈α n^C⌉
MIX_ALPHA = 1.0
MIX_JUDGED = (0.75, 0.9)       # C3: models judged: σ = c √(2 ln n) with √(1 − C) < c < 1
MIX_REPORTED = (0.5, 1.0, 1.5)  # C3: models reported beside them (outside that window)
MIX_FIXED_SIGMA = 2.0          # C3: the n-independent spread, reported


def sigma_of(c: float, n: int) -> float:
    """σ = c √(2 ln n): the logit spread of the Gaussian-logit model (§E03.2)."""
    return c * math.sqrt(2 * math.log(n))


def gaussian_prediction(n: int, k: int, sigma: float) -> float:
    """Φ(z_q − σ), z_q = Φ⁻¹(1 − k/n): the tail of log-normal weights outside the top fraction k/n when the
    row sum obeys the law of large numbers (§E03.2; valid for σ < √(2 ln n))."""
    return float(norm.cdf(norm.ppf(1 - k / n) - sigma))


def _slope(ns: list[int], ys: list[float]) -> dict:
    fit = fit_power_law(ns, ys)
    return {"slope": fit.slope if fit else math.nan, "ci": [fit.ci_low, fit.ci_high] if fit else None}


# --------------------------------------------------------------------------- E03.C1
def _tails(ctx: Context, n: int, stream: int, sigmas: dict, ks: dict, rows: int) -> dict:
    """For each σ (key) the per-row tails at each k (key of ``ks``) and k_eff, on common standard-normal draws."""
    g = ctx.generator(stream)
    out = {s: {**{kk: [] for kk in ks}, "k_eff": [], "sigma_hat": [], "k_eps": []} for s in sigmas}
    for start in range(0, rows, ROW_BLOCK):
        Z = S.gaussian_logits(min(ROW_BLOCK, rows - start), n, 1.0, g).to(ctx.device, ctx.dtype)
        for key, sigma in sigmas.items():
            L = sigma * Z
            T = S.tail_profile(L)
            for kk, k in ks.items():
                out[key][kk] += T[:, k].tolist()
            out[key]["k_eff"] += S.effective_support(L).tolist()
            out[key]["k_eps"] += (T > K_EPS).sum(dim=1).tolist()
            out[key]["sigma_hat"] += L.std(dim=1).tolist()
    return out


def _median(v: list[float]) -> float:
    return float(torch.tensor(v, dtype=torch.float64).median())


def _mean_se(v: list[float]) -> tuple[float, float]:
    t = torch.tensor(v, dtype=torch.float64)
    return float(t.mean()), float(t.std() / math.sqrt(len(v)))


@claim("E03.C1", PAPER, "attention is n^C-sparse: the mass outside the top n^C entries of a row vanishes as n "
       "grows, while the mass outside the top ln n entries does not (claims (i), (ii), §E03.1)",
       f"σ = c√(2 ln n), n ∈ e03_tail_ns, C ∈ e03_tail_Cs, c ∈ e03_tail_cs, mean tail over e03_tail_rows rows: for "
       f"every cell with |c − √(1 − C)| ≥ {MARGIN:g} the 95% CI of the log-log slope of the tail against n is "
       f"below 0 when c > √(1 − C) and above 0 when c < √(1 − C); for c ≤ 1 the tail outside the top ⌊ln n⌋ stays "
       f"≥ {LN_FLOOR:g}; the reference values within 3 standard errors of a {REFERENCE_REPS}-row mean; control: "
       f"σ = {CONTROL_SIGMA:g} (dense) keeps a tail ≥ 0.5 at k = ⌈n^0.5⌉ that grows with n")
def tail_against_n(ctx: Context) -> Measurement:
    sz = ctx.sizes
    ns = sorted(int(n) for n in sz.e03_tail_ns)
    Cs, cs = sorted(float(C) for C in sz.e03_tail_Cs), sorted(float(c) for c in sz.e03_tail_cs)
    rows = int(sz.e03_tail_rows)
    cells, ln_rows, control = _measure_tails(ctx, ns, Cs, cs, rows)
    table, boundary = _judge_cells(cells)
    judged = [t for t in table if t["side"] != "boundary"]
    frac = sum(bool(t["agrees"]) for t in judged) / len(judged) if judged else math.nan
    ln_summary = _ln_summary(ln_rows)
    ln_min = min((s["tail_min"] for s in ln_summary if s["c"] <= 1), default=math.nan)
    refs = _references(cells, ln_rows)
    ctrl_ok = control[-1]["tail"] >= 0.5 and control[-1]["tail"] > control[0]["tail"]
    s = slack(holds(bool(judged)), at_least(frac, 1.0) if judged else 0.0,
              at_least(ln_min, LN_FLOOR) if ln_min == ln_min else 0.0, holds(all(r["ok"] for r in refs)),
              holds(ctrl_ok))
    moves = MARGIN * (math.sqrt(2 * math.log(ns[-1])) - math.sqrt(2 * math.log(ns[0])))
    sigma_hat = cells[(Cs[0], cs[0])][0]["sigma_hat"] / cells[(Cs[0], cs[0])][0]["sigma"]
    return Measurement(
        measured=frac, measured_label=f"fraction of the {len(judged)} judged (C, c) cells whose trend in n matches "
                                      f"c ≷ √(1 − C)",
        bound=None, bound_label=f"paper: Ω(n^C) entries suffice, {UNKNOWN}", tight=1.0, passed=s >= 1, slack=s,
        details={"table": table, "cells": {f"C={C:g},c={c:g}": pts for (C, c), pts in sorted(cells.items())},
                 "ln_n_tails": {f"c={c:g}": pts for c, pts in sorted(ln_rows.items())}, "ln_n_summary": ln_summary,
                 "ln_n_min_tail_c_le_1": ln_min, "references": refs, "control_rows": control,
                 "boundary_cells": boundary, "margin": MARGIN, "rows": rows, "ns": ns,
                 "regime": f"i.i.d. Gaussian logits, σ = c√(2 ln n) (measured row std / σ = {sigma_hat:.3f}), k = ⌈n^C⌉; "
                           f"the tail vanishes iff c > √(1 − C); the {len(boundary)} cells within {MARGIN:g} of the "
                           f"threshold ({', '.join(boundary) or 'none'}) are reported, not judged: over n = "
                           f"{ns[0]}…{ns[-1]} their Gaussian argument (√(1 − C) − c)√(2 ln n) moves by less than "
                           f"{moves:.2f}",
                 "control": f"σ = {CONTROL_SIGMA:g} whatever n (dense, O(1) spread): tail outside the top ⌈√n⌉ "
                            f"{control[0]['tail']:.3g} → {control[-1]['tail']:.3g} (does not vanish)"})


def _measure_tails(ctx: Context, ns: list[int], Cs: list[float], cs: list[float], rows: int):
    """Mean tails per (C, c) cell and n, the tails outside the top ⌊ln n⌋ per c, and the σ = 1 control."""
    cells: dict = {}
    ln_rows: dict = {}
    control = []
    inflate = math.sqrt(rows / REFERENCE_REPS)  # standard error of a 20-row mean from ours
    for i, n in enumerate(ns):
        ks = {**{C: math.ceil(n ** C - 1e-9) for C in Cs}, "ln": int(math.floor(math.log(n))), "half": math.ceil(n ** 0.5)}
        sigmas = {c: sigma_of(c, n) for c in cs}
        sigmas["control"] = CONTROL_SIGMA
        per = _tails(ctx, n, 1000 + i, sigmas, ks, rows)
        for c in cs:
            for C in Cs:
                m, se = _mean_se(per[c][C])
                cells.setdefault((C, c), []).append(
                    {"n": n, "C": C, "c": c, "k": ks[C], "sigma": sigmas[c], "sigma_hat": _mean_se(per[c]["sigma_hat"])[0],
                     "tail": m, "se": se, "se_20": se * inflate, "gaussian_prediction": gaussian_prediction(n, ks[C], sigmas[c]),
                     "k_eff": _mean_se(per[c]["k_eff"])[0], "k_eps_median": _median(per[c]["k_eps"]),
                     "log_k_eps_over_log_n": math.log(max(_median(per[c]["k_eps"]), 1.0)) / math.log(n)})
            m, se = _mean_se(per[c]["ln"])
            ln_rows.setdefault(c, []).append({"n": n, "c": c, "k": ks["ln"], "tail": m, "se": se, "se_20": se * inflate})
        control.append({"n": n, "k": ks["half"], "sigma": CONTROL_SIGMA, "tail": _mean_se(per["control"]["half"])[0]})
    return cells, ln_rows, control


def _judge_cells(cells: dict) -> tuple[list[dict], list[str]]:
    """Per cell: the side of the threshold c = √(1 − C) and whether the 95% CI of the slope of the tail
    against n agrees with it (below 0 on the vanishing side, above 0 on the dense side)."""
    table, boundary = [], []
    for (C, c), pts in sorted(cells.items()):
        gap = c - math.sqrt(1 - C)
        fit = _slope([p["n"] for p in pts], [p["tail"] for p in pts])
        side = "boundary" if abs(gap) < MARGIN else ("vanishing" if gap > 0 else "dense")
        ok = None
        if side == "boundary":
            boundary.append(f"C={C:g},c={c:g}")
        else:
            ok = fit["ci"] is not None and (fit["ci"][1] < 0 if side == "vanishing" else fit["ci"][0] > 0)
        table.append({"C": C, "c": c, "threshold": math.sqrt(1 - C), "gap": gap, "side": side,
                      "tail_first": pts[0]["tail"], "tail_last": pts[-1]["tail"], "slope": fit["slope"],
                      "slope_ci": fit["ci"], "agrees": ok})
    return table, boundary


def _ln_summary(ln_rows: dict) -> list[dict]:
    """Per c, the tail outside the top ⌊ln n⌋: first, last, smallest, and its log-log slope against ln n
    (for c > 1 the Poisson–Dirichlet picture predicts (ln n)^{1−c})."""
    out = []
    for c, pts in sorted(ln_rows.items()):
        fit = _slope([math.log(p["n"]) for p in pts], [p["tail"] for p in pts])
        out.append({"c": c, "tail_first": pts[0]["tail"], "tail_last": pts[-1]["tail"],
                    "tail_min": min(p["tail"] for p in pts), "slope_vs_ln_n": fit["slope"],
                    "slope_vs_ln_n_ci": fit["ci"], "theory_slope_if_c_above_1": 1 - c if c > 1 else None})
    return out


def _references(cells: dict, ln_rows: dict) -> list[dict]:
    """The reference values present at this profile's n, each within 3 standard errors of a 20-row mean."""
    out = []
    for (c, kind, n), ref in REFERENCE.items():
        pts = cells.get((REFERENCE_C, c), []) if kind == "nC" else ln_rows.get(c, [])
        p = next((p for p in pts if p["n"] == n), None)
        if p is not None:
            out.append({"c": c, "kind": kind, "n": n, "reference": ref, "measured": p["tail"], "se_20": p["se_20"],
                        "ok": abs(p["tail"] - ref) <= 3 * p["se_20"]})
    c, top = REFERENCE_MAX
    for p in cells.get((REFERENCE_C, c), []):
        if p["n"] in (1024, 65536):
            out.append({"c": c, "kind": "nC max", "n": p["n"], "reference": top, "measured": p["tail"],
                        "se_20": p["se_20"], "ok": p["tail"] <= top + 3 * p["se_20"]})
    return out


# --------------------------------------------------------------------------- E03.C2
def output_errors(L: Tensor, V: Tensor, k: int) -> dict:
    """Per row: the tail τ, ‖p − p̃‖₁ and the output error ‖pᵀV − p̃ᵀV‖₂ of top-k truncation."""
    p = S.softmax_rows(L)
    pt = S.truncated_softmax(L, k)
    return {"tau": S.tail_mass(L, k), "l1": (p - pt).abs().sum(dim=1),
            "err": torch.linalg.vector_norm((p - pt) @ V, dim=1)}


def adversarial_values(L: Tensor, k: int) -> Tensor:
    """Per row a value matrix with v_j = +u outside the top k and −u inside (‖u‖ = 1): the output error
    is then exactly 2τ‖u‖, the bound's equality case (rows × n × 2)."""
    keep = torch.zeros_like(L, dtype=torch.bool).scatter_(1, L.topk(k, dim=1).indices, True)
    sign = torch.where(keep, -1.0, 1.0).to(L.dtype)
    u = torch.tensor([0.6, 0.8], dtype=L.dtype, device=L.device)
    return sign.unsqueeze(2) * u


@claim("E03.C2", PAPER, "truncation error: ‖p − p̃‖₁ = 2τ and ‖pᵀV − p̃ᵀV‖₂ ≤ 2τ max_j ‖v_j‖₂ for every row "
       "(§E03.2)",
       f"Gaussian logits σ = c√(2 ln n), c ∈ {{{', '.join(f'{c:g}' for c in ERROR_CS)}}}, n = e03_error_n, k ∈ "
       f"e03_error_ks, V ~ N(0, I_{HEAD_DIM}), plus keys and queries Q, K ~ N(0, I_16) through the blocked kernel: "
       f"the bound holds on every row, ‖p − p̃‖₁ = 2τ to 1e-12 (absolute), the log-log slope of the error against τ is within "
       f"[{SLOPE_BAND[0]:g}, {SLOPE_BAND[1]:g}]; control: on values ±u (the equality case) the error is 2τ‖u‖ to "
       f"1e-12, so the bound with τ in place of 2τ fails")
def output_error_bound(ctx: Context) -> Measurement:
    sz = ctx.sizes
    n, reps = int(sz.e03_error_n), int(sz.e03_error_rows)
    g = ctx.generator(2000)
    V = torch.randn(n, HEAD_DIM, generator=g, dtype=torch.float64).to(ctx.device, ctx.dtype)
    vmax = float(torch.linalg.vector_norm(V, dim=1).max())
    taus, errs, worst, l1_gap, adv_gap, wrong_gauss, table = [], [], 0.0, 0.0, 0.0, 0.0, []
    for c in ERROR_CS:
        L = S.gaussian_logits(reps, n, sigma_of(c, n), g).to(ctx.device, ctx.dtype)
        for k in (int(k) for k in sz.e03_error_ks if int(k) <= n):
            r = output_errors(L, V, k)
            bound = 2 * r["tau"] * vmax
            worst = max(worst, float((r["err"] / bound.clamp_min(1e-300)).max()))
            l1_gap = max(l1_gap, float((r["l1"] - 2 * r["tau"]).abs().max()))
            wrong_gauss = max(wrong_gauss, float((r["err"] / (r["tau"] * vmax).clamp_min(1e-300)).max()))
            Va = adversarial_values(L, k)
            p, pt = S.softmax_rows(L), S.truncated_softmax(L, k)
            adv = torch.linalg.vector_norm(torch.einsum("rn,rnd->rd", p - pt, Va), dim=1)
            adv_gap = max(adv_gap, float((adv - 2 * r["tau"]).abs().max()))
            taus += r["tau"].tolist()
            errs += r["err"].tolist()
            table.append({"family": "gaussian logits", "c": c, "k": k, "tau_median": float(r["tau"].median()),
                          "err_median": float(r["err"].median()), "err_over_bound_max": float((r["err"] / bound).max())})
    # the blocked Q, K path of the kernel
    d = 16
    Q = torch.randn(reps, d, generator=g, dtype=torch.float64).to(ctx.device, ctx.dtype)
    Kx = torch.randn(n, d, generator=g, dtype=torch.float64).to(ctx.device, ctx.dtype)
    scale = math.sqrt(d) / sigma_of(1.0, n)
    exact = S.attention(Q, Kx, V, scale)
    for k in (int(k) for k in sz.e03_error_ks if int(k) <= n):
        out, tau = S.truncated_attention(Q, Kx, V, k, scale, block=max(1, reps // 3))
        err = torch.linalg.vector_norm(exact - out, dim=1)
        worst = max(worst, float((err / (2 * tau * vmax).clamp_min(1e-300)).max()))
        taus += tau.tolist()
        errs += err.tolist()
        table.append({"family": "queries·keys, c = 1", "c": 1.0, "k": k, "tau_median": float(tau.median()),
                      "err_median": float(err.median()), "err_over_bound_max": float((err / (2 * tau * vmax)).max())})
    pairs = [(t, e) for t, e in zip(taus, errs) if t > 1e-12 and e > 0]
    fit = fit_power_law([t for t, _ in pairs], [e for _, e in pairs])
    slope = fit.slope if fit else math.nan
    s = slack(at_most(worst, 1.0 + 1e-12), at_most(l1_gap, GAP_TOL), inside(slope, *SLOPE_BAND) if fit else 0.0,
              at_most(adv_gap, GAP_TOL))
    return Measurement(
        measured=worst, measured_label="max over rows of ‖pᵀV − p̃ᵀV‖₂ / (2τ max‖v‖₂)", bound=1.0,
        bound_label="the bound 2τ max‖v‖ (ratio 1)", tight=None, passed=s >= 1, slack=s,
        details={"table": table, "l1_identity_max_abs_gap": l1_gap, "slope_err_vs_tau": slope,
                 "slope_ci": [fit.ci_low, fit.ci_high] if fit else None, "slope_band": list(SLOPE_BAND),
                 "points": [{"tau": t, "err": e} for t, e in pairs[:: max(1, len(pairs) // 400)]],
                 "vmax": vmax, "n": n, "rows_per_case": reps,
                 "wrong_bound_tau_max_ratio_gaussian": wrong_gauss,
                 "adversarial_max_abs_gap_to_2tau": adv_gap,
                 "regime": f"n = {n}, σ = c√(2 ln n) (c ∈ {{{', '.join(f'{c:g}' for c in ERROR_CS)}}}), "
                           f"V ~ N(0, I_{HEAD_DIM}) (max‖v‖ = {vmax:.3g}); τ from {min(taus):.2g} to {max(taus):.2g}",
                 "control": f"values ±u on the dropped/kept entries: error = 2τ‖u‖ (gap {adv_gap:.1g}), so the "
                            f"bound τ max‖v‖ fails by a factor 2; on Gaussian V it is "
                            + (f"violated only barely (max ratio {wrong_gauss:.3g})" if wrong_gauss > 1 else
                               f"not violated (max ratio {wrong_gauss:.3g}), so Gaussian values alone cannot show the "
                               f"factor 2")})


# --------------------------------------------------------------------------- E03.C3
def _mixture(ctx: Context, ns: list[int], reps: int, model: str, value: float, stream: int) -> dict:
    """Per length and window rule (adaptive, fixed, inverted, the same mean budget): the ℓ1 error
    ‖p − p̃‖₁ = 2τ (the largest output error over values with ‖v_j‖₂ ≤ 1, attained by ±u values) and the
    output error on V ~ N(0, I_64), each as its mean and its largest row."""
    ks_ad = [S.adaptive_window(n, MIX_ALPHA, MIX_C) for n in ns]
    K = max(1, round(sum(ks_ad) / len(ks_ad)))
    ks_inv = list(reversed(ks_ad))
    out = {"adaptive": [], "fixed": [], "inverted": []}
    for i, n in enumerate(ns):
        g = ctx.generator(stream + i)
        sigma = sigma_of(value, n) if model == "c" else value
        L = S.gaussian_logits(reps, n, sigma, g).to(ctx.device, ctx.dtype)
        V = torch.randn(n, HEAD_DIM, generator=g, dtype=torch.float64).to(ctx.device, ctx.dtype)
        for rule, k in (("adaptive", ks_ad[i]), ("fixed", K), ("inverted", ks_inv[i])):
            r = output_errors(L, V, min(k, n))
            l1 = 2 * r["tau"]
            out[rule].append({"n": n, "k": min(k, n), "mean_l1": float(l1.mean()), "max_l1": float(l1.max()),
                              "mean_err": float(r["err"].mean()), "max_err": float(r["err"].max())})
    summary = {rule: {"worst_mean_l1": max(r["mean_l1"] for r in rows), "worst_row_l1": max(r["max_l1"] for r in rows),
                      "worst_mean_err": max(r["mean_err"] for r in rows), "worst_row_err": max(r["max_err"] for r in rows),
                      "budget": sum(r["k"] for r in rows) / len(rows)} for rule, rows in out.items()}
    return {"model": f"{model}={value:g}", "per_length": out, "summary": summary}


@claim("E03.C3", PAPER, "an adaptive window k = α n^C beats a fixed k across context lengths (claim (iii), §E03.1)",
       f"lengths e03_mix_ns, e03_mix_rows rows each, V ~ N(0, I_{HEAD_DIM}), k = ⌈{MIX_ALPHA:g}·n^{MIX_C:g}⌉ against the "
       f"fixed k of the same mean budget: in the models σ = c√(2 ln n), c ∈ {{{', '.join(f'{c:g}' for c in MIX_JUDGED)}}} "
       f"(√(1 − C) < c < 1), the worst length's mean ℓ1 error ‖p − p̃‖₁ = 2τ (the largest output error over values "
       f"with ‖v‖ ≤ 1) is lower for the adaptive window; control: the inverted window (the same budget, more to the "
       f"short rows) is worse than the fixed one")
def adaptive_window(ctx: Context) -> Measurement:
    sz = ctx.sizes
    ns = sorted(int(n) for n in sz.e03_mix_ns)
    reps = int(sz.e03_mix_rows)
    models = [("c", c, True) for c in MIX_JUDGED] + [("c", c, False) for c in MIX_REPORTED] + \
             [("sigma", MIX_FIXED_SIGMA, False)]
    results = []
    for j, (kind, value, judged) in enumerate(models):
        r = _mixture(ctx, ns, reps, kind, value, 3000 + 10 * j)
        r["judged"] = judged
        results.append(r)
    rules = ("adaptive", "fixed", "inverted")
    table = []
    for r in results:
        sm = r["summary"]
        row = {"model": r["model"], "judged": r["judged"], "budget": sm["fixed"]["budget"]}
        for key in ("worst_mean_l1", "worst_row_l1", "worst_mean_err"):
            row.update({f"{rule}_{key}": sm[rule][key] for rule in rules})
        row["adaptive_over_fixed"] = sm["adaptive"]["worst_mean_l1"] / sm["fixed"]["worst_mean_l1"]
        row["adaptive_over_fixed_gaussian_v"] = sm["adaptive"]["worst_mean_err"] / sm["fixed"]["worst_mean_err"]
        table.append(row)
    judged = [t for t in table if t["judged"]]
    ratio = max(t["adaptive_over_fixed"] for t in judged)
    control = min(t["inverted_worst_mean_l1"] / t["fixed_worst_mean_l1"] for t in judged)
    s = slack(at_most(ratio, 1.0, strict=True), at_least(control, 1.0, strict=True))
    wins = [t["model"] for t in table if t["adaptive_over_fixed"] < 1]
    return Measurement(
        measured=ratio, measured_label="worst-length mean ‖p − p̃‖₁, adaptive / fixed (max over the judged models)",
        bound=None, bound_label=f"paper: adaptive beats fixed, {UNKNOWN}", tight=None, passed=s >= 1, slack=s,
        details={"table": table, "mixtures": results, "ns": ns, "C": MIX_C, "alpha": MIX_ALPHA,
                 "adaptive_wins_in": wins,
                 "adaptive_wins_in_gaussian_v": [t["model"] for t in table if t["adaptive_over_fixed_gaussian_v"] < 1],
                 "regime": f"Gaussian logits σ = c√(2 ln n), c ∈ {{{', '.join(f'{c:g}' for c in MIX_JUDGED)}}} (n^{MIX_C:g}-"
                           f"sparse but not O(1)-sparse); windows {[S.adaptive_window(n, MIX_ALPHA, MIX_C) for n in ns]} "
                           f"against k = {table[0]['budget']:g}; reported beside: c ∈ "
                           f"{{{', '.join(f'{c:g}' for c in MIX_REPORTED)}}}, σ = {MIX_FIXED_SIGMA:g}",
                 "control": f"inverted window (budget to the short rows): worst-length error ≥ {control:.3g}× the fixed "
                            f"window's"})
