"""k-input modular addition with a degree-k polynomial network (E05, docs/theory/e05.md §E05.1–§E05.4).

Pure functions of torch tensors, generic in device and dtype (float64 is the project default).
Notation of docs/theory/e05.md §E05.1: p an odd prime, k ≥ 2 inputs, m neurons; the parameters are one
tensor ``theta`` of shape (m, k+1, p) whose row j < k of neuron i is u_{i,j+1} ∈ ℝ^p and whose row k is w_i:

    f(θ; a) = Σ_i (u_{i,1}(a_1) + … + u_{i,k}(a_k))^k w_i ∈ ℝ^p,     a ∈ ℤ_p^k, label y = (a_1 + … + a_k) mod p,
    margin(θ; a) = f_y(θ; a) − max_{c ≠ y} f_c(θ; a),
    ‖θ‖_{2,k+1} = (Σ_i ‖θ_i‖_2^{k+1})^{1/(k+1)},   γ(θ) = min_a margin(θ; a) / ‖θ‖_{2,k+1}^{k+1},
    γ* = 2·k! / ((2k+2)^{(k+1)/2} (p−1) p^{(k−1)/2})                       (Thm 4.1, m ≥ 2^{2k−2}(p−1)).

The p^k inputs are enumerated in lexicographic order (a_1 slowest): point n has digits n = Σ_j a_j p^{k−j}.
The functions over all inputs work block by block (:func:`blocks`: a range of a_1 times the whole of
ℤ_p^{k−1}, about ``chunk`` inputs each; all at once by default), so the memory is O(m·chunk) whatever p^k.
In a block the hidden layer is the broadcast outer sum u_{i,1} ⊕ … ⊕ u_{i,k} and its adjoint a sum over
axes; on an arbitrary batch of inputs (a mini-batch) h = Σ_j U_j E_jᵀ with E_j the one-hot matrix of digit j.

The training loss (§E05.5) is the mean cross-entropy over the p^k points plus a regulariser R(θ):
``margin_norm``: (λ/(k+1)) ‖θ‖_{2,k+1}^{k+1} (the norm γ is measured in; the ledger's reading), or
``l2``: (λ/2) ‖θ‖_2² (plain weight decay). :func:`loss_and_gradient` gives the gradient in closed
form (checked against autograd in tests/kernels/test_modular.py).
"""
from __future__ import annotations

import math
from itertools import combinations, product
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor

__all__ = [
    "REGULARISERS",
    "is_odd_prime",
    "optimal_width",
    "optimal_margin",
    "num_points",
    "inputs",
    "digits",
    "labels",
    "split",
    "blocks",
    "hidden",
    "hidden_block",
    "network",
    "network_block",
    "margins",
    "margin_range",
    "norm_power",
    "norm_2k",
    "normalised_margin",
    "regulariser",
    "loss",
    "loss_and_gradient",
    "network_loop",
    "lemma_e1",
    "construction",
    "equal_norm",
    "FourierPower",
    "fourier_power",
]

#: the regularisers of the training loss (docs/theory/e05.md §E05.5)
REGULARISERS = ("margin_norm", "l2")


# --------------------------------------------------------------------------- sizes and the closed form
def is_odd_prime(p: int) -> bool:
    """Whether p is an odd prime (the modulus of §E05.1)."""
    return p > 2 and p % 2 == 1 and all(p % q for q in range(3, int(math.isqrt(p)) + 1, 2))


def optimal_width(p: int, k: int) -> int:
    """2^{2k−2}(p−1): the width from which the maximum margin is γ* (Thm 4.1), and the width of the
    construction of §E05.3."""
    return 2 ** (2 * k - 2) * (p - 1)


def optimal_margin(p: int, k: int) -> float:
    """γ* = 2·k! / ((2k+2)^{(k+1)/2} (p−1) p^{(k−1)/2}) (Thm 4.1; k = 2: √(2/27)/((p−1)√p))."""
    return 2.0 * math.factorial(k) / ((2 * k + 2) ** ((k + 1) / 2) * (p - 1) * p ** ((k - 1) / 2))


def num_points(p: int, k: int) -> int:
    return p ** k


