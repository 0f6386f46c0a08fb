"""The n-SPSA gradient estimate (docs/theory/p2.md §P2.2): forward passes only.

    ĝ_n(x) = (1/n) Σ_j [L(x + ε z_j) - L(x - ε z_j)] / (2ε) · z_j

with z_j Gaussian N(0, I_d) or uniform on the sphere of radius √d (MeZO's
model; docs/theory/p2.md §P2.7, item 1). Two ways to compute it:

* :func:`spsa_gradient` (batched): the 2n points x ± ε z_j are the columns of
  one d×2n matrix and all 2n losses come from one call of a column-loss
  function (for the P2 loss, one product A·[x ± εZ] and a column-wise softmax,
  kernels/finite_sum.py). No Python loop over perturbations.
* :func:`spsa_gradient_seeded` (memory-light): z_j is drawn from its own seed
  with a dedicated generator, used for two loss calls, dropped, and drawn again
  from the same seed for the update, so memory is O(d) whatever n is (MeZO's
  trick, for large d).

Both return the estimate and the projected gradients
p_j = [L(x + ε z_j) - L(x - ε z_j)] / (2ε); the loss function is called on
2n columns in all, which the caller counts as 2n forward passes. The
perturbation scale ε (``eps``) is not the accuracy ε of the stopping rule.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["KINDS", "perturbations", "seeded_perturbation", "spsa_gradient", "spsa_gradient_seeded", "gamma"]

KINDS = ("gaussian", "sphere")
ColumnLosses = Callable[[Tensor], Tensor]  # d×k points -> k losses


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"perturbation must be one of {KINDS}, got {kind!r}")


def perturbations(d: int, n: int, kind: str, generator: torch.Generator, dtype=torch.float64,
                  device="cpu") -> Tensor:
    """n perturbations as the columns of a d×n matrix: N(0, I_d), or uniform on the sphere of radius √d.

    Drawn on the generator's device (CPU by default) in float64 and then moved,
    so that a seed gives the same directions on every device and dtype.
    """
    _check_kind(kind)
    Z = torch.randn(d, n, generator=generator, dtype=torch.float64, device=generator.device)
    if kind == "sphere":
        Z *= math.sqrt(d) / torch.linalg.vector_norm(Z, dim=0, keepdim=True)
    return Z.to(dtype=dtype, device=device)


def seeded_perturbation(seed: int, d: int, kind: str, dtype=torch.float64, device="cpu") -> Tensor:
    """The perturbation z of one seed (a d-vector), reproducible on demand (memory-light mode)."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    return perturbations(d, 1, kind, g, dtype, device)[:, 0]


def spsa_gradient(losses: ColumnLosses, x: Tensor, Z: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """n-SPSA estimate at x with the perturbations Z (d×n), from one call of ``losses`` on 2n columns.

    Returns (ĝ_n, p) with p_j the projected gradient along z_j (docs/theory/p2.md §P2.2).
    """
    n = Z.shape[1]
    # the points are the rows of a contiguous 2n×d block, handed over as its d×2n transpose (a view): a
    # column-loss function that multiplies by Pᵀ on the left (kernels.finite_sum.column_losses) then reads
    # it without a copy
    Pt = torch.empty(2 * n, x.shape[0], dtype=x.dtype, device=x.device)
    torch.add(x, Z.T, alpha=eps, out=Pt[:n])
    torch.add(x, Z.T, alpha=-eps, out=Pt[n:])
    L = losses(Pt.T)
    proj = (L[:n] - L[n:]) / (2.0 * eps)
    return Z @ proj / n, proj


def spsa_gradient_seeded(losses: ColumnLosses, x: Tensor, seeds: Sequence[int], eps: float, kind: str
                         ) -> tuple[Tensor, Tensor]:
    """n-SPSA estimate with each z_j regenerated from ``seeds[j]``; memory O(d) in n.

    Same estimate as :func:`spsa_gradient` with Z = [seeded_perturbation(s) for s in seeds].
    """
    n, d = len(seeds), x.shape[0]
    proj = torch.empty(n, dtype=x.dtype, device=x.device)
    for j, s in enumerate(seeds):
        z = seeded_perturbation(s, d, kind, x.dtype, x.device)
        L = losses(torch.stack([x + eps * z, x - eps * z], dim=1))
        proj[j] = (L[0] - L[1]) / (2.0 * eps)
    g = torch.zeros_like(x)
    for j, s in enumerate(seeds):  # the same z_j again, from its seed
        g.add_(seeded_perturbation(s, d, kind, x.dtype, x.device), alpha=float(proj[j]) / n)
    return g, proj


def gamma(kind: str, effective_rank: float, n: int, d: int) -> float:
    """γ with E[ĝ_nᵀ H ĝ_n] ≤ ℓγ‖u‖² when tr(H) ≤ r‖H‖ (docs/theory/p2.md §P2.2, Effective-rank bound).

    Gaussian z: γ = 1 + (r + 1)/n [V]; sphere: γ = (dr + d - 2)/(n(d + 2)) + 1 (MeZO's formula [R]).
    """
    _check_kind(kind)
    r = float(effective_rank)
    if kind == "gaussian":
        return 1.0 + (r + 1.0) / n
    return (d * r + d - 2.0) / (n * (d + 2.0)) + 1.0
