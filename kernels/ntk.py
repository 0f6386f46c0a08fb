"""Two-layer softmax network and its neural tangent kernel (E01, docs/theory/e01.md §E01.1–§E01.3).

Pure functions of torch tensors, generic in device and dtype (float64 is the project default).
Notation of docs/theory/e01.md §E01.1: inputs X (n×d_in, rows x_i), targets Y (n×d_out), trained weights
W = [w_1, …, w_m] (d_in×m), fixed output signs a (d_out×m, rows a_l ∈ {±1}^m),

    S(x) = softmax(Wᵀx) ∈ Δ_m,    F(W, x, a)_l = κ_m ⟨a_l, S(x)⟩,    L(W) = ½ Σ_i ‖F(W, x_i, a) − y_i‖²,

with the output prefactor κ_m an argument (:func:`prefactor`: √m, the ledger's reading, or m). The paper has
d_in = d_out = d; the functions allow them to differ (the score toy of kernels/diffusion.py feeds 3-d inputs).

Derivative (§E01.2): ∂F_l(x)/∂w_r = κ_m S_r(x)(a_{l,r} − ⟨a_l, S(x)⟩) x, so with the *Jacobian factors*
C_l[i, r] = κ_m S_r(x_i)(a_{l,r} − ⟨a_l, S(x_i)⟩) the empirical NTK (nd_out × nd_out, rows and columns
ordered (i, l) ↦ i·d_out + l) is

    H[(i, l), (j, l')] = (x_i·x_j) Σ_r C_l[i, r] C_{l'}[j, r].

Its infinite-width limit (w_r ~ N(0, σ²I), a i.i.d. signs, κ_m = √m) is H* = K ⊗ I_{d_out} in this ordering
(I_d ⊗ K in the paper's (l, i) ordering) with K_ij = (x_i·x_j) exp(σ² x_i·x_j) (:func:`limit_kernel`).

The comparison networks of §E01.2 (C3): f(W, x)_l = m^{-1/2} Σ_r a_{l,r} φ(w_r·x) with φ = ReLU (limit kernel
(x_i·x_j)(π − arccos(x_i·x_j))/(2π) for w ~ N(0, I) and unit inputs) or φ = exp (limit kernel
(x_i·x_j) exp(σ²‖x_i + x_j‖²/2)).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

__all__ = [
    "PREFACTORS",
    "ACTIVATIONS",
    "prefactor",
    "softmax_features",
    "network_output",
    "loss",
    "loss_and_gradient",
    "jacobian_factors",
    "ntk",
    "ntk_autograd",
    "ntk_loop",
    "per_sample_output",
    "ntk_top_eigenvalue",
    "limit_kernel",
    "limit_ntk",
    "diagonal_blocks",
    "weight_drift",
    "activation_output",
    "activation_loss_and_gradient",
    "activation_ntk",
    "activation_ntk_autograd",
    "relu_kernel",
    "exp_kernel",
]

#: readings of the output prefactor κ_m (docs/theory/e01.md §E01.1, [R?]): √m (NTK-consistent, the ledger's) or m
PREFACTORS = ("sqrt_m", "m")
#: activations of the comparison networks of §E01.2
ACTIVATIONS = ("relu", "exp")


def prefactor(m: int, reading: str = "sqrt_m") -> float:
    """κ_m: √m (``sqrt_m``, the ledger's reading) or m (``m``), docs/theory/e01.md §E01.1."""
    if reading == "sqrt_m":
        return math.sqrt(m)
    if reading == "m":
        return float(m)
    raise ValueError(f"unknown prefactor reading {reading!r}; the readings are {', '.join(PREFACTORS)}")


def softmax_features(W: Tensor, X: Tensor) -> Tensor:
    """S (n×m), row i = softmax(Wᵀx_i) (torch.softmax subtracts the row maximum: exact, F depends on Wᵀx via S only)."""
    return torch.softmax(X @ W, dim=-1)


def network_output(W: Tensor, X: Tensor, a: Tensor, kappa: float) -> Tensor:
    """F (n×d_out), F[i, l] = κ_m ⟨a_l, S(x_i)⟩ (docs/theory/e01.md §E01.1)."""
    return kappa * softmax_features(W, X) @ a.T


def loss(W: Tensor, X: Tensor, Y: Tensor, a: Tensor, kappa: float) -> Tensor:
    """L(W) = ½ Σ_i ‖F(W, x_i, a) − y_i‖²."""
    R = network_output(W, X, a, kappa) - Y
    return 0.5 * (R * R).sum()


def loss_and_gradient(W: Tensor, X: Tensor, Y: Tensor, a: Tensor, kappa: float) -> tuple[Tensor, Tensor]:
    """L(W) and ∇L(W) = Xᵀ G (d_in×m), G[i, r] = κ_m S_r(x_i)(P_ir − ⟨P_i, S(x_i)⟩), P = R a, R = F − Y:
    the chain rule through ∂F_l/∂w_r = κ_m S_r(a_{l,r} − ⟨a_l, S⟩)x (docs/theory/e01.md §E01.2)."""
    S = softmax_features(W, X)
    R = kappa * S @ a.T - Y
    P = R @ a
    G = kappa * S * (P - (P * S).sum(dim=1, keepdim=True))
    return 0.5 * (R * R).sum(), X.T @ G


def jacobian_factors(W: Tensor, X: Tensor, a: Tensor, kappa: float, centred: bool = True) -> Tensor:
    """C (d_out×n×m), C[l, i, r] = κ_m S_r(x_i)(a_{l,r} − ⟨a_l, S(x_i)⟩): ∂F_l(x_i)/∂w_r = C[l, i, r] x_i.
    ``centred=False`` drops ⟨a_l, S⟩ (a wrong derivative, the control of check E01.C1)."""
    S = softmax_features(W, X)
    A = a.unsqueeze(1)  # d_out×1×m
    if centred:
        A = A - (S @ a.T).T.unsqueeze(2)  # a_{l,r} − ⟨a_l, S(x_i)⟩
    return kappa * S.unsqueeze(0) * A


def _kernel_from_factors(C: Tensor, X: Tensor) -> Tensor:
    """H[(i, l), (j, l')] = (x_i·x_j) Σ_r C[l, i, r] C[l', j, r], rows (i, l) ↦ i·d_out + l."""
    d_out, n, m = C.shape
    rows = C.permute(1, 0, 2).reshape(n * d_out, m)
    gram = X @ X.T
    return (rows @ rows.T) * torch.repeat_interleave(torch.repeat_interleave(gram, d_out, 0), d_out, 1)


def ntk(W: Tensor, X: Tensor, a: Tensor, kappa: float, centred: bool = True) -> Tensor:
    """The empirical NTK H(W) (nd_out × nd_out) in closed form, docs/theory/e01.md §E01.2."""
    return _kernel_from_factors(jacobian_factors(W, X, a, kappa, centred), X)


def ntk_top_eigenvalue(C: Tensor, X: Tensor, generator: torch.Generator, iters: int = 50, tol: float = 1e-8) -> float:
    """λ_max(H) = ‖J‖² by power iteration on JᵀJ, without forming H: J u = Σ_r C[l, i, r](Xu)[i, r] and
    Jᵀv = Xᵀ Σ_l v[:, l] ∘ C[l] (O(n·d_out·m) each), for widths and sample sizes whose H is too large to form.
    ``C`` are the Jacobian factors (:func:`jacobian_factors`), the generator draws the start."""
    u = torch.randn(X.shape[1], C.shape[2], generator=generator, dtype=X.dtype).to(X.device)
    lam = 0.0
    for _ in range(iters):
        u = u / torch.linalg.vector_norm(u)
        v = (C * (X @ u).unsqueeze(0)).sum(-1)            # J u, d_out×n
        u = X.T @ (v.unsqueeze(-1) * C).sum(0)              # Jᵀ J u, d_in×m
        new = float(torch.linalg.vector_norm(u))
        if abs(new - lam) <= tol * new:
            return new
        lam = new
    return lam


def per_sample_output(W: Tensor, x: Tensor, a: Tensor, kappa: float) -> Tensor:
    """F(W, x, a) (d_out) for one input x (d_in): the function whose Jacobians :func:`ntk_autograd` takes."""
    z = W.T @ x
    return kappa * a @ torch.softmax(z, dim=0)


def ntk_autograd(W: Tensor, X: Tensor, a: Tensor, kappa: float,
                 fn: Callable[[Tensor, Tensor, Tensor, float], Tensor] = per_sample_output) -> Tensor:
    """H(W) = J Jᵀ with J (nd_out × d_in·m) the per-sample Jacobians ∂F(W, x_i)/∂W, all samples at once
    (torch.func.vmap of jacrev): the autograd reference of :func:`ntk`."""
    jac = torch.func.vmap(torch.func.jacrev(fn), in_dims=(None, 0, None, None))(W, X, a, kappa)
    J = jac.reshape(X.shape[0] * a.shape[0], -1)
    return J @ J.T


def ntk_loop(W: Tensor, X: Tensor, a: Tensor, kappa: float,
             fn: Callable[[Tensor, Tensor, Tensor, float], Tensor] = per_sample_output) -> Tensor:
    """H(W) from a plain loop of backward passes, one per (sample, output): the naive baseline of
    benchmarks/ntk.py."""
    rows = []
    Wg = W.detach().requires_grad_(True)
    for i in range(X.shape[0]):
        out = fn(Wg, X[i], a, kappa)
        for l in range(a.shape[0]):
            (g,) = torch.autograd.grad(out[l], Wg, retain_graph=l + 1 < a.shape[0])
            rows.append(g.reshape(-1))
    J = torch.stack(rows)
    return J @ J.T


def limit_kernel(X: Tensor, sigma2: float) -> Tensor:
    """K_ij = (x_i·x_j) exp(σ² x_i·x_j), the infinite-width softmax NTK block (docs/theory/e01.md §E01.2):
    E[e^{w·x_i} e^{w·x_j}]/(E e^{w·x_i} E e^{w·x_j}) = exp(σ² x_i·x_j) for w ~ N(0, σ²I)."""
    G = X @ X.T
    return G * torch.exp(sigma2 * G)


def limit_ntk(K: Tensor, d_out: int) -> Tensor:
    """H* = K ⊗ I_{d_out} in the (i, l) ordering of :func:`ntk` (the paper's I_d ⊗ K)."""
    return torch.kron(K, torch.eye(d_out, dtype=K.dtype, device=K.device))


def diagonal_blocks(H: Tensor, d_out: int) -> Tensor:
    """The d_out diagonal blocks H[(·, l), (·, l)] (d_out×n×n) of an NTK in the (i, l) ordering."""
    return torch.stack([H[l::d_out, l::d_out] for l in range(d_out)])


def weight_drift(W: Tensor, W0: Tensor) -> Tensor:
    """max_r ‖w_r − w_r(0)‖ over the neurons (columns), the lazy-training radius R of Lemma 5.1."""
    return torch.linalg.vector_norm(W - W0, dim=0).max()


# --------------------------------------------------------------------------- comparison networks (C3)
def _activation(name: str, z: Tensor) -> tuple[Tensor, Tensor]:
    if name == "relu":
        d1 = (z > 0).to(z.dtype)
        return z * d1, d1
    if name == "exp":
        e = torch.exp(z)
        return e, e
    raise ValueError(f"unknown activation {name!r}; the activations are {', '.join(ACTIVATIONS)}")


def activation_output(W: Tensor, X: Tensor, a: Tensor, activation: str) -> Tensor:
    """f (n×d_out), f[i, l] = m^{-1/2} Σ_r a_{l,r} φ(w_r·x_i) (docs/theory/e01.md §E01.2)."""
    phi, _ = _activation(activation, X @ W)
    return phi @ a.T / math.sqrt(W.shape[1])


def activation_loss_and_gradient(W: Tensor, X: Tensor, Y: Tensor, a: Tensor, activation: str) -> tuple[Tensor, Tensor]:
    """½‖f − Y‖² and its gradient Xᵀ[(R a) ∘ φ'(XW)]/√m."""
    phi, d1 = _activation(activation, X @ W)
    s = 1.0 / math.sqrt(W.shape[1])
    R = s * phi @ a.T - Y
    return 0.5 * (R * R).sum(), X.T @ (s * (R @ a) * d1)


def activation_ntk(W: Tensor, X: Tensor, a: Tensor, activation: str) -> Tensor:
    """H[(i, l), (j, l')] = (x_i·x_j) m^{-1} Σ_r a_{l,r} a_{l',r} φ'(w_r·x_i) φ'(w_r·x_j), closed form."""
    _, d1 = _activation(activation, X @ W)
    C = a.unsqueeze(1) * d1.unsqueeze(0) / math.sqrt(W.shape[1])
    return _kernel_from_factors(C, X)


def _activation_single(activation: str):
    def fn(W: Tensor, x: Tensor, a: Tensor, _kappa: float) -> Tensor:
        phi, _ = _activation(activation, W.T @ x)
        return a @ phi / math.sqrt(W.shape[1])
    return fn


def activation_ntk_autograd(W: Tensor, X: Tensor, a: Tensor, activation: str) -> Tensor:
    """:func:`activation_ntk` by per-sample Jacobians (torch.func)."""
    return ntk_autograd(W, X, a, 1.0, fn=_activation_single(activation))


def relu_kernel(X: Tensor) -> Tensor:
    """(x_i·x_j)(π − arccos(x_i·x_j))/(2π): the ReLU network's limit NTK block for w ~ N(0, I), unit inputs."""
    G = X @ X.T
    return G * (math.pi - torch.arccos(G.clamp(-1.0, 1.0))) / (2 * math.pi)


def exp_kernel(X: Tensor, sigma2: float) -> Tensor:
    """(x_i·x_j) exp(σ²‖x_i + x_j‖²/2): the exp network's limit NTK block for w ~ N(0, σ²I)."""
    G = X @ X.T
    sq = torch.diagonal(G)
    return G * torch.exp(0.5 * sigma2 * (sq[:, None] + sq[None, :] + 2 * G))
