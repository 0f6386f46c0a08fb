"""E08.C1: the geometry of the framework's step (docs/theory/e08.md §2, check E08.C1).

For g = ∇f + 2|⟨v,∇f⟩|/‖v‖² v and c² = cos²∠(v, ∇f): an accelerating step (⟨v,∇f⟩ ≥ 0) has
⟨g,∇f⟩ = (1+2c²)‖∇f‖² and ‖g‖² = (1+8c²)‖∇f‖²; a decelerating one (⟨v,∇f⟩ < 0) is the Householder reflection of ∇f
across v^⊥, so ‖g‖ = ‖∇f‖ and ⟨g,∇f⟩ = (1−2c²)‖∇f‖². Checked on random pairs (∇f, v) in several dimensions with c²
spread over [0, 1] (v = a∇f/‖∇f‖ + z/‖z‖ for a random a), and on the steps the optimizer actually takes on the
check's finite sum from its minimiser (SGDm and Adam in framework form: the direction applied, the parameter's
move −η g_t). The
controls: the coefficient 1 in place of 2, and no absolute value, must break the identities.
"""
from __future__ import annotations

import torch

from kernels import framework as fw
from pipeline.papers import Context, Measurement, at_least, at_most, claim, slack
from pipeline.papers.e08.instances import decade, instance, rounded, sig
from pipeline.solvers.accelerating import FrameworkOptimizer

PAPER = "E08"
TOL = 1e-12              # the identities hold to this (relative to ‖∇f‖², i.e. round-off)
CONTROL_FLOOR = 1e-3     # a wrong coefficient or a missing absolute value moves some identity by at least this
NAMES = ("accelerating_inner", "accelerating_norm", "decelerating_inner", "decelerating_norm", "decelerating_householder")


