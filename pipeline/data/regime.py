"""Instance regimes: which term of the loss shapes the curvature at the optimum.

Every generator takes ``regime``:

- ``regulariser``: the construction of docs/theory/ (p1.md §P1.6, p2.md §P2.6, p3.md §P3.6). The weights are large
  (P1's PD rule w² = C_w + l/σ_min(A)², P2's w² = 20 or 1) and the logits at the optimum stay near
  zero, so ∇²L(x*) is the regulariser's Hessian up to a few per cent: the control.
- ``softmax``: the same random draws (the same A, the same direction of x_true), with x_true
  rescaled so that the planted logits A·x_true spread over ``spread`` units (max − min), and the
  weights lowered to w² = ``w2_n2``/N² for N rows per softmax. The fit term then carries the
  curvature at x* (the measured softmax share, :mod:`pipeline.reference.regime`).

Why w² ∝ 1/N²: on the N-simplex the fit term ½‖f − b‖² has entries of order 1/N, so its gradient
is O(1/N) while the regulariser's is w²·‖Ax‖ with ‖Ax‖ of order √N times the logit scale; for
logits that spread over units at the optimum, w² must sit near 1/N² or below. This breaks the PD
rule (A3 of P1: w² ≥ C_w ≈ 0.24); every instance reports whether its paper's rule holds.
"""
from __future__ import annotations

import numpy as np

#: the values of ``data.regime``
REGIMES = ("regulariser", "softmax")


def spread_scale(logits: np.ndarray, spread: float) -> float:
    """The factor c such that the mean over rows of max − min of c·``logits`` is ``spread`` (a 1-D
    ``logits`` is one row)."""
    rows = np.atleast_2d(logits)
    ptp = float(np.mean(rows.max(axis=-1) - rows.min(axis=-1)))
    return spread / ptp if ptp > 0 else 1.0


def softmax_w2(rows: int, w2_n2: float) -> float:
    """w² of the softmax regime for ``rows`` entries per softmax: ``w2_n2``/rows²."""
    return float(w2_n2) / float(rows) ** 2
