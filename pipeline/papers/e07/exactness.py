"""E07.C1: the exact gradient of L(X) and the low-rank chain (docs/theory/e07.md §E07.2–E07.3, check E07.C1 of §E07.5).

The exact gradient (AS24 Lemma C.8's formula) is compared with central differences of L, with and
without the 1/d inside the exponential. The chain of AS24 Appendix D (with the two index fixes of
docs/theory/e07.md §E07.3) is compared with the exact gradient over a grid of degrees g and entry
bounds B: its error should decay geometrically in g while B² is small against ln n and stall as B²
approaches ln n. The reference table of docs/theory/e07.md §E07.3 is reproduced (n = 300, d = 2), and the
chain with the paper's printed indices (Lemmas D.3 and D.5, together and one at a time) is measured
as the control.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from kernels import attention_gradient as K
from pipeline.papers import Context, Measurement, at_least, at_most, claim, slack

PAPER = "E07"
D = 2
#: the reference table of docs/theory/e07.md §E07.3: relative max error of the chain, n = 300, d = 2, Taylor degree g
REFERENCE = {0.3: {2: 3e-5, 4: 1e-8, 6: 2e-12}, 0.6: {2: 2e-4, 4: 1e-7, 6: 8e-11}, 1.0: {2: 6e-3, 4: 2e-4, 6: 5e-6}}
FD_REFERENCE = 3.5e-9      # the reference finite-difference error of the exact gradient (float64)
FD_LIMIT = 1e-6            # pass: relative error of the exact gradient against central differences
#: a reference cell is reproduced within this many decades of our median over seeds: the reference's distribution of
#: A3, E, Y and X is not stated, and the seeds alone spread a cell over about 1.3 decades
REF_DECADES = 2.0
SMALL, LARGE = 0.1, 0.7    # B²/ln n: "small" (geometric decay) and "approaching ln n" (stall)
Q_SMALL, Q_LARGE = 0.2, 0.3  # the per-degree error factor: at most Q_SMALL when B² is small, at least Q_LARGE near ln n
STALL_ERROR = 1e-4         # near ln n the error at the largest degree stays at least this
FLOOR = 1e-13              # errors below this are round-off and are left out of the decay fit
CONTROL_B, CONTROL_G = 0.3, 6


def instance(ctx: Context, stream: int, n: int, B: float, d: int = D):
    """A1, A2, A3, E uniform in [−B, B] (n×d), Y uniform in [−1, 1], X = I: A1X has entries uniform in [−B, B],
    the bounded-entries setting ‖A1X‖_∞ ≤ B, ‖A2‖_∞ ≤ B (docs/theory/e07.md §E07.5)."""
    g = ctx.generator(stream)

    def uniform(*shape, r=1.0):
        return (r * (2 * torch.rand(*shape, generator=g, dtype=torch.float64) - 1)).to(ctx.device, ctx.dtype)

    A1, A2, A3, E = (uniform(n, d, r=B) for _ in range(4))
    return A1, A2, A3, E, uniform(d, d), torch.eye(d, dtype=ctx.dtype, device=ctx.device)


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """max|approx − exact| / max|exact| (non-finite: ∞)."""
    e = float((approx - exact).abs().max() / exact.abs().max())
    return e if math.isfinite(e) else math.inf


def finite_differences(ctx: Context, n: int, points: int, h: float = 1e-5) -> list[dict]:
    """‖∇L − FD‖/‖∇L‖ with central differences of step h at random X (entries U[−1, 1]), B = 1, for scale = d and 1."""
    rows = []
    for scale in (float(D), 1.0):
        for k in range(points):
            A1, A2, A3, E, Y, _ = instance(ctx, 10 + k, n, 1.0)
            X = 2 * torch.rand(D, D, generator=ctx.generator(20 + k), dtype=torch.float64).to(A1) - 1
            g = K.gradient(A1, A2, A3, E, Y, X, scale)
            fd = torch.zeros_like(X)
            for i in range(D):
                for j in range(D):
                    dX = torch.zeros_like(X)
                    dX[i, j] = h
                    fd[i, j] = (K.loss(A1, A2, A3, E, Y, X + dX, scale) - K.loss(A1, A2, A3, E, Y, X - dX, scale)) / (2 * h)
            rows.append({"scale": scale, "point": k,
                         "rel_error": float(torch.linalg.matrix_norm(g - fd) / torch.linalg.matrix_norm(g))})
    return rows


def chain_error(ctx: Context, stream: int, n: int, B: float, g: int, indices: str = "fixed") -> float:
    """Relative max error of the chain (Taylor degree g, scale = d) against the exact gradient on one instance."""
    A1, A2, A3, E, Y, X = instance(ctx, stream, n, B)
    exact = K.gradient(A1, A2, A3, E, Y, X, float(D))
    return relative_error(K.lowrank_gradient(A1, A2, A3, E, Y, X, g, float(D), indices=indices), exact)


def decay_fit(degrees: list[int], errors: list[float]) -> dict:
    """Least squares of log10(error) against g over the errors above round-off: the per-degree factor q = 10^slope and R²."""
    pts = [(g, math.log10(e)) for g, e in zip(degrees, errors) if FLOOR < e < math.inf]
    if len(pts) < 3:
        return {"q": None, "r2": None, "points": len(pts)}
    x, y = np.array(pts).T
    slope, icpt = np.polyfit(x, y, 1)
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - (slope * x + icpt)) ** 2)) / ss if ss > 0 else 1.0
    return {"q": float(10.0 ** slope), "r2": r2, "points": len(pts)}


def error_grid(ctx: Context, n: int, Bs: list[float], degrees: list[int]) -> tuple[list[dict], list[dict]]:
    """The chain's error for every (B, g) on one instance per B, and the decay fit per B."""
    grid, fits = [], []
    for i, B in enumerate(Bs):
        errs = [chain_error(ctx, 100 + i, n, B, g) for g in degrees]
        for g, e in zip(degrees, errs):
            grid.append({"B": B, "B2_over_ln_n": B * B / math.log(n), "g": g, **K.ranks(D, g), "error": e})
        fits.append({"B": B, "B2_over_ln_n": B * B / math.log(n), **decay_fit(degrees, errs),
                     "error_at_largest_g": errs[-1]})
    return grid, fits


