"""kernels/ntk.py: the softmax network's output, loss and gradient against autograd, the closed-form NTK against
per-sample Jacobians (torch.func and a plain loop), the limit kernels and the comparison networks."""
from __future__ import annotations

import math

import pytest
import torch

from kernels import ntk as K

F64 = torch.float64


def setup(n=6, d_in=3, d_out=2, m=40, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d_in, generator=g, dtype=dtype)
    X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    Y = torch.randn(n, d_out, generator=g, dtype=dtype) * 0.5
    W = torch.randn(d_in, m, generator=g, dtype=dtype)
    a = torch.where(torch.rand(d_out, m, generator=g) < 0.5, -1.0, 1.0).to(dtype)
    return X, Y, W, a


def test_prefactor_readings():
    assert K.prefactor(64) == 8.0 and K.prefactor(64, "m") == 64.0
    with pytest.raises(ValueError, match="prefactor"):
        K.prefactor(64, "log_m")


def test_output_loss_and_gradient_agree_with_autograd():
    X, Y, W, a = setup()
    kappa = math.sqrt(W.shape[1])
    F = K.network_output(W, X, a, kappa)
    assert F.shape == (6, 2)
    S = torch.softmax(X @ W, dim=1)
    assert torch.allclose(F, kappa * S @ a.T) and torch.allclose(S.sum(1), torch.ones(6, dtype=F64))
    per = torch.stack([K.per_sample_output(W, x, a, kappa) for x in X])
    assert torch.allclose(per, F, rtol=1e-13, atol=1e-13)
    L, G = K.loss_and_gradient(W, X, Y, a, kappa)
    assert torch.allclose(L, K.loss(W, X, Y, a, kappa))
    ref = torch.func.grad(lambda V: K.loss(V, X, Y, a, kappa))(W)
    assert G.shape == W.shape and torch.allclose(G, ref, rtol=1e-11, atol=1e-12)


def test_logits_are_shifted_so_large_weights_do_not_overflow():
    X, Y, W, a = setup()
    L, G = K.loss_and_gradient(300.0 * W, X, Y, a, 5.0)
    assert torch.isfinite(L) and torch.isfinite(G).all()


@pytest.mark.parametrize("d_in,d_out,m", [(3, 2, 40), (4, 4, 17), (2, 3, 8)])
def test_closed_form_ntk_equals_per_sample_jacobians(d_in, d_out, m):
    """H[(i, l), (j, l')] = (x_i·x_j)Σ_r C_l[i, r]C_l'[j, r] against J Jᵀ (torch.func vmap/jacrev and a loop)."""
    X, _, W, a = setup(d_in=d_in, d_out=d_out, m=m)
    kappa = math.sqrt(m)
    H = K.ntk(W, X, a, kappa)
    assert H.shape == (6 * d_out, 6 * d_out) and torch.allclose(H, H.T)
    scale = float(H.abs().max())
    assert float((H - K.ntk_autograd(W, X, a, kappa)).abs().max()) <= 1e-12 * scale
    assert float((H - K.ntk_loop(W, X, a, kappa)).abs().max()) <= 1e-12 * scale
    assert float(torch.linalg.eigvalsh(H)[0]) >= -1e-12 * scale  # a Gram matrix
    # without the centring term ⟨a_l, S⟩ the formula is another matrix
    assert float((K.ntk(W, X, a, kappa, centred=False) - H).abs().max()) > 1e-3 * scale


def test_jacobian_factors_give_the_derivative_of_each_output():
    X, _, W, a = setup()
    kappa = math.sqrt(W.shape[1])
    C = K.jacobian_factors(W, X, a, kappa)
    jac = torch.func.jacrev(lambda V: K.per_sample_output(V, X[2], a, kappa))(W)  # d_out × d_in × m
    assert torch.allclose(jac, C[:, 2].unsqueeze(1) * X[2].view(1, -1, 1), rtol=1e-12, atol=1e-14)


