"""An example paper for softmax-lab, registered through the entry-point group ``softmax_lab.papers``.

X1 states one lemma about the softmax map f(u) = exp(u)/⟨exp(u), 1⟩: its Jacobian
J(u) = diag(f) − ffᵀ has spectral norm at most 1/2, so f is ½-Lipschitz in the Euclidean norm
(the bound is attained when two entries of f equal ½). The claim ``X1.C1`` checks it on random
logits, with a control that a wrong Jacobian (diag(f), the mean term dropped) breaks it; its
study ``x1_newton_n`` runs the lab's own Newton method on P1 instances of growing n.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.core import style
from pipeline.core.spec import spec
from pipeline.papers import Context, Measurement, claim, figure, paper


@dataclass
class Sizes:
    x1_points: int = spec(4000, ge=10)   # random logit vectors per length n
    x1_scale: float = spec(8.0, gt=0.0)  # logits drawn N(0, scale²)


PAPER = paper("X1", title="The softmax map is ½-Lipschitz (an example paper)", authors="softmax-lab",
              arxiv="none", sizes=Sizes, profiles={"quick": {"x1_points": 1000}, "ci": {"x1_points": 200}},
              config_dir=Path(__file__).parent / "conf", module=__name__)

NS = (2, 3, 10, 100)


def jacobian_norm(u: torch.Tensor, wrong: bool = False) -> float:
    """‖diag(f) − ffᵀ‖₂ at logits u (``wrong``: ‖diag(f)‖₂, the Jacobian without its mean term)."""
    f = torch.softmax(u, dim=0)
    J = torch.diag(f) if wrong else torch.diag(f) - torch.outer(f, f)
    return float(torch.linalg.matrix_norm(J, ord=2))


def _worst(ctx: Context, n: int, wrong: bool = False) -> float:
    g = ctx.generator(n)
    worst = 0.0
    for _ in range(ctx.sizes.x1_points):
        u = ctx.sizes.x1_scale * torch.randn(n, generator=g, dtype=torch.float64)
        worst = max(worst, jacobian_norm(u, wrong))
    return worst


@claim("X1.C1", PAPER.id, "‖∇softmax(u)‖₂ = ‖diag(f) − ffᵀ‖₂ ≤ 1/2 for every u (X1, Lemma 1)",
       "max over random logits ≤ 1/2 (1e-12 slack) and ≥ 0.49 (the bound is tight); the Jacobian without "
       "its mean term (control) exceeds 1/2")
def jacobian_bound(ctx: Context) -> Measurement:
    """X1, Lemma 1: the softmax Jacobian's spectral norm over random logits, per length n."""
    by_n = {str(n): _worst(ctx, n) for n in NS}
    control = max(_worst(ctx, n, wrong=True) for n in NS)
    worst = max(by_n.values())
    passed = worst <= 0.5 + 1e-12 and worst >= 0.49 and control > 0.5
    return Measurement(measured=worst, measured_label="max ‖J(u)‖₂ found", passed=passed, bound=0.5,
                       bound_label="the lemma's 1/2", tight=0.5, slack=0.5 / worst,
                       details={"by_n": by_n, "control_max": control, "points": ctx.sizes.x1_points})


@figure("X1.C1")
def jacobian_figure(v: dict, path: Path) -> None:
    """The largest Jacobian norm found per n, against the bound 1/2 and the control."""
    d = v["details"]
    ns = [int(n) for n in d["by_n"]]
    fig, ax = style.axes("X1.C1: largest ‖diag(f) − ffᵀ‖₂ over random logits", "n (length of u)", "max ‖J(u)‖₂")
    ax.plot(ns, [d["by_n"][str(n)] for n in ns], marker="o", label="found")
    ax.axhline(0.5, color="k", ls="--", lw=1, label="bound 1/2")
    ax.axhline(d["control_max"], color="#c44e52", ls=":", lw=1, label="control: diag(f) alone")
    ax.set_xscale("log")
    style.plain_ticks(ax, ns)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    style.save(fig, path)
