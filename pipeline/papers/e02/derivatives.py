"""E02.C1: the derivatives of σ_*(x) and of L (docs/theory/e02.md §E02.2, check E02.C1).

On planted instances (n = 60, d = 5, noisy target and w > 0, so that the residual and the curvature term are not
zero) at points near x_true: the Jacobian −2ΛA(x) and the gradient against central differences (h = 1e-6), the
analytic Hessian (Gauss–Newton term + curvature term + regulariser) against automatic differentiation of the
definition σ_{*,i} = a_iᵀH⁻¹a_i/s_i² (written out here, independent of the kernel) and against differences of
the gradient (h = 1e-5), the HVP and the three-part split, and the identities Σσ_* = d, 0 ≤ σ_* ≤ 1, Λ1 = 0 and
σ_*(s) = σ_*(Ds) for sign flips D. At zero residual (realisable target, w = 0) the exact and Gauss–Newton
spectra coincide; the reference spectrum (n = 60, d = 5: 0.514 … 3.866) is compared with ours. The control is
the Jacobian with Λ replaced by Σ_* (the P∘P term dropped) and the Hessian without its curvature term.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from kernels import leverage_inversion as K
from pipeline.papers import Context, Measurement, at_least, at_most, claim, inside, slack
from pipeline.papers.e02.instances import gaussian_start, instance

PAPER = "E02"
FD_LIMIT = 1e-6          # the pass criterion for the differences (max relative error)
HESS_LIMIT = 1e-9        # the analytic Hessian against autograd (both exact: round-off only)
IDENTITY_LIMIT = 1e-10   # Σσ_* = d, Λ1 = 0, sign invariance, the split, the HVP
ZERO_RES_LIMIT = 1e-8    # exact and Gauss–Newton eigenvalues at a zero-residual point (relative)
CONTROL_MIN = 1e-2       # what the control must err by
REF_FACTOR = 2.0         # the reference's λ_min (λ_max) within [min/2, 2·max] of our instances' λ_min (λ_max)
#: the reference spectrum of ∇²L at a zero-residual point, n = 60, d = 5 (one instance, seed unknown)
REFERENCE_EIGS = [0.514, 0.939, 1.405, 1.920, 3.866]
FD_REFERENCE = 2e-10     # the reference's finite-difference error of the Jacobian
NEAR = 0.1               # the points x = x_true + NEAR·N(0, I)


def direct_loss(A, b, sigma, w, x):
    """L(x) from the definition σ_{*,i} = a_iᵀ(AᵀS⁻²A)⁻¹a_i/s_i² (for automatic differentiation)."""
    s = A @ x - b
    H = A.T @ (A / (s * s).unsqueeze(1))
    sig = torch.einsum("id,de,ie->i", A, torch.linalg.inv(H), A) / (s * s)
    r = sig - sigma
    Ax = A @ x
    return 0.5 * (r @ r) + 0.5 * ((w * w) @ (Ax * Ax))


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max|a − b| / max|b|."""
    return float((a - b).abs().max() / b.abs().max())


def central(f, x: torch.Tensor, h: float) -> torch.Tensor:
    """Central differences of f at x, one column per coordinate (stacked on the last axis)."""
    cols = []
    for k in range(x.shape[0]):
        e = torch.zeros_like(x)
        e[k] = h
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return torch.stack(cols, dim=-1)


