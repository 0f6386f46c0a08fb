"""kernels/modular.py (E05): the network on ℤ_p^k against a per-neuron loop, the closed-form gradient against
autograd (both regularisers, full grid in blocks and mini-batches), the normalised margin's invariances, the closed
form γ*, Lemma E.1, the explicit construction of §E05.3 and the per-neuron Fourier power."""
from __future__ import annotations

import math

import pytest
import torch

from kernels import modular as K

D = torch.float64


def random_theta(m=6, k=3, p=5, seed=0, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(m, k + 1, p, generator=g, dtype=D)


def test_the_inputs_enumerate_the_grid_in_lexicographic_order_and_label_the_sum():
    a = K.inputs(5, 3)
    assert a.shape == (125, 3) and torch.equal(a[0], torch.tensor([0, 0, 0])) and torch.equal(a[-1], torch.tensor([4, 4, 4]))
    assert torch.equal(a[7], torch.tensor([0, 1, 2]))  # 7 = 0·25 + 1·5 + 2
    assert torch.equal(K.digits(torch.tensor([7, 124]), 5, 3), a[[7, 124]])
    assert torch.equal(K.labels(a, 5), a.sum(1) % 5) and torch.equal(K.inputs(5, 3, 10, 20), a[10:20])
    blocks = list(K.blocks(5, 3, chunk=60))
    assert blocks == [(0, 2), (2, 4), (4, 5)] and list(K.blocks(5, 3)) == [(0, 5)] and list(K.blocks(5, 3, 1))[1] == (1, 2)


def test_the_network_matches_a_per_neuron_loop_and_its_blocks():
    th = random_theta(k=3, p=5)
    a = K.inputs(5, 3)
    f = K.network(th, a)
    assert f.shape == (125, 5) and torch.allclose(f, K.network_loop(th, a), rtol=1e-12, atol=1e-12)
    u, w = th[2, :3], th[2, 3]
    x = a[37]
    assert math.isclose(float(K.network(th[2:3], x[None])[0, 1]), float((u[0, x[0]] + u[1, x[1]] + u[2, x[2]]) ** 3 * w[1]),
                        rel_tol=1e-12)
    assert torch.allclose(torch.cat([K.network_block(th, s, e) for s, e in K.blocks(5, 3, 25)]), f, rtol=1e-13, atol=1e-13)
    assert torch.allclose(K.hidden_block(th, 0, 5), K.hidden(th, a), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("kind", K.REGULARISERS)
@pytest.mark.parametrize("k,p", [(2, 5), (3, 3), (4, 3)])
def test_the_closed_form_gradient_matches_autograd(kind, k, p):
    th = random_theta(m=5, k=k, p=p, seed=k + p)
    x = th.clone().requires_grad_()
    ref = K.loss(x, 0.03, kind)
    g_ref, = torch.autograd.grad(ref, x)
    ref = ref.detach()
    for chunk in (None, p ** (k - 1), 1):
        L, g = K.loss_and_gradient(th, 0.03, kind, chunk=chunk)
        assert math.isclose(float(L), float(ref), rel_tol=1e-12) and torch.allclose(g, g_ref, rtol=1e-10, atol=1e-13)
    a = K.digits(torch.tensor([0, 3, 5, p ** k - 1]), p, k)  # a mini-batch: the mean over its inputs
    xb = th.clone().requires_grad_()
    ref_b = K.loss(xb, 0.03, kind, a=a)
    gb_ref, = torch.autograd.grad(ref_b, xb)
    ref_b = ref_b.detach()
    Lb, gb = K.loss_and_gradient(th, 0.03, kind, a=a)
    assert math.isclose(float(Lb), float(ref_b), rel_tol=1e-12) and torch.allclose(gb, gb_ref, rtol=1e-10, atol=1e-13)


def test_the_regularisers_and_the_norms():
    th = random_theta(m=4, k=2, p=5)
    r = torch.linalg.vector_norm(th.reshape(4, -1), dim=1)
    assert math.isclose(float(K.norm_power(th)), float((r ** 3).sum()), rel_tol=1e-13)
    assert math.isclose(float(K.norm_2k(th)) ** 3, float(K.norm_power(th)), rel_tol=1e-12)
    assert math.isclose(float(K.regulariser(th, 0.2, "margin_norm")[0]), 0.2 / 3 * float((r ** 3).sum()), rel_tol=1e-13)
    assert math.isclose(float(K.regulariser(th, 0.2, "l2")[0]), 0.1 * float((th ** 2).sum()), rel_tol=1e-13)
    with pytest.raises(ValueError, match="regulariser"):
        K.regulariser(th, 0.2, "l1")


def test_the_normalised_margin_is_scale_free_and_per_neuron_rescaling_invariant():
    th = K.construction(5, 2)
    g = float(K.normalised_margin(th))
    assert math.isclose(float(K.normalised_margin(3.0 * th)), g, rel_tol=1e-12)
    t = 1.7  # u ← t·u, w ← w/t^k keeps f; the construction is already norm-balanced, so γ can only drop
    other = th.clone()
    other[:, :2] *= t
    other[:, 2] /= t ** 2
    assert torch.allclose(K.network(other, K.inputs(5, 2)), K.network(th, K.inputs(5, 2)), atol=1e-12)
    assert float(K.normalised_margin(other)) < g
    assert torch.allclose(K.equal_norm(other), th, atol=1e-12)


def test_the_closed_form_and_the_width():
    assert math.isclose(K.optimal_margin(5, 2), math.sqrt(2 / 27) / (4 * math.sqrt(5)), rel_tol=1e-14)
    assert math.isclose(K.optimal_margin(5, 3), 0.009375, rel_tol=1e-14)
    assert K.optimal_width(11, 3) == 160 and K.optimal_width(47, 4) == 2944
    assert [p for p in range(30) if K.is_odd_prime(p)] == [3, 5, 7, 11, 13, 17, 19, 23, 29]


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_lemma_e1_writes_a_product_as_powers_of_sums(k):
    x = torch.randn(50, k, generator=torch.Generator().manual_seed(k), dtype=D)
    assert torch.allclose(K.lemma_e1(x), x.prod(-1), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("p,k", [(3, 2), (5, 2), (7, 2), (5, 3), (7, 3), (5, 4)])
def test_the_construction_reaches_gamma_star_with_margin_p_over_2_everywhere(p, k):
    th = K.construction(p, k)
    assert th.shape == (K.optimal_width(p, k), k + 1, p)
    lo, hi = K.margin_range(th)
    assert abs(float(lo) - p / 2) < 1e-11 and abs(float(hi) - p / 2) < 1e-11
    f = K.network(th, K.inputs(p, k))
    expected = (p * torch.nn.functional.one_hot(K.labels(K.inputs(p, k), p), p).to(D) - 1) / 2
    assert torch.allclose(f, expected, atol=1e-11)
    assert abs(float(K.normalised_margin(th)) / K.optimal_margin(p, k) - 1) < 1e-12
    norms = torch.linalg.vector_norm(th, dim=2)
    assert torch.allclose(norms, norms[:, :1].expand_as(norms), rtol=1e-12)
    fp = K.fourier_power(th)
    assert float(fp.max_power.min()) > 1 - 1e-12 and sorted(torch.unique(fp.dominant).tolist()) == list(range(1, (p + 1) // 2))


def test_the_broken_constructions_miss_gamma_star():
    star = K.optimal_margin(7, 3)
    assert math.isclose(float(K.normalised_margin(K.construction(7, 3, phase=1.0))) / star, -1.0, rel_tol=1e-9)
    assert float(K.normalised_margin(K.construction(7, 3, rescale=False))) / star < 0.1
    assert float(K.normalised_margin(K.construction(7, 3, frequencies=[1, 2]))) / star < 0.9
    with pytest.raises(ValueError, match="odd prime"):
        K.construction(9, 2)
    with pytest.raises(ValueError, match="frequencies"):
        K.construction(7, 2, frequencies=[4])


def test_the_fourier_power_of_a_pure_and_a_mixed_neuron():
    p = 7
    a = torch.arange(p, dtype=D)
    pure = torch.stack([torch.cos(2 * math.pi * 2 * a / p + c) for c in (0.3, 1.0, -0.5)])[None]
    mixed = torch.stack([torch.cos(2 * math.pi * a / p) + torch.cos(2 * math.pi * 3 * a / p)] * 3)[None]
    fp = K.fourier_power(torch.cat([pure, mixed, torch.zeros(1, 3, p, dtype=D)]))
    assert math.isclose(float(fp.max_power[0]), 1.0, rel_tol=1e-12) and int(fp.dominant[0]) == 2
    assert math.isclose(float(fp.max_power[1]), 0.5, rel_tol=1e-12) and float(fp.power[1, 0]) < 1e-12
    assert torch.allclose(fp.power[:2].sum(1), torch.ones(2, dtype=D)) and int(fp.dominant[2]) == 0
    assert float(fp.max_power[2]) == 0.0
