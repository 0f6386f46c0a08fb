"""E09.C1: the derivatives of the two-layer loss for every activation and both readings
(docs/theory/e09.md §E09.2, check E09.C1).

On the planted instance of each model (activation φ ∈ {relu, identity, exp}, reading composed or readout), at
points away from x* (where the residual, and so the curvature term, is not zero): the Jacobian ∂v/∂x = GC
against fourth-order central differences of v (h = 1e-4), the gradient against central differences of L (h = 1e-6), the
Hessian of the table against central differences of the gradient (h = 1e-5), the Hessian-vector product against
the Hessian, and the Gauss–Newton split MᵀM + CᵀW²C + curvature against the Hessian. The control is the
Hessian without the softmax's second-order term Cᵀ[diag(h) − huᵀ − uhᵀ]C (a chain rule that treats the
softmax as linear). Beside it, what the reading changes: ReLU against the identity on the same target.
"""
from __future__ import annotations

import torch
from torch import Tensor

from kernels import two_layer as K
from pipeline.papers import Context, Measurement, at_least, at_most, claim, holds, slack
from pipeline.papers.e09.instances import direction, planted
from pipeline.problems import TwoLayerRegression

PAPER = "E09"
THRESHOLD = 1e-6          # the pass criterion: relative error against differences
EXACT = 1e-10             # HVP and the Gauss–Newton split against the Hessian (the same formula, rearranged)
CONTROL = 1e-3            # the Hessian without the softmax term must be off by more than this
H_FIRST, H_SECOND, H_JACOBIAN = 1e-6, 1e-5, 1e-4
MODELS = [(a, r) for r in K.READINGS for a in K.ACTIVATIONS]


def rel(a: Tensor, b: Tensor) -> float:
    """max|a − b| / max|b|."""
    return float((a - b).abs().max() / b.abs().max())


def central(f, x: Tensor, h: float) -> Tensor:
    """Central differences of f at x along each coordinate, as columns (out × d)."""
    E = torch.eye(x.numel(), dtype=x.dtype, device=x.device)
    return torch.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in E], dim=-1)


def central4(f, x: Tensor, h: float) -> Tensor:
    """Fourth-order central differences (−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h))/(12h), as columns: for v, whose
    entries carry a large constant part in the read-out model (A·φ(u) with φ(u) ≈ 1 for exp), so that the
    round-off of a short step would dominate."""
    E = torch.eye(x.numel(), dtype=x.dtype, device=x.device)
    return torch.stack([(-f(x + 2 * h * e) + 8 * f(x + h * e) - 8 * f(x - h * e) + f(x - 2 * h * e)) / (12 * h)
                        for e in E], dim=-1)


def errors_at(problem, x: Tensor, v: Tensor) -> dict:
    """The relative errors of one model at one point, and the control's."""
    H = problem.hess(x)
    fd_H = central(problem.grad, x, H_SECOND)
    parts = problem.gauss_newton(x)
    split = parts.factor.gram() + parts.rest + parts.curvature
    no_softmax = H - K.softmax_curvature(problem.C, problem.A, problem.b, problem.w, x, problem.activation,
                                         problem.reading)
    return {"jacobian": rel(problem.jacobian(x), central4(lambda z: problem.forward(z).v, x, H_JACOBIAN)),
            "gradient": rel(problem.grad(x), central(problem.loss, x, H_FIRST)),
            "hessian": rel(H, 0.5 * (fd_H + fd_H.T)), "hvp": rel(problem.hvp(x, v), H @ v),
            "gauss_newton_split": rel(split, H), "control_no_softmax_term": rel(no_softmax, 0.5 * (fd_H + fd_H.T))}


def model_row(ctx: Context, act: str, reading: str) -> dict:
    """The worst errors of one model over ``e09_c1_points`` points x_true + 0.5·e (e a unit vector)."""
    problem = planted(ctx, ctx.seed, activation=act, reading=reading)
    row = {"activation": act, "reading": reading}
    for k in range(ctx.sizes.e09_c1_points):
        x = problem.x_true + 0.5 * direction(ctx, 10 + k, problem.dim)
        for key, val in errors_at(problem, x, direction(ctx, 50 + k, problem.dim)).items():
            row[key] = max(row.get(key, 0.0), val) if key != "control_no_softmax_term" else min(row.get(key, 1e300), val)
    row["min_pre_activation"] = float(problem.pre_activations(problem.x_true).min())
    return row