def reference_table(ctx: Context, n: int, seeds: int) -> list[dict]:
    """The reference table's nine cells: median, min and max over ``seeds`` instances, and the decades to the reference."""
    rows = []
    for B, cells in REFERENCE.items():
        for g, ref in cells.items():
            errs = [chain_error(ctx, 1000 + s, n, B, g) for s in range(seeds)]
            med = float(np.median(errs))
            rows.append({"B": B, "g": g, **K.ranks(D, g), "reference": ref, "median": med, "min": min(errs),
                         "max": max(errs), "decades_off": abs(math.log10(med / ref))})
    return rows


def control(ctx: Context, n: int) -> dict:
    """At B = 0.3, g = 6: the chain with each index convention against the exact gradient, and the memory-light
    step 5 against the dense one."""
    out = {ind: chain_error(ctx, 3000, n, CONTROL_B, CONTROL_G, ind) for ind in K.INDICES}
    A1, A2, A3, E, Y, X = instance(ctx, 3000, n, CONTROL_B)
    dense = K.lowrank_gradient(A1, A2, A3, E, Y, X, CONTROL_G, float(D))
    light = K.lowrank_gradient(A1, A2, A3, E, Y, X, CONTROL_G, float(D), memory_light=True)
    out["memory_light_vs_dense"] = relative_error(light, dense)
    return out


def margins(fd: list[dict], fits: list[dict], table: list[dict], ctrl: dict) -> list[float]:
    """The criterion's margins: differences, decay at small B², monotone factor, stall near ln n, reference, control."""
    out = [at_most(max(r["rel_error"] for r in fd), FD_LIMIT)]
    for f in fits:
        if f["B2_over_ln_n"] <= SMALL:
            out += [at_most(f["q"], Q_SMALL), at_least(f["r2"], 0.9)] if f["q"] is not None else [0.0]
        if f["B2_over_ln_n"] >= LARGE:
            out += [at_least(f["q"] if f["q"] is not None else 0.0, Q_LARGE), at_least(f["error_at_largest_g"], STALL_ERROR)]
    qs = [f["q"] for f in fits if f["q"] is not None]
    out += [at_least(b, 0.9 * a) for a, b in zip(qs, qs[1:])]
    out += [at_most(r["decades_off"], REF_DECADES) for r in table]
    cell = {(r["B"], r["g"]): r["median"] for r in table}  # the reference's structure: down in g, up in B
    out += [at_most(cell[B, g2], cell[B, g1], strict=True) for B in REFERENCE for g1, g2 in zip((2, 4), (4, 6))]
    out += [at_most(cell[B1, g], cell[B2, g], strict=True) for g in (2, 4, 6) for B1, B2 in zip((0.3, 0.6), (0.6, 1.0))]
    out += [at_least(ctrl[ind], 1e-2) for ind in K.INDICES if ind != "fixed"]
    out += [at_most(ctrl["fixed"], 1e-9), at_most(ctrl["memory_light_vs_dense"], 1e-12)]
    return out