# --------------------------------------------------------------------------- the data set D_p
def inputs(p: int, k: int, start: int = 0, stop: Optional[int] = None, device="cpu") -> Tensor:
    """The inputs a ∈ ℤ_p^k with indices start ≤ n < stop (all p^k by default), as a LongTensor (B, k);
    a_1 is the most significant digit of n."""
    stop = p ** k if stop is None else stop
    return digits(torch.arange(start, stop, device=device), p, k)


def digits(n: Tensor, p: int, k: int) -> Tensor:
    """The inputs a ∈ ℤ_p^k with indices ``n`` (a LongTensor of indices in [0, p^k)): shape (len(n), k)."""
    return torch.stack([(n // p ** (k - 1 - j)) % p for j in range(k)], dim=1)


def labels(a: Tensor, p: int) -> Tensor:
    """y = (a_1 + … + a_k) mod p."""
    return a.sum(dim=1) % p


def split(theta: Tensor) -> tuple[Tensor, Tensor]:
    """(U, W): U (m, k, p) the input vectors u_{i,j}, W (m, p) the output vectors w_i."""
    return theta[:, :-1, :], theta[:, -1, :]


def _one_hot(a: Tensor, p: int, dtype) -> Tensor:
    return torch.nn.functional.one_hot(a, p).to(dtype)


def blocks(p: int, k: int, chunk: Optional[int] = None):
    """The p^k inputs as blocks of consecutive indices: ranges [s, e) of the first digit a_1, each block the
    sub-grid {s ≤ a_1 < e} × ℤ_p^{k−1} (indices s·p^{k−1} to e·p^{k−1}); about ``chunk`` inputs per block
    (at least one value of a_1), all in one block by default."""
    inner = p ** (k - 1)
    rows = p if chunk is None else max(1, int(chunk) // inner)
    for s in range(0, p, rows):
        yield s, min(p, s + rows)


def hidden_block(theta: Tensor, s: int, e: int) -> Tensor:
    """h_i(a) for the inputs of block [s, e) (:func:`blocks`), by broadcasting the outer sum
    u_{i,1}[s:e] ⊕ u_{i,2} ⊕ … ⊕ u_{i,k}: shape (m, (e − s)·p^{k−1}), in index order."""
    U, _ = split(theta)
    m, k = theta.shape[0], U.shape[1]
    h = U[:, 0, s:e]
    for j in range(1, k):
        h = h[..., None] + U[:, j, :].reshape((m,) + (1,) * j + (-1,))
    return h.reshape(m, -1)


def _sum_to_vectors(gh: Tensor, s: int, e: int, p: int, k: int) -> list[Tensor]:
    """For ∂/∂h on block [s, e), shape (m, B): the k sums Σ_{a: a_j = b} over the block's inputs (the adjoint
    of :func:`hidden_block`); the first one only has the entries s..e−1."""
    grid = gh.reshape((gh.shape[0], e - s) + (p,) * (k - 1))
    dims = tuple(range(1, k + 1))
    return [grid.sum(dim=tuple(d for d in dims if d != j + 1)) for j in range(k)]


# --------------------------------------------------------------------------- the network
def hidden(theta: Tensor, a: Tensor) -> Tensor:
    """h_i(a) = u_{i,1}(a_1) + … + u_{i,k}(a_k) for the inputs ``a`` (B, k): shape (m, B)."""
    U, _ = split(theta)
    p = theta.shape[-1]
    h = U[:, 0, :] @ _one_hot(a[:, 0], p, theta.dtype).T
    for j in range(1, a.shape[1]):
        h = h + U[:, j, :] @ _one_hot(a[:, j], p, theta.dtype).T
    return h


def network(theta: Tensor, a: Tensor) -> Tensor:
    """f(θ; a) = Σ_i h_i(a)^k w_i for the inputs ``a`` (B, k): shape (B, p) (§E05.1)."""
    k = theta.shape[1] - 1
    _, W = split(theta)
    return hidden(theta, a).pow(k).T @ W


def network_loop(theta: Tensor, a: Tensor) -> Tensor:
    """f(θ; a) neuron by neuron (a Python loop over i): the naive reference of :func:`network`, for tests and
    the benchmark."""
    k = theta.shape[1] - 1
    out = torch.zeros(a.shape[0], theta.shape[-1], dtype=theta.dtype, device=theta.device)
    for i in range(theta.shape[0]):
        h = sum(theta[i, j, a[:, j]] for j in range(k))
        out = out + h.pow(k)[:, None] * theta[i, k][None, :]
    return out


def network_block(theta: Tensor, s: int, e: int) -> Tensor:
    """f(θ; a) for the inputs of block [s, e) of :func:`blocks`: shape ((e − s)·p^{k−1}, p)."""
    k = theta.shape[1] - 1
    return hidden_block(theta, s, e).pow(k).T @ split(theta)[1]


def margins(theta: Tensor, a: Tensor) -> Tensor:
    """margin(θ; a) = f_y − max_{c ≠ y} f_c for the inputs ``a`` (B, k): shape (B,)."""
    return _margins_of(network(theta, a), a, theta.shape[-1])


def _margins_of(f: Tensor, a: Tensor, p: int) -> Tensor:
    y = labels(a, p)
    fy = f.gather(1, y[:, None])[:, 0]
    others = f.masked_fill(torch.nn.functional.one_hot(y, p).bool(), -math.inf)
    return fy - others.max(dim=1).values


def margin_range(theta: Tensor, chunk: Optional[int] = None) -> tuple[Tensor, Tensor]:
    """(min, max) of the margin over all p^k inputs."""
    p, k = theta.shape[-1], theta.shape[1] - 1
    lo, hi = None, None
    inner = p ** (k - 1)
    for s, e in blocks(p, k, chunk):
        mg = _margins_of(network_block(theta, s, e), inputs(p, k, s * inner, e * inner, theta.device), p)
        lo = mg.min() if lo is None else torch.minimum(lo, mg.min())
        hi = mg.max() if hi is None else torch.maximum(hi, mg.max())
    return lo, hi


def norm_power(theta: Tensor) -> Tensor:
    """‖θ‖_{2,k+1}^{k+1} = Σ_i ‖θ_i‖_2^{k+1} (θ_i: the (k+1)p entries of neuron i)."""
    k = theta.shape[1] - 1
    return torch.linalg.vector_norm(theta.reshape(theta.shape[0], -1), dim=1).pow(k + 1).sum()


def norm_2k(theta: Tensor) -> Tensor:
    """The L_{2,k+1} norm ‖θ‖_{2,k+1} = (Σ_i ‖θ_i‖_2^{k+1})^{1/(k+1)}."""
    return norm_power(theta).pow(1.0 / (theta.shape[1]))


def normalised_margin(theta: Tensor, chunk: Optional[int] = None) -> Tensor:
    """γ(θ) = min over the p^k inputs of margin(θ; a), divided by ‖θ‖_{2,k+1}^{k+1} (§E05.1); scale-free."""
    lo, _ = margin_range(theta, chunk)
    return lo / norm_power(theta)


# --------------------------------------------------------------------------- the training loss
def regulariser(theta: Tensor, lam: float, kind: str = "margin_norm") -> tuple[Tensor, Tensor]:
    """R(θ) and ∇R(θ): ``margin_norm`` (λ/(k+1))Σ_i‖θ_i‖^{k+1} (gradient λ‖θ_i‖^{k−1}θ_i) or ``l2``
    (λ/2)‖θ‖² (gradient λθ) (§E05.5)."""
    if kind == "l2":
        return 0.5 * lam * theta.pow(2).sum(), lam * theta
    if kind != "margin_norm":
        raise ValueError(f"regulariser must be one of {REGULARISERS}, got {kind!r}")
    k = theta.shape[1] - 1
    r = torch.linalg.vector_norm(theta.reshape(theta.shape[0], -1), dim=1)
    return lam / (k + 1) * r.pow(k + 1).sum(), lam * r.pow(k - 1)[:, None, None] * theta


def loss(theta: Tensor, lam: float = 0.0, kind: str = "margin_norm", a: Optional[Tensor] = None) -> Tensor:
    """Mean cross-entropy of softmax(f(θ; a)) against y over the inputs ``a`` (all p^k by default) plus R(θ);
    plain torch operations (autograd goes through it: the reference of :func:`loss_and_gradient`)."""
    p, k = theta.shape[-1], theta.shape[1] - 1
    a = inputs(p, k, device=theta.device) if a is None else a
    ce = torch.nn.functional.cross_entropy(network(theta, a), labels(a, p))
    return ce + regulariser(theta, lam, kind)[0]


def _ce_from_hidden(theta: Tensor, h: Tensor, y: Tensor, scale: float):
    """Sum of the cross-entropies times ``scale`` for hidden values h (m, B) with labels y, its gradient in
    W and its gradient in h (m, B)."""
    k = theta.shape[1] - 1
    W = theta[:, k, :]
    hk1 = h.pow(k - 1)
    act = hk1 * h                                             # (m, B)
    f = act.T @ W                                              # (B, p)
    lse = torch.logsumexp(f, dim=1)
    value = (lse - f.gather(1, y[:, None])[:, 0]).sum() * scale
    G = torch.softmax(f, dim=1)
    G[torch.arange(y.shape[0], device=y.device), y] -= 1.0
    G = G * scale                                              # ∂/∂f, (B, p)
    return value, act @ G, (k * hk1) * (W @ G.T)               # ∂/∂w_i = Σ_a h_i(a)^k G(a); ∂/∂h_i(a)


def loss_and_gradient(theta: Tensor, lam: float = 0.0, kind: str = "margin_norm", chunk: Optional[int] = None,
                      a: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """The loss of :func:`loss` and its gradient in closed form: with G = softmax(f) − e_y (per input, over
    the number of inputs), ∂/∂w_i = Σ_a h_i(a)^k G(a), ∂/∂u_{i,j}(b) = Σ_{a: a_j=b} k h_i(a)^{k−1} ⟨w_i, G(a)⟩,
    plus ∇R. Over all p^k inputs in blocks of about ``chunk`` inputs (:func:`blocks`; all at once by default),
    or over the inputs ``a`` (B, k) (a mini-batch: the mean over them)."""
    p, k = theta.shape[-1], theta.shape[1] - 1
    grad = torch.zeros_like(theta)
    if a is not None:
        E = [_one_hot(a[:, j], p, theta.dtype) for j in range(k)]
        value, grad[:, k, :], gh = _ce_from_hidden(theta, hidden(theta, a), labels(a, p), 1.0 / a.shape[0])
        for j in range(k):
            grad[:, j, :] = gh @ E[j]                          # ∂/∂u_{i,j}(b) = Σ_{a: a_j = b} ∂/∂h_i(a)
    else:
        value, inner = 0.0, p ** (k - 1)
        for s, e in blocks(p, k, chunk):
            y = labels(inputs(p, k, s * inner, e * inner, theta.device), p)
            v, gw, gh = _ce_from_hidden(theta, hidden_block(theta, s, e), y, 1.0 / p ** k)
            value = value + v
            grad[:, k, :] += gw
            for j, gu in enumerate(_sum_to_vectors(gh, s, e, p, k)):
                if j == 0:
                    grad[:, 0, s:e] += gu
                else:
                    grad[:, j, :] += gu
    r, gr = regulariser(theta, lam, kind)
    return value + r, grad + gr


# --------------------------------------------------------------------------- the construction of §E05.3
def lemma_e1(x: Tensor) -> Tensor:
    """(1/(2^k k!)) Σ_{c ∈ {±1}^k} (Π_j c_j)(Σ_j c_j x_j)^k, which Lemma E.1 says equals Π_j x_j; ``x`` (..., k)."""
    k = x.shape[-1]
    total = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
    for c in product((1.0, -1.0), repeat=k):
        cv = torch.tensor(c, dtype=x.dtype, device=x.device)
        total = total + math.prod(c) * (x * cv).sum(-1).pow(k)
    return total / (2 ** k * math.factorial(k))


def equal_norm(theta: Tensor) -> Tensor:
    """Each neuron rescaled to equal norms of its k+1 vectors with f unchanged: u ← t·u, w ← w/t^k with
    t^{k+1} = ‖w‖/(Π_j‖u_j‖)^{1/k} (exact when the u_j of a neuron have equal norms, as in §E05.3); the
    product Π_j‖u_j‖·‖w‖ is kept, and by AM–GM ‖θ_i‖ is then the smallest it can be for that product."""
    k = theta.shape[1] - 1
    norms = torch.linalg.vector_norm(theta, dim=2)                       # (m, k+1)
    a = norms[:, :k].log().mean(dim=1).exp()                            # geometric mean of the ‖u_j‖
    t = (norms[:, k] / a).pow(1.0 / (k + 1))
    out = theta.clone()
    out[:, :k, :] *= t[:, None, None]
    out[:, k, :] /= t.pow(k)[:, None]
    return out


def construction(p: int, k: int, dtype=torch.float64, device="cpu", *, phase: float = -1.0, rescale: bool = True,
                 frequencies: Optional[Sequence[int]] = None) -> Tensor:
    """The max-margin network of §E05.3: for each frequency ζ, cos(φ_1 + … + φ_k − ψ) (φ_j = 2πζa_j/p,
    ψ = 2πζc/p) expanded into its 2^k products of cosines and sines (even sets T of the k+1 angles carry the
    sines, sign (−1)^{|T|/2}); each product Π_j g_j(a_j)·h(c) written with Lemma E.1 as 2^{k−1} neurons
    u_j = c_j g_j, w = 2Π_j c_j/(2^k k!)·h (c and −c merged); then each neuron rescaled to equal norms.
    Then f_c(a) = Σ_ζ cos(2πζ(Σa − c)/p) = (p·[Σa ≡ c] − 1)/2 and the margin is p/2 at every input.
    Width 2^{2k−2}(p−1): shape (2^{2k−2}(p−1), k+1, p).

    The controls: ``phase`` = +1 builds cos(φ_1 + … + φ_k + ψ) (the output phase with the wrong sign),
    ``rescale=False`` skips the equal-norm step, ``frequencies`` keeps only those ζ."""
    if not is_odd_prime(p) or k < 1:
        raise ValueError(f"p must be an odd prime and k ≥ 1, got p = {p}, k = {k}")
    zetas = range(1, (p - 1) // 2 + 1) if frequencies is None else [int(z) for z in frequencies]
    if not zetas or any(not 1 <= z <= (p - 1) // 2 for z in zetas):
        raise ValueError(f"frequencies must be a non-empty subset of 1..{(p - 1) // 2}, got {list(zetas)}")
    grid = torch.arange(p, dtype=dtype, device=device)
    signs = [c for c in product((1.0, -1.0), repeat=k) if c[0] > 0]     # one of each pair c, −c
    neurons = []
    for zeta in zetas:
        ang = 2 * math.pi * zeta * grid / p
        cos, sin = torch.cos(ang), torch.sin(ang)
        for size in range(0, k + 2, 2):
            for T in combinations(range(k + 1), size):
                sign = (-1.0) ** (size // 2)
                g = [sin if j in T else cos for j in range(k)]
                h = phase * sin if k in T else cos                       # sin(phase·ψ) = phase·sin ψ
                for c in signs:
                    u = torch.stack([cj * gj for cj, gj in zip(c, g)])
                    w = sign * 2.0 * math.prod(c) / (2 ** k * math.factorial(k)) * h
                    neurons.append(torch.cat([u, w[None, :]], dim=0))
    theta = torch.stack(neurons)
    return equal_norm(theta) if rescale else theta


# --------------------------------------------------------------------------- Fourier power per neuron
class FourierPower(NamedTuple):
    """``power`` (m, (p+1)/2): the share of neuron i's squared norm at frequency ζ = 0, 1, …, (p−1)/2 (±ζ
    together, summed over its k+1 vectors; each row sums to 1); ``max_power`` (m,): the largest share at a
    frequency ζ ≥ 1; ``dominant`` (m,): that frequency (0 for a zero neuron)."""

    power: Tensor
    max_power: Tensor
    dominant: Tensor


def fourier_power(theta: Tensor) -> FourierPower:
    """The normalised Fourier power of every neuron (§E05.2: a max-margin neuron has all of it at one ζ)."""
    F = torch.fft.rfft(theta, dim=2).abs().pow(2).sum(dim=1)             # (m, (p+1)/2), bins ζ = 0..(p−1)/2
    F[:, 1:] *= 2.0                                                       # ±ζ
    total = F.sum(dim=1, keepdim=True)
    power = torch.where(total > 0, F / total.clamp_min(torch.finfo(theta.dtype).tiny), torch.zeros_like(F))
    mx, arg = power[:, 1:].max(dim=1)
    dominant = torch.where(total[:, 0] > 0, arg + 1, torch.zeros_like(arg))
    return FourierPower(power, mx, dominant)
