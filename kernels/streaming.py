"""One-pass streaming attention in sublinear space, with CountSketch ℓ2/ℓ2 sparse recovery
(docs/theory/e10.md; Addanki, Li, Song, Yang, arXiv 2311.14652).

The stream (docs/theory/e10.md §E10.2), order "K, V first, then Q":

- K, V pass: keep M_kv = Σ_l Ψ(k̂_l) v_lᵀ (t×d) and z = Σ_l Ψ(k̂_l) (t), with Φ, Ψ the polynomial feature
  maps of :mod:`kernels.polynomial` (k̂ = k/√scale), t = C(d + g, g);
- Q pass: each output row T̂_j = Φ(q̂_j)ᵀ M_kv / Φ(q̂_j)ᵀ z is added into a CountSketch of the n×d
  output, Y_sk[r, h_r(j), :] += s_r(j) T̂_j for r = 1…R (R×W×d floats), and into the running sum of
  the rows (d floats, for the exact column means); T̂_j is then forgotten.

The hashes h_r(j) ∈ [W] and signs s_r(j) ∈ {±1} are derived from (seed, r, j) by a counter-based
hash (splitmix64, :func:`hash64`), generated per chunk of positions: no table of length n is ever
kept, so the state is M_kv, z, Y_sk and the row sum, td + t + RWd + d floats whatever n is
(:func:`floats_kept`). The interleaved (causal) order keeps the same state and uses prefix sums
within each block of tokens (:meth:`StreamingAttention.update_causal`).

Decoding (§E10.2, "decoding per column"): for every position j and column i the estimate
ŷ_{j,i} = median_r s_r(j) Y_sk[r, h_r(j), i], and the k entries of largest |ŷ| per column are kept
(:func:`recover`; O(nR) time, a running top-k per chunk, so decoding memory is O(k + chunk) too).
Mean-centred recovery subtracts μ_i · sketch(1_n) from the sketch (linearity), with μ the exact column
mean from the row sum, and recovers the k-sparse part of y_i − μ_i 1.

Pure torch, any dtype and device (float64 by default); randomness only from the seed.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from kernels.polynomial import phi, psi, rank

__all__ = [
    "KVCache",
    "SparseColumns",
    "StreamingAttention",
    "best_k_sparse_error",
    "buckets",
    "buckets_and_signs",
    "causal_lowrank_attention",
    "floats_kept",
    "hash64",
    "kv_cache_floats",
    "recover",
    "repetitions",
    "sketch",
    "sketch_of_ones",
    "stream_attention",
    "streaming_floats",
]

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
#: positions per chunk of the stream and of decoding (memory O(chunk · max(t, R) · d))
CHUNK = 4096
#: floats of prefix sums per block of the causal order (c · t · (d + 1) ≤ this)
CAUSAL_BLOCK = 2**21


def _signed(x: int) -> int:
    """A 64-bit pattern as the int64 that holds it."""
    x &= _MASK64
    return x - (1 << 64) if x >> 63 else x


def _srl(z: Tensor, k: int) -> Tensor:
    """Logical right shift of int64 bit patterns (torch's >> is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _mix64(z: Tensor) -> Tensor:
    """The splitmix64 finaliser on int64 tensors (wrapping arithmetic: exact mod 2^64)."""
    z = (z ^ _srl(z, 30)) * _signed(_MIX1)
    z = (z ^ _srl(z, 27)) * _signed(_MIX2)
    return z ^ _srl(z, 31)


def hash64(seed: int, r: Tensor, j: Tensor) -> Tensor:
    """The 64-bit counter-based hash of (seed, r, j) (int64 bit patterns, broadcast over r and j):
    key_r = mix(seed·γ + r + 1), then mix(key_r + (j + 1)·γ) with γ the golden-ratio constant, i.e.
    position j of the splitmix64 stream of repetition r. Nothing is stored: any h_r(j) is recomputed."""
    base = _signed(seed * _GOLDEN)
    key = _mix64(r.to(torch.int64) + 1 + base)
    return _mix64(key + (j.to(torch.int64) + 1) * _signed(_GOLDEN))


def buckets_and_signs(seed: int, R: int, W: int, start: int, stop: int,
                      device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """h_r(j) ∈ {0…W−1} (int64) and s_r(j) ∈ {±1} (``dtype``) for r < R and start ≤ j < stop: two R×c
    tensors made on the fly. The bucket is the high 32 bits scaled to [0, W) (multiply-shift), the sign
    is the lowest bit."""
    r = torch.arange(R, device=device).unsqueeze(1)
    j = torch.arange(start, stop, device=device).unsqueeze(0)
    z = hash64(seed, r, j)
    h = (_srl(z, 32) * W) >> 32
    s = 1 - 2 * (z & 1)
    return h, s.to(dtype)


def repetitions(n: int) -> int:
    """R = ⌈log₂ n⌉ rounded up to an odd number (O(log n); 13 at n = 2^12, 15 at 2^14, 21 at 2^20): the
    project's choice. An odd R makes the median one of the estimates (with an even R, the mean of the two
    middle estimates is contaminated as soon as half of the repetitions are). The prototype's R = 7 at
    n = 2^14 is about ½log₂ n; docs/theory/e10.md §E10.4 says why the checks use log₂ n."""
    r = max(1, math.ceil(math.log2(max(n, 2))))
    return r if r % 2 else r + 1


def buckets(k: int, eps1: float) -> int:
    """W = ⌈4k/ε₁⌉ buckets per repetition (O(k/ε₁); 160 at k = 20, ε₁ = 0.5): the project's choice."""
    return math.ceil(4 * k / eps1)


def _add_rows(Y_sk: Tensor, rows: Tensor, start: int, seed: int) -> None:
    """Y_sk[r, h_r(j)] += s_r(j) · rows[j − start] for every r (in place; rows is c×d)."""
    R, W, d = Y_sk.shape
    h, s = buckets_and_signs(seed, R, W, start, start + rows.shape[0], rows.device, rows.dtype)
    flat = (h + W * torch.arange(R, device=rows.device).unsqueeze(1)).reshape(-1)
    Y_sk.view(R * W, d).index_add_(0, flat, (s.unsqueeze(2) * rows.unsqueeze(0)).reshape(-1, d))


def sketch(Y: Tensor, R: int, W: int, seed: int, start: int = 0, chunk: int = CHUNK) -> Tensor:
    """The CountSketch of the rows of Y (n×d, or a vector of length n) at positions start…start+n−1:
    an R×W×d tensor (R×W for a vector). Linear in Y."""
    vector = Y.dim() == 1
    Y2 = Y.unsqueeze(1) if vector else Y
    out = torch.zeros(R, W, Y2.shape[1], dtype=Y2.dtype, device=Y2.device)
    for a in range(0, Y2.shape[0], chunk):
        _add_rows(out, Y2[a:a + chunk], start + a, seed)
    return out.squeeze(2) if vector else out


def sketch_of_ones(n: int, R: int, W: int, seed: int, dtype: torch.dtype = torch.float64,
                   device: torch.device | str = "cpu", chunk: int = CHUNK) -> Tensor:
    """The CountSketch of 1_n (R×W): Σ_j s_r(j) [h_r(j) = w], recomputed from the seed (no n-long state)."""
    out = torch.zeros(R * W, dtype=dtype, device=device)
    for a in range(0, n, chunk):
        h, s = buckets_and_signs(seed, R, W, a, min(n, a + chunk), device, dtype)
        out.index_add_(0, (h + W * torch.arange(R, device=device).unsqueeze(1)).reshape(-1), s.reshape(-1))
    return out.view(R, W)


def _median(x: Tensor) -> Tensor:
    """The median over dim 0 (the mean of the two middle values when the count is even)."""
    m = x.shape[0]
    xs = x.movedim(0, -1).contiguous()  # select along a contiguous axis (a strided sort is slow)
    if m % 2:
        return xs.median(dim=-1).values
    return 0.5 * (xs.kthvalue(m // 2, dim=-1).values + xs.kthvalue(m // 2 + 1, dim=-1).values)


def _estimate(table: Tensor, seed: int, start: int, stop: int) -> Tensor:
    """ŷ_j = median_r s_r(j) table[r, h_r(j)] for start ≤ j < stop (a c×d tensor)."""
    R, W, d = table.shape
    h, s = buckets_and_signs(seed, R, W, start, stop, table.device, table.dtype)
    flat = h + W * torch.arange(R, device=table.device).unsqueeze(1)
    return _median(s.unsqueeze(2) * table.view(R * W, d)[flat])


class SparseColumns(NamedTuple):
    """A recovered n×d matrix: per column i, ``offset[i]`` everywhere plus the k entries
    ``values[:, i]`` at rows ``indices[:, i]`` (``offset`` is 0 for raw recovery, the column mean for
    mean-centred recovery)."""

    indices: Tensor  # (k, d) int64
    values: Tensor   # (k, d)
    offset: Tensor   # (d,)
    n: int

    def dense(self) -> Tensor:
        """The n×d matrix offset + k-sparse part."""
        out = self.offset.unsqueeze(0).expand(self.n, -1).clone()
        out.scatter_add_(0, self.indices, self.values)
        return out


def recover(table: Tensor, n: int, k: int, seed: int, mean: Optional[Tensor] = None,
            chunk: int = CHUNK) -> SparseColumns:
    """ℓ2/ℓ2 k-sparse recovery of each column of the sketched n×d matrix from its CountSketch
    ``table`` (R×W×d): median estimates of every entry, the k of largest magnitude kept per column,
    by a running top-k over chunks of positions. With ``mean`` (d,), recovers the k-sparse part of the
    centred columns y_i − μ_i 1 from table − μ ⊗ sketch(1_n) and returns it with offset μ."""
    R, W, d = table.shape
    k = min(k, n)
    offset = torch.zeros(d, dtype=table.dtype, device=table.device)
    if mean is not None:
        offset = mean.to(table)
        table = table - sketch_of_ones(n, R, W, seed, table.dtype, table.device, chunk).unsqueeze(2) * offset
    idx = torch.empty(0, d, dtype=torch.int64, device=table.device)
    val = torch.empty(0, d, dtype=table.dtype, device=table.device)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        est = _estimate(table, seed, a, b)
        pos = torch.arange(a, b, device=table.device).unsqueeze(1).expand(-1, d)
        idx, val = torch.cat([idx, pos]), torch.cat([val, est])
        if idx.shape[0] > k:
            idx, val = _top_k(idx, val, k)
    return SparseColumns(idx, val, offset, n)


def _top_k(idx: Tensor, val: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k entries of largest |val| per column, ties broken by the smaller position (a total order, so
    that the running top-k over chunks does not depend on the chunk size)."""
    by_pos = torch.sort(idx, dim=0, stable=True).indices
    idx, val = torch.gather(idx, 0, by_pos), torch.gather(val, 0, by_pos)
    top = torch.sort(val.abs(), dim=0, descending=True, stable=True).indices[:k]
    return torch.gather(idx, 0, top), torch.gather(val, 0, top)


def best_k_sparse_error(y: Tensor, k: int) -> Tensor:
    """min over k-sparse y' of ‖y' − y‖₂ per column (y is n or n×d): the ℓ2 norm of all but the k entries
    of largest magnitude (the tail)."""
    a = y.abs() if y.dim() > 1 else y.abs().unsqueeze(1)
    k = min(k, a.shape[0])
    tail = torch.sort(a, dim=0, descending=True).values[k:]
    out = torch.linalg.vector_norm(tail, dim=0)
    return out if y.dim() > 1 else out.squeeze(0)


def _normalised_rows(U1: Tensor, num: Tensor, den: Tensor) -> Tensor:
    """T̂ = (Φ(q̂)ᵀ M) / (Φ(q̂)ᵀ z) per row, given the numerators U1 M (c×d) and denominators U1 z (c)."""
    return num / den.unsqueeze(1)


class StreamingAttention:
    """The one-pass streaming estimator of docs/theory/e10.md §E10.2.

    State (the only tensors kept, :meth:`tensors`): ``M_kv`` (t×d), ``z`` (t), ``Y_sk`` (R×W×d) and
    ``row_sum`` (d, the running sum of the output rows, for the exact column means), plus the integers
    ``n_kv``, ``n_q`` and the seed. ``update_kv`` then ``update_q`` is the order "K, V first, then Q";
    ``update_causal`` is the interleaved order. ``decode`` recovers a k-sparse approximation per column.
    """

    def __init__(self, d: int, g: int, R: int, W: int, seed: int = 0, scale: Optional[float] = None,
                 coef: Optional[Tensor] = None, chunk: int = CHUNK, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu"):
        self.d, self.g, self.R, self.W, self.seed, self.chunk = d, g, R, W, seed, chunk
        self.scale = float(d if scale is None else scale)
        self.coef = coef
        t = rank(d, g)
        self.M_kv = torch.zeros(t, d, dtype=dtype, device=device)
        self.z = torch.zeros(t, dtype=dtype, device=device)
        self.Y_sk = torch.zeros(R, W, d, dtype=dtype, device=device)
        self.row_sum = torch.zeros(d, dtype=dtype, device=device)
        self.n_kv = 0
        self.n_q = 0

    def _features(self, X: Tensor, query: bool) -> Tensor:
        x = X.to(self.M_kv) / math.sqrt(self.scale)
        return phi(x, self.g, self.coef) if query else psi(x, self.g)

    def update_kv(self, K: Tensor, V: Tensor) -> None:
        """Add keys and values (m×d each) to M_kv and z, chunk by chunk."""
        for a in range(0, K.shape[0], self.chunk):
            U2 = self._features(K[a:a + self.chunk], query=False)
            self.M_kv += U2.T @ V[a:a + self.chunk].to(self.M_kv)
            self.z += U2.sum(dim=0)
        self.n_kv += K.shape[0]

    def _emit(self, rows: Tensor) -> None:
        """Sketch output rows at the next positions and add them to the row sum."""
        _add_rows(self.Y_sk, rows, self.n_q, self.seed)
        self.row_sum += rows.sum(dim=0)
        self.n_q += rows.shape[0]

    def update_q(self, Q: Tensor, return_rows: bool = False) -> Optional[Tensor]:
        """Queries (c×d): each row T̂_j = Φ(q̂_j)ᵀM_kv / Φ(q̂_j)ᵀz goes into the sketch and is forgotten
        (returned only with ``return_rows``, for tests)."""
        out = []
        for a in range(0, Q.shape[0], self.chunk):
            U1 = self._features(Q[a:a + self.chunk], query=True)
            rows = _normalised_rows(U1, U1 @ self.M_kv, U1 @ self.z)
            self._emit(rows)
            if return_rows:
                out.append(rows)
        return torch.cat(out) if return_rows else None

    def update_causal(self, Q: Tensor, K: Tensor, V: Tensor, return_rows: bool = False) -> Optional[Tensor]:
        """Interleaved order (token j brings q_j, k_j, v_j): T̂_j = Φ(q̂_j)ᵀΣ_{l≤j}Ψ(k̂_l)v_lᵀ / Φ(q̂_j)ᵀΣ_{l≤j}Ψ(k̂_l),
        by prefix sums within each block (cumulative sums of Ψ(k̂_l)v_lᵀ and Ψ(k̂_l) on top of the state so
        far): O(t d) work per token; a block holds about CAUSAL_BLOCK floats of prefix sums."""
        t, d = self.M_kv.shape
        step = max(1, min(self.chunk, CAUSAL_BLOCK // (t * (d + 1))))
        out = []
        for a in range(0, Q.shape[0], step):
            U1 = self._features(Q[a:a + step], query=True)
            U2 = self._features(K[a:a + step], query=False)
            Vc = V[a:a + step].to(self.M_kv)
            M = torch.cumsum(U2.unsqueeze(2) * Vc.unsqueeze(1), dim=0) + self.M_kv  # (c, t, d)
            z = torch.cumsum(U2, dim=0) + self.z                                    # (c, t)
            rows = _normalised_rows(U1, torch.einsum("ct,ctd->cd", U1, M), (U1 * z).sum(dim=1))
            self.M_kv, self.z = M[-1].clone(), z[-1].clone()
            self.n_kv += U2.shape[0]
            self._emit(rows)
            if return_rows:
                out.append(rows)
        return torch.cat(out) if return_rows else None

    def tensors(self) -> dict[str, Tensor]:
        """The state tensors, the only floats kept."""
        return {"M_kv": self.M_kv, "z": self.z, "Y_sk": self.Y_sk, "row_sum": self.row_sum}

    def floats_kept(self) -> int:
        """Floats held by the state tensors (td + t + RWd + d)."""
        return floats_kept(self)

    def mean(self) -> Tensor:
        """The exact column means of the streamed output rows (d,)."""
        return self.row_sum / max(self.n_q, 1)

    def decode(self, k: int, centred: bool = False) -> SparseColumns:
        """The k-sparse recovery of each output column (:func:`recover`); ``centred``: of y_i − μ_i 1,
        returned with offset μ."""
        return recover(self.Y_sk, self.n_q, k, self.seed, self.mean() if centred else None, self.chunk)


class KVCache:
    """The baseline (and C1's control): a streaming estimator that keeps every key and value (the KV
    cache, 2nd floats) and answers each query with exact attention. Same ``update_kv``/``update_q``
    interface as :class:`StreamingAttention`."""

    def __init__(self, d: int, scale: Optional[float] = None, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu"):
        self.scale = float(d if scale is None else scale)
        self.K = torch.empty(0, d, dtype=dtype, device=device)
        self.V = torch.empty(0, d, dtype=dtype, device=device)

    def update_kv(self, K: Tensor, V: Tensor) -> None:
        self.K = torch.cat([self.K, K.to(self.K)])
        self.V = torch.cat([self.V, V.to(self.V)])

    def update_q(self, Q: Tensor) -> Tensor:
        """Exact attention rows for the queries (c×d), by chunks of CHUNK queries (CHUNK×m working memory)."""
        Q = Q.to(self.K)
        rows = [torch.softmax(Q[a:a + CHUNK] @ self.K.T / self.scale, dim=1) @ self.V for a in range(0, Q.shape[0], CHUNK)]
        return torch.cat(rows) if rows else Q.new_zeros(0, self.V.shape[1])

    def tensors(self) -> dict[str, Tensor]:
        return {"K": self.K, "V": self.V}

    def floats_kept(self) -> int:
        return floats_kept(self)


def floats_kept(estimator) -> int:
    """The number of floats in an estimator's state tensors (``estimator.tensors()``), counted from the
    tensors themselves."""
    return sum(int(t.numel()) for t in estimator.tensors().values())


def streaming_floats(d: int, g: int, R: int, W: int) -> int:
    """The formula for :class:`StreamingAttention`'s state: td + t + RWd + d with t = C(d + g, g)."""
    t = rank(d, g)
    return t * d + t + R * W * d + d


def kv_cache_floats(n: int, d: int) -> int:
    """The KV cache: 2nd floats."""
    return 2 * n * d


def causal_lowrank_attention(Q: Tensor, K: Tensor, V: Tensor, g: int, scale: float,
                             coef: Optional[Tensor] = None) -> Tensor:
    """Dense reference of the causal low-rank rows: tril(U₁U₂ᵀ)V / tril(U₁U₂ᵀ)1 (n×n memory; for tests)."""
    s = math.sqrt(scale)
    A = torch.tril(phi(Q / s, g, coef) @ psi(K / s, g).T)
    return (A @ V) / A.sum(dim=1, keepdim=True)


def stream_attention(Q: Tensor, K: Tensor, V: Tensor, g: int, k: int, R: int, W: int, seed: int = 0,
                     scale: Optional[float] = None, coef: Optional[Tensor] = None, centred: bool = False,
                     causal: bool = False, chunk: int = CHUNK) -> tuple[SparseColumns, StreamingAttention]:
    """Stream (Q, K, V) once through :class:`StreamingAttention` (order K, V then Q, or interleaved with
    ``causal``) and decode the k-sparse recovery of every output column; returns it and the estimator."""
    est = StreamingAttention(Q.shape[1], g, R, W, seed, scale, coef, chunk, Q.dtype, Q.device)
    if causal:
        est.update_causal(Q, K, V)
    else:
        est.update_kv(K, V)
        est.update_q(Q)
    return est.decode(k, centred), est