def derivative_errors(ctx: Context, k: int, n: int, d: int, noise: float, w: float) -> dict:
    """The errors of every derivative and identity on the k-th noisy instance, and the control's."""
    inst = instance(ctx, k, n=n, d=d, noise=noise, w=w)
    p = inst.problem
    A, b, sigma, wv = p.A, p.b, p.sigma, p.w
    x = gaussian_start(ctx, 100 + k, inst.x_true, NEAR)
    s = K.residual(A, b, x)
    st = K.state(A, s)
    J = K.jacobian(A, s)
    fd_J = central(lambda z: K.leverage(A, K.residual(A, b, z)), x, 1e-6)
    g = K.gradient(A, b, sigma, wv, x)
    fd_g = central(lambda z: K.loss(A, b, sigma, wv, z), x, 1e-6)
    H = K.hessian(A, b, sigma, wv, x)
    H_auto = torch.autograd.functional.hessian(lambda z: direct_loss(A, b, sigma, wv, z), x)
    fd_H = central(lambda z: K.gradient(A, b, sigma, wv, z), x, 1e-5)
    v = torch.randn(d, generator=ctx.generator(200 + k), dtype=torch.float64).to(x)
    parts = p.gauss_newton(x)
    split = parts.factor.gram() + parts.rest + parts.curvature
    flip = torch.where(torch.arange(n, device=x.device) % 3 == 0, -1.0, 1.0).to(x)
    ones = torch.ones(n, dtype=x.dtype, device=x.device)
    wrong_J = -2.0 * torch.diag(st.sigma) @ st.As  # Λ replaced by Σ_*: the P∘P term dropped
    no_curvature = parts.factor.gram() + parts.rest
    return {"seed": inst.seed, "residual": float(torch.linalg.vector_norm(st.sigma - sigma)),
            "min_abs_s": float(s.abs().min()),
            "jacobian_fd": rel(J, fd_J), "gradient_fd": rel(g, fd_g), "hessian_autograd": rel(H, H_auto),
            "hessian_fd": rel(H, fd_H), "hvp": rel(K.hvp(A, b, sigma, wv, x, v), H @ v), "split": rel(split, H),
            "sum_minus_d": abs(float(st.sigma.sum()) - d), "sigma_min": float(st.sigma.min()),
            "sigma_max": float(st.sigma.max()), "lambda_rows": float((st.Lam @ ones).abs().max()),
            "sign_flip": float((K.leverage(A, flip * s) - st.sigma).abs().max()),
            "control_jacobian": rel(wrong_J, fd_J), "control_hessian": rel(no_curvature, H)}


def zero_residual_spectrum(ctx: Context, k: int, n: int, d: int) -> dict:
    """Exact and Gauss–Newton eigenvalues of ∇²L at x_true for a realisable target (w = 0)."""
    inst = instance(ctx, 1000 + k, n=n, d=d)
    p = inst.problem
    exact = torch.linalg.eigvalsh(p.hess(inst.x_true))
    G = p.gauss_newton(inst.x_true).factor.gram()
    gn = torch.linalg.eigvalsh(G)
    return {"seed": inst.seed, "exact": exact.tolist(), "gauss_newton": gn.tolist(),
            "gap": float((exact - gn).abs().max() / exact.abs().max()),
            "gradient_norm": float(torch.linalg.vector_norm(p.grad(inst.x_true)))}


ERRORS = ("jacobian_fd", "gradient_fd", "hessian_fd")
EXACT = ("hessian_autograd",)
IDENTITIES = ("hvp", "split", "sum_minus_d", "lambda_rows", "sign_flip")


@claim("E02.C1", PAPER, "∂σ_*/∂x = −2ΛA(x) with Λ = Σ_* − P∘P, ∇L = −2A(x)ᵀΛ(σ_* − σ) + AᵀW²Ax, and the exact Hessian "
       "4A(x)ᵀΛ²A(x) + Σ_i(σ_{*,i} − σ_i)∇²σ_{*,i} + AᵀW²A (arXiv 2404.13785; derived and confirmed here)",
       f"on planted instances (n = 60, d = 5, noisy target, w > 0) at x_true + {NEAR}·N(0, I): Jacobian, gradient and "
       f"Hessian against central differences with max relative error < {FD_LIMIT:g}; the analytic Hessian against "
       f"automatic differentiation of the definition < {HESS_LIMIT:g}; HVP, the split GᵀG + AᵀW²A + C, |Σσ_* − d|, "
       f"‖Λ1‖_∞ and the change of σ_* under sign flips of s below {IDENTITY_LIMIT:g}, 0 ≤ σ_* ≤ 1; at zero residual "
       f"the exact and Gauss–Newton eigenvalues agree to {ZERO_RES_LIMIT:g} and the reference's λ_min and λ_max (0.514, "
       f"3.866) lie within our instances' range of λ_min and λ_max widened by a factor {REF_FACTOR:g}; control: the Jacobian with Λ replaced by Σ_* and "
       f"the Hessian without its curvature term err by ≥ {CONTROL_MIN:g}")