def factor_one(grad: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Control: the coefficient |⟨v,∇f⟩|/‖v‖² (1 in place of 2)."""
    return grad + 0.5 * fw.coefficient(grad, v) * v


def signed(grad: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Control: 2⟨v,∇f⟩/‖v‖² without the absolute value (a decelerating v is added, not reflected)."""
    return grad + (2.0 * float(v @ grad) / float(v @ v)) * v


def pairs(ctx: Context, d: int, n: int, stream: int):
    """n pairs (∇f, v) in dimension d: ∇f Gaussian, v = a·∇f/‖∇f‖ + z/‖z‖ with a ~ N(0, 2²), so that both signs of
    ⟨v,∇f⟩ and every c² in [0, 1] occur."""
    g = ctx.generator(stream)
    for _ in range(n):
        grad = torch.randn(d, generator=g, dtype=torch.float64)
        z = torch.randn(d, generator=g, dtype=torch.float64)
        a = 2.0 * float(torch.randn(1, generator=g, dtype=torch.float64))
        v = a * grad / torch.linalg.vector_norm(grad) + z / torch.linalg.vector_norm(z)
        yield grad.to(ctx.device, ctx.dtype), v.to(ctx.device, ctx.dtype)


def random_check(ctx: Context, dims: list[int], draws: int) -> tuple[list[dict], list[dict], dict]:
    """Per dimension, the largest residual of each identity (and of the two controls), and the c² points drawn."""
    rows, scatter, controls = [], [], {"factor_1": 0.0, "no_absolute_value": 0.0}
    for i, d in enumerate(dims):
        worst = dict.fromkeys(NAMES, 0.0)
        c2s = []
        for grad, v in pairs(ctx, d, draws, 100 + i):
            res = fw.identity_residuals(grad, v)
            for k in NAMES:
                worst[k] = max(worst[k], res[k])
            c2 = fw.cos2(grad, v)
            c2s.append(c2)
            one = fw.identity_residuals(grad, v, factor_one)
            noabs = fw.identity_residuals(grad, v, signed)
            controls["factor_1"] = max(controls["factor_1"], max(one.values()))
            controls["no_absolute_value"] = max(controls["no_absolute_value"], max(noabs.values()))
            if len(scatter) < 400:
                scatter.append({"d": d, "c2": sig(c2, 4), "residual": decade(max(res.values())),
                                "factor_1": sig(max(one.values()), 3), "no_absolute_value": sig(max(noabs.values()), 3)})
        rows.append({"d": d, "draws": draws, "c2_min": min(c2s), "c2_max": max(c2s),
                     **{k: decade(v) for k, v in worst.items()}, "max": decade(max(worst.values()))})
    return rows, scatter, controls


def optimizer_check(ctx: Context, steps: int) -> list[dict]:
    """The identities on the steps FrameworkOptimizer takes (SGDm and Adam, framework form, batch 8, the check's
    finite sum from its minimiser x*, where the batch gradients are mostly noise so that both kinds of step occur,
    η = 0.2): the logged c² and kind against ∇f_t and the direction applied, and the move of x."""
    inst = instance(ctx)
    prob = inst.problem
    out = []
    for base in ("sgdm", "adam"):
        x = torch.nn.Parameter(inst.x_star.clone())
        gen = ctx.generator(200)
        opt = FrameworkOptimizer([x], lr=0.2, base=base, accelerate="framework")
        worst = {"identity": 0.0, "move": 0.0}
        kinds = {fw.ACCELERATING: 0, fw.DECELERATING: 0, fw.PLAIN: 0}
        for _ in range(steps):
            batch = torch.randint(prob.m, (8,), generator=gen).to(ctx.device)
            _, grad = prob.batch_loss_grad(x.detach(), batch)
            before = x.detach().clone()
            x.grad = grad
            opt.step()
            st = opt.last
            kinds[st.kind] += 1
            gg = float(grad @ grad)
            if st.kind == fw.ACCELERATING:
                errs = (abs(float(st.g @ grad) - (1 + 2 * st.c2) * gg), abs(float(st.g @ st.g) - (1 + 8 * st.c2) * gg))
            elif st.kind == fw.DECELERATING:
                errs = (abs(float(st.g @ grad) - (1 - 2 * st.c2) * gg), abs(float(st.g @ st.g) - gg))
            else:
                errs = (float(torch.linalg.vector_norm(st.g - grad)) ** 2,)
            worst["identity"] = max(worst["identity"], max(errs) / gg)
            move = float(torch.linalg.vector_norm((before - x.detach()) - 0.2 * st.g))
            worst["move"] = max(worst["move"], move / (float(torch.linalg.vector_norm(before)) + 0.2 * float(torch.linalg.vector_norm(st.g))))
        out.append({"base": base, "steps": steps, "accelerating": kinds[fw.ACCELERATING],
                    "decelerating": kinds[fw.DECELERATING], "plain": kinds[fw.PLAIN],
                    "identity": decade(worst["identity"]), "move": decade(worst["move"])})
    return out


@claim("E08.C1", PAPER, "For g = ∇f + 2|⟨v,∇f⟩|/‖v‖² v: an accelerating step (⟨v,∇f⟩ ≥ 0) has ⟨g,∇f⟩ = (1+2c²)‖∇f‖² and "
       "‖g‖² = (1+8c²)‖∇f‖²; a decelerating one is the Householder reflection of ∇f across v^⊥, ‖g‖ = ‖∇f‖ and "
       "⟨g,∇f⟩ = (1−2c²)‖∇f‖² (c = cos∠(v,∇f))",
       f"random pairs in d ∈ {{2, 10, 50, 1000}} with c² over [0, 1] and both signs, and the steps of the framework "
       f"optimizer (SGDm, Adam) on the check's finite sum: every identity to {TOL:g} (relative to ‖∇f‖²), the parameter "
       f"moves by −ηg_t; controls: the coefficient 1 in place of 2, and no absolute value, break an identity by "
       f"≥ {CONTROL_FLOOR:g}")
def identities(ctx: Context) -> Measurement:
    sz = ctx.sizes
    rows, scatter, controls = random_check(ctx, [int(d) for d in sz.e08_c1_dims], int(sz.e08_c1_draws))
    steps = optimizer_check(ctx, int(sz.e08_c1_steps))
    worst = max(r["max"] for r in rows)
    worst_steps = max(max(r["identity"], r["move"]) for r in steps)
    m = [at_most(worst, TOL), at_most(worst_steps, TOL), at_least(controls["factor_1"], CONTROL_FLOOR),
         at_least(controls["no_absolute_value"], CONTROL_FLOOR)]
    m += [at_least(float(r["decelerating"]), 1.0) for r in steps] + [at_least(float(r["accelerating"]), 1.0) for r in steps]
    s = slack(*m)
    return Measurement(
        measured=max(worst, worst_steps), measured_label="largest relative residual of the four identities (decade ceiling)",
        bound=TOL, bound_label="exact identities: round-off, ≤ 1e-12", tight=None, passed=s >= 1, slack=s,
        details=rounded({"table": rows, "optimizer_steps": steps, "scatter": scatter,
                         "controls": {k: decade(v) for k, v in controls.items()}, "tol": TOL,
                         "regime": (f"{sum(r['draws'] for r in rows)} random pairs, c² from "
                                    f"{min(r['c2_min'] for r in rows):.1e} to {max(r['c2_max'] for r in rows):.3f}; "
                                    f"optimizer steps: " + ", ".join(f"{r['base']} {r['accelerating']} accelerating / "
                                                                     f"{r['decelerating']} decelerating / {r['plain']} plain"
                                                                     for r in steps)),
                         "control": (f"coefficient 1 instead of 2: largest residual {decade(controls['factor_1']):.0e}; "
                                     f"⟨v,∇f⟩ without the absolute value (a decelerating v is then added, not "
                                     f"reflected): {decade(controls['no_absolute_value']):.0e}")}))
