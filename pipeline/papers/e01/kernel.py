"""E01.C1: the empirical NTK at initialisation against its infinite-width limit (docs/theory/e01.md §E01.2,
check E01.C1).

n = 20 unit inputs in d = 4, W(0) ~ N(0, σ²) with σ = 1, output signs a i.i.d. ±1, κ_m = √m. For every width m
(256 to 16384) and several initialisations the closed-form NTK H(W(0)) (nd×nd) is compared with the limit
H* = K ⊗ I_d, K_ij = (x_i·x_j)exp(σ² x_i·x_j):

- the relative error of the diagonal blocks ‖H_ll − K‖_F/‖K‖_F (averaged over l) is fitted as ∝ m^slope (a
  Monte-Carlo average over m neurons: slope −½);
- λ_min of the diagonal blocks is within 10 % of λ_min(K) from m = 4096 on (median over blocks and draws);
- the closed form equals the per-sample Jacobian NTK of torch.func (vmap of jacrev) to round-off.

Controls: the closed form without the centring term ⟨a_l, S(x)⟩ (a wrong derivative) disagrees with the
Jacobian NTK; the limit kernel with a wrong σ² (2σ²) is not what H approaches (the error stops decreasing).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from kernels import ntk as K
from pipeline.papers import Context, Measurement, at_most, claim, holds, inside, slack
from pipeline.papers.e01.instances import decade_ceiling, fit, initialisation, sphere_data, tensor

PAPER = "E01"
SLOPE = -0.5
SLOPE_BAND = (-0.62, -0.38)     # fitted slope of the block error against m
LAMBDA_TOL = 0.10               # λ_min of the blocks within 10 % of λ_min(K) for m ≥ e01_c1_lambda_width
AUTOGRAD_TOL = 1e-12            # closed form against torch.func, relative to max|H|
WRONG_SIGMA2 = 2.0              # the control's σ² factor
CONTROL_FLOOR = 0.2             # the control's error at the largest width stays above this


def measure(ctx: Context, X: torch.Tensor, K_lim: torch.Tensor, K_wrong: torch.Tensor, m: int, draw: int) -> dict:
    """One initialisation of width m: block errors against K and the wrong-σ² kernel, off-diagonal size, λ_min."""
    s = ctx.sizes
    d = X.shape[1]
    W0, a = initialisation(ctx, d, m, s.e01_sigma, draw)
    H = K.ntk(W0, X, a, math.sqrt(m))
    B = K.diagonal_blocks(H, d)
    kn = float(torch.linalg.vector_norm(K_lim))
    err = float(torch.linalg.vector_norm(B - K_lim) / (math.sqrt(d) * kn))
    wrong = float(torch.linalg.vector_norm(B - K_wrong) / (math.sqrt(d) * torch.linalg.vector_norm(K_wrong)))
    off = H.clone()
    for l in range(d):
        off[l::d, l::d] = 0
    lam_k = float(torch.linalg.eigvalsh(K_lim)[0])
    blocks = [float(torch.linalg.eigvalsh(b)[0]) / lam_k for b in B]
    return {"m": m, "draw": draw, "block_error": err, "wrong_sigma_error": wrong,
            "off_diagonal": float(torch.linalg.vector_norm(off)) / (math.sqrt(d * (d - 1)) * kn),
            "block_lambda_ratios": blocks, "full_lambda_ratio": float(torch.linalg.eigvalsh(H)[0]) / lam_k}


def autograd_check(ctx: Context, X: torch.Tensor, m: int) -> dict:
    """max|H_closed − H_torch.func|/max|H| for the centred closed form and for the control without centring."""
    W0, a = initialisation(ctx, X.shape[1], m, ctx.sizes.e01_sigma, 99)
    kappa = math.sqrt(m)
    ref = K.ntk_autograd(W0, X, a, kappa)
    scale = float(ref.abs().max())
    return {"m": m, "closed_vs_autograd": decade_ceiling(float((K.ntk(W0, X, a, kappa) - ref).abs().max()) / scale),
            "uncentred_vs_autograd": float((K.ntk(W0, X, a, kappa, centred=False) - ref).abs().max()) / scale}


def summary(runs: list[dict]) -> list[dict]:
    rows = []
    for m in sorted({r["m"] for r in runs}):
        at = [r for r in runs if r["m"] == m]
        lam = [v for r in at for v in r["block_lambda_ratios"]]
        rows.append({"m": m, "block_error": float(np.mean([r["block_error"] for r in at])),
                     "block_error_sqrt_m": float(np.mean([r["block_error"] for r in at])) * math.sqrt(m),
                     "wrong_sigma_error": float(np.mean([r["wrong_sigma_error"] for r in at])),
                     "off_diagonal": float(np.mean([r["off_diagonal"] for r in at])),
                     "block_lambda_median": float(np.median(lam)), "block_lambda_min": float(min(lam)),
                     "block_lambda_max": float(max(lam)),
                     "full_lambda_median": float(np.median([r["full_lambda_ratio"] for r in at]))})
    return rows


@claim("E01.C1", PAPER, "at initialisation the NTK of the two-layer softmax network (κ_m = √m) concentrates around "
       "H* = I_d ⊗ K, K_ij = (x_i·x_j)exp(σ² x_i·x_j), with λ_min(H*) = λ_min(K) > 0 for distinct unit inputs",
       f"n = 20, d = 4, σ = 1: the mean relative error ‖H_ll − K‖_F/‖K‖_F of the diagonal blocks over ≥ 5 widths m "
       f"fitted as m^slope with slope in [{SLOPE_BAND[0]}, {SLOPE_BAND[1]}] (theory −½, 95% CI reported); the median "
       f"λ_min of the diagonal blocks within {LAMBDA_TOL:.0%} of λ_min(K) at every m ≥ 4096; the closed-form NTK equals "
       f"the torch.func per-sample Jacobian NTK to {AUTOGRAD_TOL:g}; controls: without the centring term ⟨a_l, S⟩ the "
       f"closed form misses the Jacobian NTK, and K with σ² → {WRONG_SIGMA2:g}σ² stays ≥ {CONTROL_FLOOR} away at the "
       f"largest m")
def kernel_at_initialisation(ctx: Context) -> Measurement:
    s = ctx.sizes
    n, d, sigma2 = int(s.e01_c1_n), int(s.e01_d), float(s.e01_sigma) ** 2
    X = tensor(ctx, sphere_data(ctx, n, d, 1)["X"])
    K_lim, K_wrong = K.limit_kernel(X, sigma2), K.limit_kernel(X, WRONG_SIGMA2 * sigma2)
    runs = [measure(ctx, X, K_lim, K_wrong, int(m), k) for m in s.e01_c1_widths for k in range(int(s.e01_c1_seeds))]
    rows = summary(runs)
    law = fit([r["m"] for r in runs], [r["block_error"] for r in runs])
    wrong = fit([r["m"] for r in rows], [r["wrong_sigma_error"] for r in rows])
    checks = [autograd_check(ctx, X, int(m)) for m in s.e01_c1_check_widths]
    wide = [r for r in rows if r["m"] >= s.e01_c1_lambda_width]
    worst_lam = max((abs(r["block_lambda_median"] - 1) for r in wide), default=math.inf)
    closed = max(c["closed_vs_autograd"] for c in checks)
    uncentred = min(c["uncentred_vs_autograd"] for c in checks)
    ev = torch.linalg.eigvalsh(K_lim)
    sl = slack(holds(len(rows) >= 5), inside(law["slope"], *SLOPE_BAND), holds(bool(wide)),
               at_most(worst_lam, LAMBDA_TOL), at_most(closed, AUTOGRAD_TOL), holds(uncentred > 1e-3),
               holds(rows[-1]["wrong_sigma_error"] >= CONTROL_FLOOR))
    G = X @ X.T
    offd = G[~torch.eye(n, dtype=torch.bool, device=G.device)]
    return Measurement(
        measured=law["slope"], measured_label="fitted slope of ‖H_ll(W(0)) − K‖_F/‖K‖_F against the width m",
        bound=None, bound_label="paper: the NTK concentrates at width poly(n, d)·exp(O(B)) (rate in m unknown; "
                                "a Monte-Carlo average over m neurons gives m^(−1/2))",
        tight=SLOPE, passed=sl >= 1, slack=sl,
        details={"n": n, "d": d, "sigma": float(s.e01_sigma), "seeds": int(s.e01_c1_seeds), "runs": runs, "table": rows,
                 "fit": law, "fit_wrong_sigma": wrong, "slope_band": list(SLOPE_BAND), "autograd": checks,
                 "lambda_min_K": float(ev[0]), "lambda_max_K": float(ev[-1]), "kappa_K": float(ev[-1] / ev[0]),
                 "lambda_width": int(s.e01_c1_lambda_width), "worst_lambda_deviation": worst_lam,
                 "regime": (f"n = {n} unit inputs in d = {d} (largest |x_i·x_j| off the diagonal "
                            f"{float(offd.abs().max()):.3f}), σ = {s.e01_sigma:g}: λ_min(K) = {float(ev[0]):.4g}, "
                            f"κ(K) = {float(ev[-1] / ev[0]):.4g}; entry bound at W(0) max|w_r·x_i| ≈ σ√(2 ln(nm)) = "
                            f"{s.e01_sigma * math.sqrt(2 * math.log(n * max(s.e01_c1_widths))):.2f} at the largest m; "
                            f"the off-diagonal blocks (outputs l ≠ l') shrink alike: mean ‖H_ll'‖_F/‖K‖_F = "
                            f"{rows[0]['off_diagonal']:.3g} at m = {rows[0]['m']}, {rows[-1]['off_diagonal']:.3g} at "
                            f"m = {rows[-1]['m']}; λ_min of the whole H(W(0)) (output blocks coupled) is "
                            f"{rows[-1]['full_lambda_median']:.2f}·λ_min(K) at m = {rows[-1]['m']}"),
                 "control": (f"closed form without the centring term ⟨a_l, S(x)⟩: max|H − H_torch.func|/max|H| = "
                             f"{uncentred:.3g} (the centred form: ≤ {closed:.0e}); limit kernel with σ² → "
                             f"{WRONG_SIGMA2:g}σ²: block error {rows[0]['wrong_sigma_error']:.3g} at m = {rows[0]['m']} and "
                             f"{rows[-1]['wrong_sigma_error']:.3g} at m = {rows[-1]['m']} (fitted slope "
                             f"{wrong['slope']:.2f}: it does not decay)")})
