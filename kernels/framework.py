"""The unified framework of first-order steps of Deng, Song and Yang (arXiv 2402.01515; docs/theory/e08.md §1–§3).

A method with stochastic gradient ∇f_t and an "acceleration" direction v_t takes the step x_{t+1} = x_t − η g_t with

    g_t = ∇f_t + 2|⟨v_t, ∇f_t⟩| / ‖v_t‖² · v_t                                   (docs/theory/e08.md §1)

With c_t² = cos²∠(v_t, ∇f_t) (docs/theory/e08.md §2):

* accelerating step, ⟨v_t, ∇f_t⟩ ≥ 0:  ⟨g_t, ∇f_t⟩ = (1 + 2c_t²)‖∇f_t‖²,  ‖g_t‖² = (1 + 8c_t²)‖∇f_t‖²;
* decelerating step, ⟨v_t, ∇f_t⟩ < 0:  g_t is the Householder reflection of ∇f_t across v_t^⊥, so
  ‖g_t‖ = ‖∇f_t‖ and ⟨g_t, ∇f_t⟩ = (1 − 2c_t²)‖∇f_t‖².

A step with no direction (v_t = 0: plain SGD, the first step of a momentum method) is a *plain* step, g_t = ∇f_t,
counted neither as accelerating nor as decelerating. Reject Accelerating (RA) turns a decelerating step into a plain
one; Random Vector Accelerating (RVA) draws v_t from a Gaussian and orients it along ∇f_t (docs/theory/e08.md §4).

The main bound (docs/theory/e08.md §3), with k accelerating and l decelerating steps out of T, u_a ≤ c² ≤ B on the
accelerating steps and c² ≤ u_b on the decelerating ones, Δ = f(x_0) − f_min, smoothness L and E‖∇f_t‖² ≤ σ²:

    min_t E‖∇f(x_t)‖² ≤ (Δ + (L η²/2) σ² (T + 8kB)) / (η (T + 2k u_a − 2l u_b))          (any step η)
                      = √(T + 8kB)/(T + 2k u_a − 2l u_b) · √(2 Δ L σ²)   at η = √(2Δ/(Lσ²(T + 8kB))).

Pure functions of tensors and numbers; the direction is computed in the dtype and on the device of its inputs.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

__all__ = ["ACCELERATING", "DECELERATING", "PLAIN", "RVA_RULES", "FrameworkStep", "cos2", "coefficient",
           "framework_direction", "householder", "framework_step", "identity_residuals", "rva_direction",
           "bound_at_step", "theorem_bound", "theorem_step", "bound_parts"]

#: the kind of a step (docs/theory/e08.md §2): ⟨v_t, ∇f_t⟩ ≥ 0, < 0, or no direction v_t at all
ACCELERATING, DECELERATING, PLAIN = 1, -1, 0
#: readings of RVA (docs/theory/e08.md §3, [R?]): ``sign``, the ledger's: v ~ N(0, I), v_t = sign(⟨v, ∇f_t⟩)·v;
#: ``mix``: v = v̂_own + s·z/√D (the method's own direction, normalised, plus a scaled Gaussian), oriented the same way
RVA_RULES = ("sign", "mix")


class FrameworkStep(NamedTuple):
    """One step of the framework: the direction g_t, ⟨v_t, ∇f_t⟩, c_t², the kind (ACCELERATING, DECELERATING,
    PLAIN) of the step *taken*, and whether RA rejected a decelerating direction."""

    g: Tensor
    ip: float
    c2: float
    kind: int
    rejected: bool


def _dots(grad: Tensor, v: Tensor) -> tuple[float, float, float]:
    return float(torch.dot(v, grad)), float(torch.dot(v, v)), float(torch.dot(grad, grad))


def cos2(grad: Tensor, v: Tensor) -> float:
    """c² = ⟨v, ∇f⟩² / (‖v‖² ‖∇f‖²) (docs/theory/e08.md §2); 0 when either vector is 0."""
    ip, vv, gg = _dots(grad, v)
    return ip * ip / (vv * gg) if vv > 0 and gg > 0 else 0.0


def coefficient(grad: Tensor, v: Tensor) -> float:
    """The weight 2|⟨v, ∇f⟩|/‖v‖² of v in g (docs/theory/e08.md §1); 0 for v = 0."""
    ip, vv, _ = _dots(grad, v)
    return 2.0 * abs(ip) / vv if vv > 0 else 0.0


def framework_direction(grad: Tensor, v: Optional[Tensor]) -> Tensor:
    """g = ∇f + 2|⟨v, ∇f⟩|/‖v‖² · v (docs/theory/e08.md §1); ∇f itself for v = None or v = 0."""
    if v is None:
        return grad.clone()
    return grad + coefficient(grad, v) * v


def householder(grad: Tensor, v: Tensor) -> Tensor:
    """The reflection of ∇f across the hyperplane v^⊥: ∇f − 2⟨v, ∇f⟩/‖v‖² · v (docs/theory/e08.md §2)."""
    ip, vv, _ = _dots(grad, v)
    return grad - (2.0 * ip / vv) * v if vv > 0 else grad.clone()


def framework_step(grad: Tensor, v: Optional[Tensor], reject: bool = False) -> FrameworkStep:
    """The framework's direction for the stochastic gradient ``grad`` and direction ``v``; ``reject``: Reject
    Accelerating (docs/theory/e08.md §3–§4): a decelerating direction (⟨v, ∇f⟩ < 0) is dropped and the step is
    ∇f alone (a plain step, so l stays 0)."""
    if v is None:
        return FrameworkStep(grad.clone(), 0.0, 0.0, PLAIN, False)
    ip, vv, gg = _dots(grad, v)
    if vv == 0.0:
        return FrameworkStep(grad.clone(), 0.0, 0.0, PLAIN, False)
    c2 = ip * ip / (vv * gg) if gg > 0 else 0.0
    if ip < 0.0 and reject:
        return FrameworkStep(grad.clone(), ip, c2, PLAIN, True)
    return FrameworkStep(framework_direction(grad, v), ip, c2, ACCELERATING if ip >= 0.0 else DECELERATING, False)


def identity_residuals(grad: Tensor, v: Tensor, direction: Optional[Callable[[Tensor, Tensor], Tensor]] = None
                       ) -> dict[str, float]:
    """The identities of docs/theory/e08.md §2 as relative residuals (|lhs − rhs|/‖∇f‖²) for the accelerating step
    (v oriented so that ⟨v, ∇f⟩ ≥ 0) and the decelerating one (−v): ⟨g,∇f⟩ = (1 ± 2c²)‖∇f‖², ‖g‖² = (1 + 8c²)‖∇f‖²
    resp. ‖∇f‖², and g = the Householder reflection on the decelerating side. ``direction(∇f, v) -> g`` is the
    direction tested (default :func:`framework_direction`), so that a wrong formula can be shown to fail."""
    direction = direction or framework_direction
    ip, vv, gg = _dots(grad, v)
    va = v if ip >= 0 else -v
    out: dict[str, float] = {}
    for u, accelerating in ((va, True), (-va, False)):
        uip = float(torch.dot(u, grad))
        g = direction(grad, u)
        c2 = uip * uip / (vv * gg)
        inner, norm2 = float(torch.dot(g, grad)), float(torch.dot(g, g))
        if accelerating:
            out["accelerating_inner"] = abs(inner - (1 + 2 * c2) * gg) / gg
            out["accelerating_norm"] = abs(norm2 - (1 + 8 * c2) * gg) / gg
        else:
            out["decelerating_inner"] = abs(inner - (1 - 2 * c2) * gg) / gg
            out["decelerating_norm"] = abs(norm2 - gg) / gg
            out["decelerating_householder"] = float(torch.linalg.vector_norm(g - householder(grad, u))) / math.sqrt(gg)
    return out


def rva_direction(grad: Tensor, generator: torch.Generator, rule: str = "sign", own: Optional[Tensor] = None,
                  mix: float = 1.0) -> Tensor:
    """Random Vector Accelerating's v_t (docs/theory/e08.md §3–§4, [R?]). ``sign`` (the ledger's reading): v ~ N(0, I_D)
    and v_t = sign(⟨v, ∇f_t⟩)·v, so every step accelerates. ``mix``: v = own/‖own‖ + mix·z/√D with z ~ N(0, I_D)
    (the method's own direction with a Gaussian of relative size ``mix``), oriented the same way; with no own
    direction it is the ``sign`` rule. z is drawn on the generator's device in float64, then moved."""
    if rule not in RVA_RULES:
        raise ValueError(f"rva rule must be one of {RVA_RULES}, got {rule!r}")
    z = torch.randn(grad.numel(), generator=generator, dtype=torch.float64, device=generator.device)
    z = z.to(dtype=grad.dtype, device=grad.device)
    v = z
    if rule == "mix" and own is not None:
        n = float(torch.linalg.vector_norm(own))
        if n > 0:
            v = own / n + (mix / math.sqrt(grad.numel())) * z
    return v if float(torch.dot(v, grad)) >= 0.0 else -v


def bound_parts(T: int, k: int, l: int, u_a: float, u_b: float, B: float) -> tuple[float, float]:
    """(T + 8kB, T + 2k u_a − 2l u_b): the factors of the variance term and of the descent in the bound."""
    return T + 8.0 * k * B, T + 2.0 * k * u_a - 2.0 * l * u_b


def bound_at_step(eta: float, T: int, k: int, l: int, u_a: float, u_b: float, B: float, delta: float, L: float,
                  sigma2: float) -> float:
    """(Δ + (Lη²/2)σ²(T + 8kB)) / (η(T + 2k u_a − 2l u_b)): the bound with the step η actually used
    (docs/theory/e08.md §4); +∞ when the denominator is not positive (the bound says nothing)."""
    num, den = bound_parts(T, k, l, u_a, u_b, B)
    if den <= 0 or eta <= 0:
        return math.inf
    return (delta + 0.5 * L * eta * eta * sigma2 * num) / (eta * den)


def theorem_step(T: int, k: int, B: float, delta: float, L: float, sigma2: float) -> float:
    """The theorem's step η = √(2Δ/(Lσ²(T + 8kB))) (docs/theory/e08.md §3)."""
    return math.sqrt(2.0 * delta / (L * sigma2 * (T + 8.0 * k * B)))


def theorem_bound(T: int, k: int, l: int, u_a: float, u_b: float, B: float, delta: float, L: float,
                  sigma2: float) -> float:
    """√(T + 8kB)/(T + 2k u_a − 2l u_b) · √(2ΔLσ²) (docs/theory/e08.md §3); +∞ for a non-positive denominator."""
    num, den = bound_parts(T, k, l, u_a, u_b, B)
    if den <= 0:
        return math.inf
    return math.sqrt(num) / den * math.sqrt(2.0 * delta * L * sigma2)