def test_top_eigenvalue_without_forming_the_kernel():
    X, _, W, a = setup(n=10, m=60)
    kappa = math.sqrt(60)
    lam = K.ntk_top_eigenvalue(K.jacobian_factors(W, X, a, kappa), X, torch.Generator().manual_seed(1), iters=500, tol=1e-13)
    assert math.isclose(lam, float(torch.linalg.eigvalsh(K.ntk(W, X, a, kappa))[-1]), rel_tol=1e-8)


def test_limit_kernel_blocks_and_the_infinite_width_limit():
    """H(W(0)) → K ⊗ I at large m (κ_m = √m, W(0) ~ N(0, σ²)): diagonal blocks near K, off-diagonal near 0."""
    X, _, _, _ = setup(n=5, d_in=3, d_out=2)
    sigma2 = 0.5
    Kl = K.limit_kernel(X, sigma2)
    G = X @ X.T
    assert torch.allclose(Kl, G * torch.exp(sigma2 * G)) and float(torch.linalg.eigvalsh(Kl)[0]) > 0
    Hs = K.limit_ntk(Kl, 2)
    assert torch.equal(K.diagonal_blocks(Hs, 2)[1], Kl) and float(Hs[0, 1]) == 0.0
    g = torch.Generator().manual_seed(5)
    m = 200_000
    W = math.sqrt(sigma2) * torch.randn(3, m, generator=g, dtype=F64)
    a = torch.where(torch.rand(2, m, generator=g) < 0.5, -1.0, 1.0).to(F64)
    H = K.ntk(W, X, a, math.sqrt(m))
    assert float(torch.linalg.vector_norm(H - Hs) / torch.linalg.vector_norm(Hs)) < 0.02


def test_comparison_networks_and_their_limit_kernels():
    X, Y, W, a = setup(n=5, d_in=3, d_out=2, m=30)
    for act in K.ACTIVATIONS:
        L, G = K.activation_loss_and_gradient(W, X, Y, a, act)
        ref = torch.func.grad(lambda V: 0.5 * ((K.activation_output(V, X, a, act) - Y) ** 2).sum())(W)
        assert torch.allclose(G, ref, rtol=1e-11, atol=1e-12)
        H = K.activation_ntk(W, X, a, act)
        assert float((H - K.activation_ntk_autograd(W, X, a, act)).abs().max()) <= 1e-12 * float(H.abs().max())
    with pytest.raises(ValueError, match="activation"):
        K.activation_output(W, X, a, "tanh")
    # exp kernel = e^{σ²} × softmax kernel on unit inputs; the ReLU kernel is the Monte-Carlo limit of its NTK
    assert torch.allclose(K.exp_kernel(X, 0.7), math.exp(0.7) * K.limit_kernel(X, 0.7), rtol=1e-13)
    g = torch.Generator().manual_seed(2)
    m = 200_000
    W = torch.randn(3, m, generator=g, dtype=F64)
    a = torch.where(torch.rand(2, m, generator=g) < 0.5, -1.0, 1.0).to(F64)
    blocks = K.diagonal_blocks(K.activation_ntk(W, X, a, "relu"), 2)
    Kr = K.relu_kernel(X)
    assert torch.allclose(torch.diagonal(Kr), torch.full((5,), 0.5, dtype=F64))
    assert float(torch.linalg.vector_norm(blocks - Kr) / (math.sqrt(2) * torch.linalg.vector_norm(Kr))) < 0.02


def test_weight_drift_and_dtype_genericity():
    X, Y, W, a = setup(dtype=torch.float32)
    assert K.ntk(W, X, a, 2.0).dtype == torch.float32 and K.loss_and_gradient(W, X, Y, a, 2.0)[1].dtype == torch.float32
    W0 = W.clone()
    W1 = W0.clone()
    W1[:, 3] += torch.tensor([3.0, 4.0, 0.0])
    assert float(K.weight_drift(W1, W0)) == pytest.approx(5.0)
