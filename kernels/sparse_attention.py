"""Top-k truncated attention and the sparsity statistics of attention rows (docs/theory/e03.md).

Row i of a logit matrix S (rows × n) has attention p_i = softmax(s_i·) over its n columns (the
softmax runs along each row, dim 1, shifted by the row maximum). Keeping the set K_i of the k largest
logits and renormalising gives the truncated attention p̃_i (softmax restricted to K_i); the tail mass
is τ_i = 1 − Σ_{j∈K_i} p_ij, and (docs/theory/e03.md §E03.2)

    ‖p_i − p̃_i‖₁ = 2τ_i,        ‖p_iᵀV − p̃_iᵀV‖₂ ≤ 2τ_i max_j ‖v_j‖₂.

The statistics logged per row are the tail mass for every k at once (:func:`tail_profile`), the
effective support k_eff = 1/Σ_j p_ij² and the empirical sparsity k_ε (least k with τ_i ≤ ε). The
adaptive window is k(n) = ⌈α n^C⌉ (§E03.3).

Memory: the functions on a logit matrix take the rows they are given (a few sample rows of length n
in the Gaussian-logit model); :func:`attention` and :func:`truncated_attention` build the logits of
``block`` query rows at a time from Q and K, so that an n×n matrix is never held (2^16 × 2^16 float64
would be 34 GB). Tails are summed from the smallest probabilities up, so that a tail of 1e-15 is
not lost to the rounding of 1 − Σ_{j∈K} p_j. Pure torch functions, any dtype and device.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "adaptive_window",
    "attention",
    "effective_support",
    "gaussian_logits",
    "k_epsilon",
    "softmax_rows",
    "tail_mass",
    "tail_profile",
    "truncated_attention",
    "truncated_softmax",
]

#: default number of query rows per block of logits (a 1024 × 2^16 float64 block is 512 MB)
BLOCK = 256


def softmax_rows(S: Tensor) -> Tensor:
    """p_i = softmax(s_i·) for every row (along dim 1, shifted by the row maximum)."""
    return torch.softmax(S, dim=1)


def tail_profile(S: Tensor) -> Tensor:
    """T[i, k] = τ_i(k) = Σ of the n − k smallest p_ij, for k = 0…n (rows × (n + 1)): the tail mass
    outside the top k of every row and every k at once, summed from the smallest entries up."""
    ps = softmax_rows(S).sort(dim=1).values  # ascending
    tails = torch.cumsum(ps, dim=1).flip(1)  # tails[:, k] = Σ of the n − k smallest, k = 0…n−1
    return torch.cat([tails, torch.zeros_like(tails[:, :1])], dim=1)


def tail_mass(S: Tensor, k: int) -> Tensor:
    """τ_i = 1 − Σ_{j∈K_i} p_ij with K_i the top-k logits of row i (0 ≤ k ≤ n)."""
    return tail_profile(S)[:, int(k)]


def k_epsilon(S: Tensor, eps: float) -> Tensor:
    """k_ε per row: the least k with τ_i(k) ≤ ε (the empirical sparsity of §E03.2), int64."""
    return (tail_profile(S) > eps).sum(dim=1)


def effective_support(S: Tensor) -> Tensor:
    """k_eff = 1/Σ_j p_ij² per row (n for uniform attention, 1 for a one-hot row)."""
    p = softmax_rows(S)
    return 1.0 / (p * p).sum(dim=1)


def adaptive_window(n: int, alpha: float, C: float) -> int:
    """The adaptive window k(n) = ⌈α n^C⌉, clipped to [1, n] (§E03.3)."""
    return int(min(n, max(1, math.ceil(alpha * n ** C - 1e-9))))


def _top_mask(S: Tensor, k: int) -> Tensor:
    k = int(min(max(k, 0), S.shape[1]))
    mask = torch.zeros_like(S, dtype=torch.bool)
    if k:
        mask.scatter_(1, S.topk(k, dim=1).indices, True)
    return mask


def truncated_softmax(S: Tensor, k: int) -> Tensor:
    """p̃_i: the softmax of row i restricted to its top-k logits (zeros elsewhere), 1 ≤ k ≤ n."""
    if k < 1:
        raise ValueError(f"truncated attention keeps at least one entry, got k={k}")
    return torch.softmax(S.masked_fill(~_top_mask(S, k), -math.inf), dim=1)


def gaussian_logits(rows: int, n: int, sigma: float, generator: torch.Generator,
                    dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """Rows of i.i.d. N(0, σ²) logits (the Gaussian-logit model of §E03.2), rows × n."""
    S = torch.randn(rows, n, generator=generator, dtype=dtype)
    return (sigma * S).to(device) if device is not None else sigma * S


def attention(Q: Tensor, K: Tensor, V: Tensor, scale: float = 1.0, block: Optional[int] = BLOCK) -> Tensor:
    """Exact attention softmax_rows(Q Kᵀ/scale) V, ``block`` query rows at a time (O(block·n) memory)."""
    out = torch.empty(Q.shape[0], V.shape[1], dtype=V.dtype, device=V.device)
    step = block or Q.shape[0]
    for s in range(0, Q.shape[0], step):
        out[s:s + step] = softmax_rows(Q[s:s + step] @ K.T / scale) @ V
    return out


def truncated_attention(Q: Tensor, K: Tensor, V: Tensor, k: int, scale: float = 1.0,
                        block: Optional[int] = BLOCK) -> tuple[Tensor, Tensor]:
    """Top-k truncated attention p̃ᵀV per query row and the tail mass τ of each row, from the logits
    Q Kᵀ/scale built ``block`` rows at a time (§E03.3: keep the top-k, renormalise, average)."""
    out = torch.empty(Q.shape[0], V.shape[1], dtype=V.dtype, device=V.device)
    tau = torch.empty(Q.shape[0], dtype=V.dtype, device=V.device)
    step = block or Q.shape[0]
    for s in range(0, Q.shape[0], step):
        S = Q[s:s + step] @ K.T / scale
        out[s:s + step] = truncated_softmax(S, k) @ V
        tau[s:s + step] = tail_mass(S, k)
    return out, tau
