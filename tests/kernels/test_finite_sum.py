"""kernels/finite_sum.py: the P2 loss against P1's kernels, loops, finite differences and its own identities."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import finite_sum as FS, softmax as K


def dataset(m: int, N: int, d: int, seed: int, scale: float = 0.7, dtype=torch.float64, centred: bool = False):
    """m instances A_k (m×N×d), b_k on the simplex, w_k in [0.5, 1.5], a point x and a nonzero centre."""
    g = torch.Generator().manual_seed(seed)
    A = scale * torch.randn(m, N, d, generator=g, dtype=dtype)
    b = torch.rand(m, N, generator=g, dtype=dtype)
    b /= b.sum(-1, keepdim=True)
    w = 0.5 + torch.rand(m, N, generator=g, dtype=dtype)
    x = torch.randn(d, generator=g, dtype=dtype)
    centre = torch.randn(d, generator=g, dtype=dtype)
    if centred:
        b = torch.softmax(A @ centre, dim=-1)
    return A, b, w, x, centre


def fs_gradient(A, b, w, x, centre=None):
    return FS.loss_and_gradient(A, b, w, x, centre)[1]


def close(actual, expected, rtol):
    """Relative agreement in the max norm, ‖a − e‖∞ ≤ rtol·max(‖e‖∞, tiny)."""
    scale = max(float(expected.abs().max()), 1e-300)
    err = float((actual - expected).abs().max())
    assert err <= rtol * scale, f"relative error {err / scale:.3g} > {rtol:g}"


shapes = st.tuples(st.integers(2, 30), st.integers(1, 6), st.integers(0, 10_000), st.floats(0.05, 3.0))


# --- m = 1, no centre: exactly P1 --------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(shapes, st.sampled_from(["none", "zeros"]))
def test_one_instance_without_centre_is_the_p1_loss(case, centre_kind):
    N, d, seed, scale = case
    A, b, w, x, _ = dataset(1, N, d, seed, scale)
    centre = None if centre_kind == "none" else torch.zeros(d, dtype=torch.float64)
    A1, b1, w1 = A[0], b[0], w[0]
    v = torch.linspace(-1.0, 2.0, d, dtype=torch.float64)

    value, g = FS.loss_and_gradient(A, b, w, x, centre)
    ref_value, ref_g = K.loss_and_gradient(A1, b1, w1, x)
    close(value, ref_value, 1e-12)
    close(FS.loss(A, b, w, x, centre), ref_value, 1e-12)
    close(g, ref_g, 1e-12)
    close(FS.instance_gradients(A, b, w, x, centre)[0], ref_g, 1e-12)
    H = K.hessian(A1, b1, w1, x)
    close(FS.hessian(A, b, w, x), H, 1e-12)
    close(FS.hessians(A, b, w, x)[0], H, 1e-12)
    close(FS.hessian_vector_product(A, b, w, x, v), K.hessian_vector_product(A1, b1, w1, x, v), 1e-12)
    X = torch.stack([x, -x, 2 * x, v], dim=1)
    close(FS.column_losses(A, b, w, X, centre), torch.stack([K.loss(A1, b1, w1, X[:, j]) for j in range(4)]), 1e-12)


# --- column losses ------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), shapes, st.integers(1, 9), st.booleans())
def test_column_losses_equal_a_loop_over_columns(m, case, k, with_centre):
    N, d, seed, scale = case
    A, b, w, x, centre = dataset(m, N, d, seed, scale)
    g = torch.Generator().manual_seed(seed + 1)
    X = x.unsqueeze(1) + 2.0 * torch.randn(d, k, generator=g, dtype=torch.float64)
    c = centre if with_centre else None
    got = FS.column_losses(A, b, w, X, c)
    assert got.shape == (k,)
    want = torch.stack([FS.loss(A, b, w, X[:, j], c) for j in range(k)])
    close(got, want, 1e-12)


@pytest.mark.parametrize("with_centre", [False, True])
def test_column_losses_of_many_columns_of_tall_instances_equal_a_loop(with_centre):
    """2 × 15 000 rows and 70 columns: a product of ~17 MB, which the kernel may form in column blocks
    (of a few MB each, a last one shorter); every column must still get its own loss, in order."""
    A, b, w, x, centre = dataset(2, 15_000, 3, 21, scale=2.0)
    g = torch.Generator().manual_seed(22)
    X = x.unsqueeze(1) + torch.randn(3, 70, generator=g, dtype=torch.float64) * torch.linspace(0.1, 3.0, 70,
                                                                                              dtype=torch.float64)
    c = centre if with_centre else None
    want = torch.stack([FS.loss(A, b, w, X[:, j], c) for j in range(70)])
    close(FS.column_losses(A, b, w, X, c), want, 1e-12)
    close(FS.column_losses(A, b, w, X.T.contiguous().T, c), want, 1e-12)  # either storage order of X


def test_column_losses_see_the_centre_and_the_instances():
    """A centre or an instance that column_losses ignored would leave the value unchanged: it must not."""
    A, b, w, x, centre = dataset(3, 8, 4, 5)
    X = torch.stack([x, centre], dim=1)
    plain, centred = FS.column_losses(A, b, w, X), FS.column_losses(A, b, w, X, centre)
    assert float((plain - centred).abs().min()) > 1e-3
    first = FS.column_losses(A[:1], b[:1], w[:1], X, centre)
    assert float((first - centred).abs().min()) > 1e-6


# --- derivatives against finite differences -----------------------------------------------------------------


@pytest.mark.parametrize("m, N, d, seed", [(1, 12, 5, 0), (4, 9, 6, 1), (7, 20, 3, 2)])
def test_gradient_matches_central_differences_with_a_centre(m, N, d, seed):
    A, b, w, x, centre = dataset(m, N, d, seed)
    g = fs_gradient(A, b, w, x, centre)
    h = 1e-5
    E = torch.eye(d, dtype=torch.float64)
    fd = torch.stack([(FS.loss(A, b, w, x + h * E[i], centre) - FS.loss(A, b, w, x - h * E[i], centre)) / (2 * h)
                      for i in range(d)])
    close(g, fd, 1e-7)
    # the centre enters the gradient: without it the value differs
    assert float((fs_gradient(A, b, w, x) - g).abs().max()) > 1e-3


@pytest.mark.parametrize("m, N, d, seed", [(1, 12, 5, 3), (4, 9, 6, 4), (7, 20, 3, 5)])
def test_hessian_matches_differences_of_the_gradient(m, N, d, seed):
    A, b, w, x, centre = dataset(m, N, d, seed)
    H = FS.hessian(A, b, w, x)
    h = 1e-5
    E = torch.eye(d, dtype=torch.float64)
    fd = torch.stack([(fs_gradient(A, b, w, x + h * E[i], centre) - fs_gradient(A, b, w, x - h * E[i], centre))
                      / (2 * h) for i in range(d)], dim=1)
    close(H, fd, 1e-7)
    close(H, H.T, 1e-14)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), shapes)
def test_hvp_equals_hessian_times_v(m, case):
    N, d, seed, scale = case
    A, b, w, x, _ = dataset(m, N, d, seed, scale)
    v = torch.randn(d, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64)
    close(FS.hessian_vector_product(A, b, w, x, v), FS.hessian(A, b, w, x) @ v, 1e-11)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), shapes, st.booleans())
def test_instance_gradients_average_to_the_gradient(m, case, with_centre):
    N, d, seed, scale = case
    A, b, w, x, centre = dataset(m, N, d, seed, scale)
    c = centre if with_centre else None
    G = FS.instance_gradients(A, b, w, x, c)
    assert G.shape == (m, d)
    close(G.mean(0), fs_gradient(A, b, w, x, c), 1e-12)
    # each row is the gradient of its own instance
    k = seed % m
    close(G[k], fs_gradient(A[k:k + 1], b[k:k + 1], w[k:k + 1], x, c), 1e-12)


# --- the centred (interpolating) construction of docs/theory/p2.md §P2.6 -------------------------------------------------


@pytest.mark.parametrize("m, N, d, seed", [(1, 12, 10, 0), (100, 12, 10, 1), (5, 30, 4, 2)])
def test_centred_construction_is_minimised_at_the_centre_with_value_zero(m, N, d, seed):
    A, b, w, x, xc = dataset(m, N, d, seed, centred=True)
    value, g = FS.loss_and_gradient(A, b, w, xc, xc)
    assert abs(float(value)) <= 1e-28
    assert float(g.abs().max()) <= 1e-14
    assert float(FS.instance_gradients(A, b, w, xc, xc).abs().max()) <= 1e-14
    X = torch.stack([xc, x], dim=1)
    L = FS.column_losses(A, b, w, X, xc)
    # the batched product rounds A x_c differently from the matrix-vector product that made b and the
    # shift: residuals of about 1e-16·|u|, squared
    assert abs(float(L[0])) <= 1e-24 and float(L[1]) > 1e-3
    # the same data with P1's uncentred regulariser is not minimised there
    assert float(FS.loss(A, b, w, xc)) > 1e-3


# --- stability and dtype --------------------------------------------------------------------------------------


@pytest.mark.parametrize("big", [700.0, 1e4])
def test_stable_for_huge_logits_column_by_column(big):
    """‖A x‖∞ = big in one column and O(1) in another: a max over all of A·X rather than over each column's
    rows would underflow the small column to 0/0."""
    A = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
                      [[2.0, 1.0], [0.0, -1.0], [1.0, 0.0]]], dtype=torch.float64)
    b = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    w = torch.full((2, 3), 0.5, dtype=torch.float64)
    x_big = torch.tensor([big, -big], dtype=torch.float64)
    x_small = torch.tensor([0.3, -0.2], dtype=torch.float64)
    centre = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert float((A @ x_big).abs().max()) >= big
    X = torch.stack([x_big, x_small, -x_big], dim=1)
    for c in (None, centre):
        L = FS.column_losses(A, b, w, X, c)
        assert torch.isfinite(L).all()
        close(L, torch.stack([FS.loss(A, b, w, X[:, j], c) for j in range(3)]), 1e-12)
        # the fit term is at most 2 per instance, the rest is the regulariser
        value, g = FS.loss_and_gradient(A, b, w, x_big, c)
        assert torch.isfinite(value) and torch.isfinite(g).all()
        assert torch.isfinite(FS.instance_gradients(A, b, w, x_big, c)).all()
    assert torch.isfinite(FS.hessian(A, b, w, x_big)).all()
    assert torch.isfinite(FS.hessian_vector_product(A, b, w, x_big, x_small)).all()
    # small column against P1 (m = 1 slices): the huge neighbour does not disturb it
    for k in range(2):
        close(FS.column_losses(A[k:k + 1], b[k:k + 1], w[k:k + 1], X)[1], K.loss(A[k], b[k], w[k], x_small), 1e-12)


def test_float32_works_and_agrees_with_float64():
    A, b, w, x, centre = dataset(3, 15, 4, 11)
    X = torch.stack([x, centre, x - centre], dim=1)
    to32 = [t.float() for t in (A, b, w, x, centre)]
    A32, b32, w32, x32, c32 = to32
    L32 = FS.column_losses(A32, b32, w32, X.float(), c32)
    value32, g32 = FS.loss_and_gradient(A32, b32, w32, x32, c32)
    H32 = FS.hessian(A32, b32, w32, x32)
    hv32 = FS.hessian_vector_product(A32, b32, w32, x32, c32)
    G32 = FS.instance_gradients(A32, b32, w32, x32, c32)
    for t in (L32, value32, g32, H32, hv32, G32):
        assert t.dtype == torch.float32 and torch.isfinite(t).all()
    close(L32.double(), FS.column_losses(A, b, w, X, centre), 1e-5)
    close(value32.double(), FS.loss(A, b, w, x, centre), 1e-5)
    close(g32.double(), fs_gradient(A, b, w, x, centre), 1e-5)
    close(H32.double(), FS.hessian(A, b, w, x), 1e-5)
    close(hv32.double(), FS.hessian_vector_product(A, b, w, x, centre), 1e-5)
    close(G32.double(), FS.instance_gradients(A, b, w, x, centre), 1e-5)
