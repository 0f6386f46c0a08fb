"""The score-estimation toy of E01 (docs/theory/e01.md §E01.4): a Gaussian mixture in the plane, one noise
level of the forward process, and its analytic posterior mean and score.

Pure functions of torch tensors, generic in device and dtype. Data x0 ~ Σ_k π_k N(μ_k, s² I); the forward
process at one time t gives x_t = α_t x0 + σ_t ε, ε ~ N(0, I). Given x_t, component k has posterior weight
p(k | x_t) ∝ π_k N(x_t; α_t μ_k, (α_t² s² + σ_t²) I), and inside component k the posterior mean of x0 is
μ_k + α_t s²/(α_t² s² + σ_t²)(x_t − α_t μ_k). The score is s(x_t) = −(x_t − α_t E[x0 | x_t])/σ_t², so
learning it is the regression of x0 on x_t with noisy labels (the label x0 scatters around E[x0 | x_t]).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["Mixture", "circle_mixture", "sample", "forward_noise", "posterior_mean", "score",
           "affine_least_squares", "affine_predict"]


class Mixture(NamedTuple):
    """Σ_k π_k N(μ_k, s² I): means (k×2), weights π (k, summing to 1), the common standard deviation s."""

    means: Tensor
    weights: Tensor
    std: float


def circle_mixture(k: int, radius: float, std: float, dtype=torch.float64, device="cpu") -> Mixture:
    """k equal-weight components with means evenly spaced on the circle of ``radius``."""
    angle = 2 * math.pi * torch.arange(k, dtype=dtype, device=device) / k
    means = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return Mixture(means, torch.full((k,), 1.0 / k, dtype=dtype, device=device), float(std))


def sample(mix: Mixture, n: int, generator: torch.Generator) -> Tensor:
    """n draws of x0 (n×2), with an explicit generator (on the CPU, moved to the mixture's device)."""
    comp = torch.multinomial(mix.weights.cpu(), n, replacement=True, generator=generator)
    noise = torch.randn(n, mix.means.shape[1], generator=generator, dtype=mix.means.dtype)
    return mix.means[comp.to(mix.means.device)] + mix.std * noise.to(mix.means.device)


def forward_noise(x0: Tensor, alpha: float, sigma: float, generator: torch.Generator) -> Tensor:
    """x_t = α_t x0 + σ_t ε."""
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    return alpha * x0 + sigma * eps


def posterior_mean(xt: Tensor, mix: Mixture, alpha: float, sigma: float) -> Tensor:
    """E[x0 | x_t] (n×2) in closed form: the component posteriors times the per-component Gaussian
    posterior means (module docstring)."""
    var = alpha**2 * mix.std**2 + sigma**2
    diff = xt.unsqueeze(1) - alpha * mix.means.unsqueeze(0)  # n×k×2
    logp = torch.log(mix.weights).unsqueeze(0) - 0.5 * (diff * diff).sum(-1) / var
    post = torch.softmax(logp, dim=1)  # p(k | x_t)
    inside = mix.means.unsqueeze(0) + (alpha * mix.std**2 / var) * diff
    return (post.unsqueeze(-1) * inside).sum(1)


def score(xt: Tensor, mix: Mixture, alpha: float, sigma: float) -> Tensor:
    """∇ log p_t(x_t) = −(x_t − α_t E[x0 | x_t])/σ_t² (Tweedie's formula)."""
    return -(xt - alpha * posterior_mean(xt, mix, alpha, sigma)) / sigma**2


def affine_least_squares(Z: Tensor, Y: Tensor) -> Tensor:
    """The least-squares affine map Y ≈ [Z, 1] B ((d+1)×k): the linear-regression stand-in of check E01.C3."""
    Z1 = torch.cat([Z, torch.ones(Z.shape[0], 1, dtype=Z.dtype, device=Z.device)], dim=1)
    return torch.linalg.lstsq(Z1, Y).solution


def affine_predict(B: Tensor, Z: Tensor) -> Tensor:
    """[Z, 1] B."""
    return Z @ B[:-1] + B[-1]