def relu_against_identity(ctx: Context, reading: str) -> dict:
    """ReLU and identity on the identity model's instance: the largest difference of their Hessians at the C1
    points, relative (0 where every pre-activation is positive: ReLU is then the identity)."""
    ident = planted(ctx, ctx.seed, activation="identity", reading=reading)
    relu = TwoLayerRegression(ident.C, ident.A, ident.b, ident.w, ident.x_true, activation="relu", reading=reading)
    gaps = [rel(relu.hess(x), ident.hess(x)) for x in
            (ident.x_true + 0.5 * direction(ctx, 10 + k, ident.dim) for k in range(ctx.sizes.e09_c1_points))]
    return {"reading": reading, "relu_vs_identity_hessian": max(gaps),
            "min_pre_activation": float(ident.pre_activations(ident.x_true).min())}


@claim("E09.C1", PAPER, "the gradient and Hessian of the two-layer loss L(x) = ½‖φ(A softmax(Cx)) − b‖² + "
       "½‖diag(w)Cx‖² (and of the read-out variant v = Aφ(softmax(Cx))) are ∇L = CᵀJg_u + CᵀW²Cx and "
       "∇²L = Cᵀ[JH_uuJ + diag(h) − huᵀ − uhᵀ]C + CᵀW²C; the Gauss–Newton part is MᵀM with M = GC",
       f"for φ ∈ {{relu, identity, exp}} and both readings, at points off x*: Jacobian, gradient and Hessian "
       f"within relative error {THRESHOLD:g} of central differences (Jacobian: fourth order, h = 1e-4; gradient: "
       f"h = 1e-6; Hessian: differences of the gradient, h = 1e-5); HVP and MᵀM + CᵀW²C + "
       f"curvature within {EXACT:g} of the Hessian; control: the Hessian without the softmax term "
       f"Cᵀ[diag(h) − huᵀ − uhᵀ]C is off by more than {CONTROL:g}")
def derivatives(ctx: Context) -> Measurement:
    rows = [model_row(ctx, a, r) for a, r in MODELS]
    readings = [relu_against_identity(ctx, r) for r in K.READINGS]
    worst = max(max(r["jacobian"], r["gradient"], r["hessian"]) for r in rows)
    exact = max(max(r["hvp"], r["gauss_newton_split"]) for r in rows)
    control = min(r["control_no_softmax_term"] for r in rows)
    s = slack(at_most(worst, THRESHOLD), at_most(exact, EXACT), at_least(control, CONTROL, strict=True),
              holds(len(rows) == 6))
    pre = min(r["min_pre_activation"] for r in rows if r["reading"] == "composed")
    return Measurement(
        measured=worst, measured_label="largest relative error of Jacobian, gradient, Hessian vs differences",
        bound=THRESHOLD, bound_label="pass threshold (relative error)", tight=3e-10, passed=s >= 1, slack=s,
        details={"table": rows, "readings": readings, "hvp_and_split_max": exact, "control_min": control,
                 "n": ctx.sizes.e09_n, "d": ctx.sizes.e09_d, "m": ctx.sizes.e09_m, "points": ctx.sizes.e09_c1_points,
                 "regime": f"planted instances n = {ctx.sizes.e09_n}, d = {ctx.sizes.e09_d}, m = {ctx.sizes.e09_m}, "
                           f"‖Cx_true‖∞ = 3, A = (N(0,1) + 1)√n: smallest pre-activation Au = {pre:.3g} (composed); "
                           f"points x_true + 0.5·e, where the residual and the curvature term are not zero",
                 "control": f"the Hessian without the softmax's second-order term Cᵀ[diag(h) − huᵀ − uhᵀ]C differs "
                            f"from the differences by at least {control:.3g} (relative) over the six models, against "
                            f"{worst:.2g} for the full formula"})