@claim("E07.C1", PAPER, "the exact gradient dL/dX = A1ᵀpA2/d (AS24 Lemma C.8) and the low-rank chain "
       "(AS24 Lemmas D.2–D.6, indices fixed) whose error decays geometrically in the degree g while B² ≪ ln n",
       f"exact gradient vs central differences: relative error ≤ {FD_LIMIT:g} (scale d and 1); chain (Taylor, n = 300, "
       f"d = 2) vs exact: per-degree error factor q ≤ {Q_SMALL} with R² ≥ 0.9 where B²/ln n ≤ {SMALL}, q non-decreasing "
       f"in B (10% tolerance), q ≥ {Q_LARGE} and error at the largest g ≥ {STALL_ERROR:g} where B²/ln n ≥ {LARGE} "
       f"(stall); the reference table (B ∈ {{0.3, 0.6, 1}}, g ∈ {{2, 4, 6}}) reproduced: each cell within "
       f"{REF_DECADES:g} decades of the median over seeds, the medians decreasing in g and increasing in B; control: the paper's printed indices (both lemmas, and each alone) err by ≥ 1e-2 at "
       f"B = {CONTROL_B}, g = {CONTROL_G}, where the fixed chain errs by ≤ 1e-9")
def exactness(ctx: Context) -> Measurement:
    sz = ctx.sizes
    n = int(sz.e07_c1_n)
    fd = finite_differences(ctx, n, int(sz.e07_fd_points))
    grid, fits = error_grid(ctx, n, [float(b) for b in sz.e07_c1_Bs], [int(g) for g in sz.e07_c1_degrees])
    table = reference_table(ctx, n, int(sz.e07_c1_seeds))
    ctrl = control(ctx, n)
    s = slack(*margins(fd, fits, table, ctrl))
    fixed = next(r for r in table if r["B"] == 0.3 and r["g"] == 6)
    ratios = [f["B2_over_ln_n"] for f in fits]
    return Measurement(
        measured=fixed["median"], measured_label="median relative max error of the chain at B = 0.3, g = 6 (k3 = 840)",
        bound=None, bound_label="paper: 1/poly(n) error for B = o(√log n) and d = O(log n), constants unknown",
        tight=REFERENCE[0.3][6], passed=s >= 1, slack=s,
        details={"n": n, "d": D, "coefficients": "taylor", "scale": "d",
                 "regime": f"bounded entries: A1X, A2 uniform in [−B, B] (X = I), B ∈ {list(sz.e07_c1_Bs)}, "
                           f"B²/ln n from {min(ratios):.3f} to {max(ratios):.3f} (n = {n}, ln n = {math.log(n):.2f}); "
                           f"every logit in [−B², B²]",
                 "control": (f"the chain with the paper's indices differs from the exact gradient, the fixed one "
                             f"matches: at B = {CONTROL_B}, g = {CONTROL_G} the relative max error is "
                             f"{ctrl['paper']:.3g} with both printed lemmas (D.3: q = hcᵀ; D.5: column scaling), "
                             f"{ctrl['paper_D3']:.3g} with D.3 alone, {ctrl['paper_D5']:.3g} with D.5 alone, and "
                             f"{ctrl['fixed']:.2g} with both fixes; the memory-light step 5 equals the dense one to "
                             f"{ctrl['memory_light_vs_dense']:.1g}"),
                 "control_errors": ctrl,
                 "finite_differences": fd, "fd_max": max(r["rel_error"] for r in fd), "fd_reference": FD_REFERENCE,
                 "grid": grid, "fits": fits, "table": table})
