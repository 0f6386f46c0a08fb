"""kernels/two_layer.py against torch.autograd and finite differences on generated shapes and points, for every
activation and both readings (docs/theory/e09.md §E09.2–§E09.3)."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import two_layer as K

MODELS = [(a, r) for a in K.ACTIVATIONS for r in K.READINGS]


def instance(n: int, d: int, m: int, seed: int, scale: float, a_mean: float = 1.0, dtype=torch.float64):
    """C (n×d), A (m×n), b (m), w (n), x (d): A = (N + a_mean)·√n as in the planted data, b and x Gaussian."""
    g = torch.Generator().manual_seed(seed)
    C = scale * torch.randn(n, d, generator=g, dtype=dtype) / d**0.5
    A = (torch.randn(m, n, generator=g, dtype=dtype) + a_mean) * n**0.5
    b = torch.randn(m, generator=g, dtype=dtype)
    w = 0.1 + torch.rand(n, generator=g, dtype=dtype)
    x = torch.randn(d, generator=g, dtype=dtype)
    return C, A, b, w, x


def naive_loss(C, A, b, w, x, act, reading):
    """The loss written directly with torch.softmax, for autograd (ReLU's derivative at 0 is 0 in both)."""
    phi = {"relu": torch.relu, "identity": lambda t: t, "exp": torch.exp}[act]
    u = torch.softmax(C @ x, 0)
    v = phi(A @ u) if reading == "composed" else A @ phi(u)
    return 0.5 * torch.sum((v - b) ** 2) + 0.5 * torch.sum((w * (C @ x)) ** 2)


shapes = st.tuples(st.integers(2, 23), st.integers(1, 6), st.integers(1, 17), st.integers(0, 10_000),
                   st.floats(0.05, 3.0), st.sampled_from([1.0, 0.0]), st.sampled_from(MODELS))


def _scaled(case):
    """exp of the composed pre-activations ≈ (N + 1)√n can reach e^{±20}: keep them moderate for exp."""
    n, d, m, seed, scale, a_mean, (act, reading) = case
    return n, d, m, seed, scale, (0.0 if act == "exp" and reading == "composed" else a_mean), act, reading


@settings(max_examples=40, deadline=None)
@given(shapes)
def test_loss_gradient_and_jacobian_match_autograd(case):
    n, d, m, seed, scale, a_mean, act, reading = _scaled(case)
    C, A, b, w, x = instance(n, d, m, seed, scale, a_mean)
    xr = x.clone().requires_grad_(True)
    ref = naive_loss(C, A, b, w, xr, act, reading)
    (g_ref,) = torch.autograd.grad(ref, xr)
    L, g = K.loss_and_gradient(C, A, b, w, x, act, reading)
    torch.testing.assert_close(L, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-9 * float(g_ref.abs().max()) + 1e-12)
    assert torch.equal(K.loss(C, A, b, w, x, act, reading), L) and torch.equal(K.gradient(C, A, b, w, x, act, reading), g)
    J_ref = torch.autograd.functional.jacobian(lambda z: K.forward(C, A, b, w, z, act, reading).v, x)
    J = K.jacobian(C, A, b, w, x, act, reading)
    torch.testing.assert_close(J, J_ref, rtol=1e-9, atol=1e-9 * float(J_ref.abs().max()) + 1e-14)


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_hessian_hvp_and_gauss_newton_split_match_autograd(case):
    n, d, m, seed, scale, a_mean, act, reading = _scaled(case)
    C, A, b, w, x = instance(n, d, m, seed, scale, a_mean)
    H_ref = torch.autograd.functional.hessian(lambda z: naive_loss(C, A, b, w, z, act, reading), x)
    top = float(H_ref.abs().max())
    H = K.hessian(C, A, b, w, x, act, reading)
    torch.testing.assert_close(H, H_ref, rtol=1e-8, atol=1e-9 * top)
    assert torch.equal(H, H.T)
    v = torch.linspace(-1, 1, d, dtype=x.dtype)
    torch.testing.assert_close(K.hessian_vector_product(C, A, b, w, x, v, act, reading), H_ref @ v, rtol=1e-8, atol=1e-9 * top)
    M = K.gauss_newton_matrix(C, A, b, w, x, act, reading)
    G = K.gauss_newton_factor(C, A, b, w, x, act, reading)
    torch.testing.assert_close(M, G @ C, rtol=1e-10, atol=1e-12 * float(M.abs().max()) + 1e-15)
    split = M.T @ M + K.regulariser(C, w) + K.curvature(C, A, b, w, x, act, reading)
    torch.testing.assert_close(split, H_ref, rtol=1e-8, atol=1e-9 * top)


@pytest.mark.parametrize("act,reading", MODELS)
def test_hessian_matches_central_differences_of_the_gradient(act, reading):
    """The table's Hessian against differences of the gradient (h = 1e-5), at odd sizes."""
    C, A, b, w, x = instance(17, 5, 11, 3, 1.5, 0.0 if act == "exp" and reading == "composed" else 1.0)
    h, E = 1e-5, torch.eye(5, dtype=torch.float64)
    fd = torch.stack([(K.gradient(C, A, b, w, x + h * e, act, reading) - K.gradient(C, A, b, w, x - h * e, act, reading))
                      / (2 * h) for e in E], dim=1)
    H = K.hessian(C, A, b, w, x, act, reading)
    assert float((H - fd).abs().max() / H.abs().max()) < 1e-7


def test_the_gauss_newton_factor_is_the_jacobian_with_respect_to_the_logits():
    """G = ∂v/∂z: diag(φ'(Au)) A J (composed), A diag(φ'(u)) J (readout), J = diag(u) − uuᵀ."""
    C, A, b, w, x = instance(9, 3, 7, 1, 1.0)
    z = C @ x
    for act, reading in MODELS:
        def v_of_z(t):
            u = torch.softmax(t, 0)
            phi = K.activation(act, A @ u if reading == "composed" else u)[0]
            return phi if reading == "composed" else A @ phi
        G_ref = torch.autograd.functional.jacobian(v_of_z, z)
        torch.testing.assert_close(K.gauss_newton_factor(C, A, b, w, x, act, reading), G_ref, rtol=1e-10, atol=1e-10)


def test_the_curvature_vanishes_at_zero_residual_and_the_softmax_term_is_its_bracket():
    C, A, _, w, x = instance(13, 4, 9, 2, 1.0)
    for act, reading in MODELS:
        b = K.forward(C, A, torch.zeros(9, dtype=C.dtype), w, x, act, reading).v  # b = v(x): r = 0
        assert float(K.curvature(C, A, b, w, x, act, reading).abs().max()) < 1e-9
        H = K.hessian(C, A, b, w, x, act, reading)
        M = K.gauss_newton_matrix(C, A, b, w, x, act, reading)
        torch.testing.assert_close(H, M.T @ M + K.regulariser(C, w), rtol=1e-9, atol=1e-9)
    b = torch.randn(9, generator=torch.Generator().manual_seed(5), dtype=C.dtype)
    for act in ("relu", "identity"):  # φ'' = 0: the curvature is the softmax term alone
        torch.testing.assert_close(K.curvature(C, A, b, w, x, act), K.softmax_curvature(C, A, b, w, x, act))
    assert float(K.softmax_curvature(C, A, b, w, x).abs().max()) > 1e-3


def test_relu_is_the_identity_where_every_pre_activation_is_positive():
    """With A = (N + 1)√n every Au > 0 (composed), and u > 0 always (read-out): ReLU ≡ identity, bit for bit."""
    C, A, b, w, x = instance(31, 4, 20, 4, 2.0, a_mean=3.0)
    assert float((A @ K.softmax(C @ x)).min()) > 0
    for reading in K.READINGS:
        for fn in (K.loss, K.gradient, K.hessian, K.curvature):
            assert torch.equal(fn(C, A, b, w, x, "relu", reading), fn(C, A, b, w, x, "identity", reading))
    A0 = torch.randn(20, 31, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # mixed signs
    assert not torch.equal(K.hessian(C, A0, b, w, x, "relu"), K.hessian(C, A0, b, w, x, "identity"))


def test_logits_at_the_edge_of_overflow_are_finite():
    """Logits near 700 (float64's exp overflows at 709.8): the shifted softmax keeps every quantity finite."""
    C, A, b, w, x = instance(12, 3, 8, 6, 1.0)
    C = C / C.abs().max()
    x = torch.tensor([700.0, 0.0, 0.0], dtype=torch.float64)
    C[:, 0] = torch.linspace(-1.0, 1.0, 12, dtype=torch.float64)
    for act, reading in [("relu", "composed"), ("identity", "readout"), ("exp", "readout")]:
        L, g = K.loss_and_gradient(C, A, b, w, x, act, reading)
        H = K.hessian(C, A, b, w, x, act, reading)
        assert torch.isfinite(L) and torch.isfinite(g).all() and torch.isfinite(H).all()
        u = K.forward(C, A, b, w, x, act, reading).u
        assert abs(float(u.sum()) - 1.0) < 1e-12 and float(u.max()) > 0.999


def test_float32_and_unknown_names():
    C, A, b, w, x = instance(7, 2, 5, 0, 1.0, dtype=torch.float32)
    assert K.hessian(C, A, b, w, x).dtype == torch.float32
    with pytest.raises(ValueError, match="activation"):
        K.loss(C, A, b, w, x, "tanh")
    with pytest.raises(ValueError, match="reading"):
        K.loss(C, A, b, w, x, "relu", "sideways")
