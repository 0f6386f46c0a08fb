"""kernels/framework.py: the framework's direction, its identities, RA, RVA and the bound (docs/theory/e08.md §1–§4)."""
from __future__ import annotations

import math

import pytest
import torch

from kernels import framework as fw


def pair(d: int, seed: int, a: float = 0.7):
    g = torch.Generator().manual_seed(seed)
    grad = torch.randn(d, generator=g, dtype=torch.float64)
    v = a * grad + torch.randn(d, generator=g, dtype=torch.float64)
    return grad, v


@pytest.mark.parametrize("d", [1, 3, 50, 400])
@pytest.mark.parametrize("a", [-3.0, -0.2, 0.0, 0.4, 5.0])
def test_the_four_identities_hold_to_round_off(d, a):
    grad, v = pair(d, 10 * d + int(a * 10), a)
    res = fw.identity_residuals(grad, v)
    assert set(res) == {"accelerating_inner", "accelerating_norm", "decelerating_inner", "decelerating_norm",
                        "decelerating_householder"}
    assert max(res.values()) < 1e-13


def test_wrong_coefficients_break_the_identities():
    grad, v = pair(20, 3)
    one = fw.identity_residuals(grad, v, lambda g, u: g + 0.5 * fw.coefficient(g, u) * u)
    signed = fw.identity_residuals(grad, v, lambda g, u: g + 2 * float(u @ g) / float(u @ u) * u)
    assert max(one.values()) > 1e-3
    assert signed["accelerating_inner"] < 1e-13 and signed["decelerating_inner"] > 1e-3


def test_direction_against_its_formula_and_the_reflection():
    grad, v = pair(7, 5)
    ip = float(v @ grad)
    assert torch.allclose(fw.framework_direction(grad, v), grad + 2 * abs(ip) / float(v @ v) * v, rtol=0, atol=1e-15)
    assert fw.cos2(grad, v) == pytest.approx(ip**2 / float(v @ v) / float(grad @ grad), rel=1e-14)
    g = fw.framework_direction(grad, -v if ip > 0 else v)          # decelerating: the Householder reflection
    assert torch.allclose(g, fw.householder(grad, v), rtol=0, atol=1e-14)
    assert float(torch.linalg.vector_norm(g)) == pytest.approx(float(torch.linalg.vector_norm(grad)), rel=1e-14)
    assert torch.equal(fw.framework_direction(grad, None), grad)
    assert torch.equal(fw.framework_direction(grad, torch.zeros(7, dtype=torch.float64)), grad)


def test_step_kinds_and_reject_accelerating():
    grad, v = pair(9, 2, a=2.0)
    assert float(v @ grad) > 0
    acc = fw.framework_step(grad, v)
    dec = fw.framework_step(grad, -v)
    rej = fw.framework_step(grad, -v, reject=True)
    assert acc.kind == fw.ACCELERATING and dec.kind == fw.DECELERATING and not dec.rejected
    assert rej.kind == fw.PLAIN and rej.rejected and torch.equal(rej.g, grad)
    assert acc.c2 == pytest.approx(dec.c2) and 0 < acc.c2 <= 1
    assert fw.framework_step(grad, None).kind == fw.PLAIN
    assert fw.framework_step(grad, torch.zeros(9, dtype=torch.float64)).kind == fw.PLAIN
    assert fw.framework_step(grad, v, reject=True).kind == fw.ACCELERATING   # RA keeps accelerating steps


def test_rva_sign_rule_orients_a_gaussian_and_is_reproducible():
    grad, own = pair(30, 4)
    v1 = fw.rva_direction(grad, torch.Generator().manual_seed(7))
    v2 = fw.rva_direction(grad, torch.Generator().manual_seed(7))
    z = torch.randn(30, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert torch.equal(v1, v2) and float(v1 @ grad) >= 0
    assert torch.equal(v1, z) or torch.equal(v1, -z)
    mixed = fw.rva_direction(grad, torch.Generator().manual_seed(7), "mix", own=own, mix=0.5)
    expect = own / torch.linalg.vector_norm(own) + 0.5 / math.sqrt(30) * z
    assert float(mixed @ grad) >= 0
    assert torch.allclose(mixed, expect if float(expect @ grad) >= 0 else -expect, atol=1e-15, rtol=0)
    with pytest.raises(ValueError, match="rva rule"):
        fw.rva_direction(grad, torch.Generator(), "cosine")


def test_bound_reduces_to_sgd_and_equals_the_step_form_at_the_theorem_step():
    T, delta, L, s2 = 1000, 0.3, 2.0, 0.05
    assert fw.theorem_bound(T, 0, 0, 0.0, 0.0, 0.0, delta, L, s2) == pytest.approx(math.sqrt(2 * delta * L * s2 / T))
    args = (T, 400, 300, 0.01, 0.2, 0.6, delta, L, s2)
    eta = fw.theorem_step(T, 400, 0.6, delta, L, s2)
    assert fw.bound_at_step(eta, *args) == pytest.approx(fw.theorem_bound(*args), rel=1e-12)
    assert fw.bound_at_step(2 * eta, *args) > fw.theorem_bound(*args)      # the theorem's step minimises it
    assert fw.bound_at_step(0.5 * eta, *args) > fw.theorem_bound(*args)
    # RA: the same statistics with l = 0 never give a larger bound
    assert fw.bound_at_step(eta, T, 400, 0, 0.01, 0.0, 0.6, delta, L, s2) <= fw.bound_at_step(eta, *args)
    # a non-positive descent factor T + 2ku_a − 2lu_b makes the bound vacuous
    assert fw.theorem_bound(T, 0, 900, 0.0, 0.9, 0.0, delta, L, s2) == math.inf
    assert fw.bound_parts(T, 10, 5, 0.1, 0.3, 0.5) == (T + 40.0, T + 2.0 - 3.0)