def derivatives(ctx: Context) -> Measurement:
    sz = ctx.sizes
    n, d, seeds = int(sz.e02_n), int(sz.e02_d), int(sz.e02_c1_seeds)
    rows = [derivative_errors(ctx, k, n, d, float(sz.e02_noise), float(sz.e02_w)) for k in range(seeds)]
    spectra = [zero_residual_spectrum(ctx, k, n, d) for k in range(seeds)]
    worst = {key: max(r[key] for r in rows) for key in (*ERRORS, *EXACT, *IDENTITIES, "sigma_max")}
    worst["sigma_min"] = min(r["sigma_min"] for r in rows)
    ctrl = {key: min(r[key] for r in rows) for key in ("control_jacobian", "control_hessian")}
    lows, highs = [sp["exact"][0] for sp in spectra], [sp["exact"][-1] for sp in spectra]
    lam_min, lam_max = float(np.median(lows)), float(np.median(highs))
    gap = max(sp["gap"] for sp in spectra)
    m = [at_most(worst[key], FD_LIMIT, strict=True) for key in ERRORS]
    m += [at_most(worst[key], HESS_LIMIT) for key in EXACT]
    m += [at_most(worst[key], IDENTITY_LIMIT) for key in IDENTITIES]
    m += [at_least(worst["sigma_min"], 0.0), at_most(worst["sigma_max"], 1.0), at_most(gap, ZERO_RES_LIMIT)]
    m += [inside(math.log(REFERENCE_EIGS[0]), math.log(min(lows) / REF_FACTOR), math.log(max(lows) * REF_FACTOR)),
          inside(math.log(REFERENCE_EIGS[-1]), math.log(min(highs) / REF_FACTOR), math.log(max(highs) * REF_FACTOR))]
    m += [at_least(ctrl[key], CONTROL_MIN) for key in ctrl]
    s = slack(*m)
    measured = max(worst[key] for key in ERRORS)
    table = [{"check": key, "max_over_instances": worst[key],
              "limit": FD_LIMIT if key in ERRORS else HESS_LIMIT if key in EXACT else IDENTITY_LIMIT}
             for key in (*ERRORS, *EXACT, *IDENTITIES)]
    table += [{"check": "zero_residual_exact_vs_gauss_newton", "max_over_instances": gap, "limit": ZERO_RES_LIMIT},
              {"check": "control_jacobian (Λ → Σ_*), smallest", "max_over_instances": ctrl["control_jacobian"],
               "limit": f"≥ {CONTROL_MIN:g}"},
              {"check": "control_hessian (no curvature term), smallest", "max_over_instances": ctrl["control_hessian"],
               "limit": f"≥ {CONTROL_MIN:g}"}]
    return Measurement(
        measured=measured, measured_label="largest relative error of the Jacobian, gradient and Hessian against central differences",
        bound=None, bound_label="derivatives derived here (the paper's are not confirmed); pass: < 1e-6",
        tight=FD_REFERENCE, passed=s >= 1, slack=s,
        details={"n": n, "d": d, "instances": rows, "spectra": spectra, "table": table,
                 "zero_residual": {"median_lambda_min": lam_min, "median_lambda_max": lam_max,
                                   "lambda_min_range": [min(lows), max(lows)], "lambda_max_range": [min(highs), max(highs)],
                                   "reference": REFERENCE_EIGS, "max_gap": gap},
                 "regime": f"planted instances, n = {n}, d = {d}, |s_true| ~ U[1, 3]; at the test points min|s_i| "
                           f"from {min(r['min_abs_s'] for r in rows):.3g}, residual ‖σ_* − σ‖ from "
                           f"{min(r['residual'] for r in rows):.3g} to {max(r['residual'] for r in rows):.3g} (noise "
                           f"{float(sz.e02_noise):g}·d/n, w = {float(sz.e02_w):g}); zero-residual spectra on "
                           f"realisable targets",
                 "control": f"the Jacobian with Λ replaced by Σ_* (P∘P dropped) differs from the differences by at "
                            f"least {ctrl['control_jacobian']:.3g}; the Hessian without its curvature term differs from "
                            f"the exact one by at least {ctrl['control_hessian']:.3g} at these nonzero-residual points"})
