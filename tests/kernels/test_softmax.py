"""kernels/softmax.py against torch.autograd on generated shapes and points (docs/theory/p1.md §P1.2)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import softmax as K


def instance(n: int, d: int, seed: int, scale: float, dtype=torch.float64, b_kind: str = "simplex"):
    g = torch.Generator().manual_seed(seed)
    A = scale * torch.randn(n, d, generator=g, dtype=dtype)
    if b_kind == "simplex":
        b = torch.rand(n, generator=g, dtype=dtype)
        b /= b.sum()
    else:
        b = torch.zeros(n, dtype=dtype)
        b[seed % n] = 1.0 if b_kind == "e_k" else -1.0
    w = 0.5 + torch.rand(n, generator=g, dtype=dtype)
    x = torch.randn(d, generator=g, dtype=dtype)
    return A, b, w, x


shapes = st.tuples(st.integers(2, 40), st.integers(1, 7), st.integers(0, 10_000), st.floats(0.05, 3.0),
                   st.sampled_from(["simplex", "e_k", "-e_k"]))


def autograd_loss(A, b, w, x):
    """The loss of Def. 1.2 written naively, for autograd (torch.softmax is itself stable)."""
    u = A @ x
    return 0.5 * torch.sum((torch.softmax(u, 0) - b) ** 2) + 0.5 * torch.sum((w * u) ** 2)


@settings(max_examples=40, deadline=None)
@given(shapes)
def test_loss_and_gradient_match_autograd(case):
    n, d, seed, scale, b_kind = case
    A, b, w, x = instance(n, d, seed, scale, b_kind=b_kind)
    xr = x.clone().requires_grad_(True)
    ref = autograd_loss(A, b, w, xr)
    (g_ref,) = torch.autograd.grad(ref, xr)
    value, g = K.loss_and_gradient(A, b, w, x)
    torch.testing.assert_close(value, ref.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(K.loss(A, b, w, x), value, rtol=0, atol=0)


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_hessian_and_hvp_match_autograd(case):
    n, d, seed, scale, b_kind = case
    A, b, w, x = instance(n, d, seed, scale, b_kind=b_kind)
    H_ref = torch.autograd.functional.hessian(lambda z: autograd_loss(A, b, w, z), x)
    H = K.hessian(A, b, w, x)
    torch.testing.assert_close(H, H_ref, rtol=1e-9, atol=1e-11)
    v = torch.linspace(-1, 1, d, dtype=x.dtype)
    torch.testing.assert_close(K.hessian_vector_product(A, b, w, x, v), H_ref @ v, rtol=1e-9, atol=1e-11)


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_rank_two_plus_diagonal_split_equals_unsplit_B(case):
    n, d, seed, scale, b_kind = case
    A, b, w, x = instance(n, d, seed, scale, b_kind=b_kind)
    f = K.softmax(A @ x)
    B = K.B_matrix(f, b)
    Br = K.B_rank(f, b)
    torch.testing.assert_close(Br + K.B_diag(f, b), B, rtol=1e-12, atol=1e-14)
    sv = torch.linalg.svdvals(Br)
    if n > 2:
        assert sv[2] <= 1e-12 * max(float(sv[0]), 1e-300)
    H = A.T @ (B + torch.diag(w * w)) @ A
    torch.testing.assert_close(K.hessian(A, b, w, x), H, rtol=1e-10, atol=1e-12)


def test_softmax_jacobian_is_the_derivative_of_softmax():
    u = torch.tensor([0.3, -1.2, 2.0, 0.0], dtype=torch.float64)
    J = torch.autograd.functional.jacobian(K.softmax, u)
    torch.testing.assert_close(K.softmax_jacobian(K.softmax(u)), J, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("big", [700.0, 1e4, 1e300])
def test_stable_for_huge_logits(big):
    A = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    x = torch.tensor([big, -big], dtype=torch.float64)
    f = K.softmax(A @ x)
    assert torch.isfinite(f).all() and math.isclose(float(f.sum()), 1.0)
    b = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    w = torch.zeros(3, dtype=torch.float64)
    value, g = K.loss_and_gradient(A, b, w, x)
    assert torch.isfinite(value) and torch.isfinite(g).all()
    assert torch.isfinite(K.hessian(A, b, w, x)).all()


def test_float32_and_sparse_inputs_agree_with_float64_dense():
    A, b, w, x = instance(30, 4, 1, 0.5)
    g64 = K.gradient(A, b, w, x)
    g32 = K.gradient(*(t.float() for t in (A, b, w, x)))
    assert g32.dtype == torch.float32
    torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=1e-5)
    As = A.to_sparse()
    torch.testing.assert_close(K.gradient(As, b, w, x), g64, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(K.hessian(As, b, w, x), K.hessian(A, b, w, x), rtol=1e-12, atol=1e-13)
    v = torch.ones(4, dtype=torch.float64)
    torch.testing.assert_close(K.hessian_vector_product(As, b, w, x, v), K.hessian_vector_product(A, b, w, x, v))


def test_smoothness_bound_dominates_the_hessian():
    A, b, w, x = instance(40, 5, 2, 0.7)
    H = K.hessian(A, b, w, x)
    bound = K.smoothness_bound(float(torch.linalg.matrix_norm(A, ord=2)), w)
    assert float(torch.linalg.eigvalsh(H)[-1]) <= bound
