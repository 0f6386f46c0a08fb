"""kernels/diffusion.py: the mixture's posterior mean against self-normalised Monte Carlo, the score against the
gradient of the noised density, and the affine least-squares stand-in."""
from __future__ import annotations

import math

import torch

from kernels import diffusion as D

F64 = torch.float64


def log_density(xt, mix, alpha, sigma):
    """log p_t(x_t) of the noised mixture Σ_k π_k N(αμ_k, (α²s² + σ²)I) (2-d)."""
    var = alpha**2 * mix.std**2 + sigma**2
    diff = xt.unsqueeze(-2) - alpha * mix.means
    comp = torch.log(mix.weights) - 0.5 * (diff**2).sum(-1) / var - math.log(2 * math.pi * var)
    return torch.logsumexp(comp, dim=-1)


def test_sampling_is_seeded_and_has_the_mixture_moments():
    mix = D.circle_mixture(4, 2.0, 0.1)
    a = D.sample(mix, 20000, torch.Generator().manual_seed(0))
    b = D.sample(mix, 20000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (20000, 2)
    assert float(a.mean(0).abs().max()) < 0.05 and abs(float((a**2).sum(1).mean()) - (4.0 + 2 * 0.01)) < 0.1
    assert torch.allclose(torch.linalg.vector_norm(mix.means, dim=1), torch.full((4,), 2.0, dtype=F64))


def test_posterior_mean_against_monte_carlo():
    mix = D.circle_mixture(3, 1.0, 0.3)
    alpha, sigma = 0.8, 0.6
    g = torch.Generator().manual_seed(1)
    x0 = D.sample(mix, 400_000, g)
    xt = torch.tensor([[0.3, -0.2], [0.9, 0.1], [-0.5, 0.6]], dtype=F64)
    w = torch.softmax(-0.5 * ((xt.unsqueeze(1) - alpha * x0.unsqueeze(0)) ** 2).sum(-1) / sigma**2, dim=1)
    mc = w @ x0
    assert float((D.posterior_mean(xt, mix, alpha, sigma) - mc).abs().max()) < 1e-2


def test_one_component_is_the_gaussian_posterior_and_the_score_is_tweedies():
    mix = D.Mixture(torch.tensor([[1.0, -2.0]], dtype=F64), torch.ones(1, dtype=F64), 0.5)
    alpha, sigma = 0.7, 0.4
    xt = torch.tensor([[0.2, 0.3], [-1.0, 2.0]], dtype=F64)
    var = alpha**2 * 0.25 + sigma**2
    expect = mix.means + alpha * 0.25 / var * (xt - alpha * mix.means)
    assert torch.allclose(D.posterior_mean(xt, mix, alpha, sigma), expect)
    mix = D.circle_mixture(5, 1.5, 0.2)
    xt = torch.randn(7, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    grad = torch.func.vmap(torch.func.grad(lambda z: log_density(z, mix, alpha, sigma)))(xt)
    assert torch.allclose(D.score(xt, mix, alpha, sigma), grad, rtol=1e-10, atol=1e-12)


def test_affine_least_squares_recovers_an_affine_map():
    g = torch.Generator().manual_seed(4)
    Z = torch.randn(50, 2, generator=g, dtype=F64)
    B = torch.tensor([[1.0, 2.0], [-0.5, 0.3], [0.1, -0.2]], dtype=F64)
    Y = Z @ B[:2] + B[2]
    assert torch.allclose(D.affine_least_squares(Z, Y), B, atol=1e-12)
    assert torch.allclose(D.affine_predict(B, Z), Y)
    xt = D.forward_noise(Z, 0.5, 0.0, g)
    assert torch.allclose(xt, 0.5 * Z)
