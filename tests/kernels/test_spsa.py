"""kernels/spsa.py: perturbations, the batched and seeded n-SPSA estimates, their moments and γ (docs/theory/p2.md §P2.2)."""
from __future__ import annotations

import math

import pytest
import torch

from kernels import finite_sum as FS, spsa as S


class Counting:
    """A column-loss function that records the shape of every matrix it is called with."""

    def __init__(self, losses):
        self.losses = losses
        self.shapes: list[tuple[int, ...]] = []
        self.columns: list[torch.Tensor] = []

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(X.shape))
        self.columns.append(X.clone())
        return self.losses(X)


def quadratic(d: int, seed: int):
    """½ xᵀHx with an SPD H that is not a multiple of I, as a column-loss function, with H."""
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(d, d, generator=g, dtype=torch.float64)
    H = M @ M.T / d + 0.5 * torch.eye(d, dtype=torch.float64)
    return (lambda X: 0.5 * (X * (H @ X)).sum(0)), H


def p2_problem(m: int = 3, N: int = 12, d: int = 10, seed: int = 0):
    """A small P2 loss (centred regulariser, x away from the centre) as a column-loss function, with x and ∇L(x)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, N, d, generator=g, dtype=torch.float64) / math.sqrt(N)
    b = torch.softmax(torch.randn(m, N, generator=g, dtype=torch.float64), dim=-1)
    w = torch.ones(m, N, dtype=torch.float64)
    centre = torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.randn(d, generator=g, dtype=torch.float64)
    grad = FS.loss_and_gradient(A, b, w, x, centre)[1]
    return (lambda X: FS.column_losses(A, b, w, X, centre)), x, grad


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


# --- perturbations ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", S.KINDS)
@pytest.mark.parametrize("d, n", [(1, 1), (7, 3), (50, 200)])
def test_perturbations_shape_dtype_and_reproducibility(kind, d, n):
    Z = S.perturbations(d, n, kind, torch.Generator().manual_seed(3))
    assert Z.shape == (d, n) and Z.dtype == torch.float64
    again = S.perturbations(d, n, kind, torch.Generator().manual_seed(3))
    assert torch.equal(Z, again)
    Z32 = S.perturbations(d, n, kind, torch.Generator().manual_seed(3), dtype=torch.float32)
    assert Z32.dtype == torch.float32 and torch.equal(Z32, Z.float())
    if d * n > 1:
        other = S.perturbations(d, n, kind, torch.Generator().manual_seed(4))
        assert not torch.equal(Z, other)


def test_sphere_columns_have_norm_sqrt_d_and_gaussian_ones_do_not():
    d, n = 37, 500
    Zs = S.perturbations(d, n, "sphere", torch.Generator().manual_seed(0))
    norms = torch.linalg.vector_norm(Zs, dim=0)
    assert float((norms - math.sqrt(d)).abs().max()) <= 1e-13 * math.sqrt(d)
    Zg = S.perturbations(d, n, "gaussian", torch.Generator().manual_seed(0))
    gn = torch.linalg.vector_norm(Zg, dim=0) ** 2
    assert float(gn.std()) > 3.0  # χ²_d spread: sd √(2d) ≈ 8.6
    assert abs(float(gn.mean()) - d) < 4 * math.sqrt(2 * d / n)
    # the sphere draw is the Gaussian draw of the same seed, rescaled column by column
    torch.testing.assert_close(Zs, Zg * math.sqrt(d) / torch.linalg.vector_norm(Zg, dim=0), rtol=1e-14, atol=0)


def test_seeded_perturbation_is_reproducible_and_depends_on_the_seed():
    for kind in S.KINDS:
        z = S.seeded_perturbation(12, 9, kind)
        assert z.shape == (9,) and torch.equal(z, S.seeded_perturbation(12, 9, kind))
        assert not torch.equal(z, S.seeded_perturbation(13, 9, kind))
        assert torch.equal(S.seeded_perturbation(12, 9, kind, dtype=torch.float32), z.float())


def test_unknown_kind_raises_naming_it():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="'rademacher'"):
        S.perturbations(4, 2, "rademacher", g)
    with pytest.raises(ValueError, match="'Gaussian'"):
        S.seeded_perturbation(0, 4, "Gaussian")
    losses, _ = quadratic(4, 0)
    with pytest.raises(ValueError, match="'uniform'"):
        S.spsa_gradient_seeded(losses, torch.zeros(4, dtype=torch.float64), [1, 2], 1e-3, "uniform")


# --- the batched and the seeded estimate ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 5, 64])
def test_spsa_gradient_makes_one_call_on_2n_columns(n):
    d, eps = 8, 1e-3
    losses, x, _ = p2_problem(d=d, seed=n)
    Z = S.perturbations(d, n, "gaussian", torch.Generator().manual_seed(n))
    f = Counting(losses)
    g, proj = S.spsa_gradient(f, x, Z, eps)
    assert f.shapes == [(d, 2 * n)]
    assert g.shape == (d,) and proj.shape == (n,)
    # the 2n columns are the points x ± εz_j, each once
    P = f.columns[0]
    want = torch.cat([x.unsqueeze(1) + eps * Z, x.unsqueeze(1) - eps * Z], dim=1)
    dist = torch.cdist(want.T, P.T, compute_mode="donot_use_mm_for_euclid_dist")
    assert float(dist.min(dim=1).values.max()) <= 1e-14 and float(dist.min(dim=0).values.max()) <= 1e-14
    # the projections are the central differences of the losses along each z_j (separate calls round
    # differently: a loss of O(1) known to 1e-16 gives a difference quotient known to about 1e-13 / ε)
    plus, minus = losses(x.unsqueeze(1) + eps * Z), losses(x.unsqueeze(1) - eps * Z)
    torch.testing.assert_close(proj, (plus - minus) / (2 * eps), rtol=0, atol=1e-9)
    torch.testing.assert_close(g, Z @ proj / n, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", S.KINDS)
def test_seeded_estimate_equals_the_batched_one_with_the_same_directions(kind):
    # the two call the loss on 2 and on 2n columns, whose products may round differently; a difference of
    # δ·L in a loss moves a projection by δ·L/ε, so ε = 1e-2 keeps that under 1e-13
    d, eps, seeds = 10, 1e-2, [5, 17, 3, 99, 1234, 6]
    losses, x, _ = p2_problem(d=d, seed=2)
    f = Counting(losses)
    g_seeded, p_seeded = S.spsa_gradient_seeded(f, x, seeds, eps, kind)
    assert f.shapes == [(d, 2)] * len(seeds)
    Z = torch.stack([S.seeded_perturbation(s, d, kind) for s in seeds], dim=1)
    g, p = S.spsa_gradient(losses, x, Z, eps)
    torch.testing.assert_close(p_seeded, p, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g_seeded, g, rtol=1e-12, atol=1e-14)
    # a different seed list gives a different estimate
    g_other, _ = S.spsa_gradient_seeded(losses, x, seeds[:-1] + [7], eps, kind)
    assert rel(g_other, g) > 1e-3


@pytest.mark.parametrize("kind", S.KINDS)
@pytest.mark.parametrize("n, eps", [(1, 0.5), (4, 1e-3), (32, 2.0)])
def test_quadratic_estimate_is_exactly_zzT_times_the_gradient(kind, n, eps):
    """For ½xᵀHx the central difference has no O(ε²) term: ĝ_n = (1/n) Σ z_j z_jᵀ H x whatever ε."""
    d = 9
    losses, H = quadratic(d, n)
    x = torch.randn(d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    Z = S.perturbations(d, n, kind, torch.Generator().manual_seed(2))
    g, proj = S.spsa_gradient(losses, x, Z, eps)
    u = H @ x
    torch.testing.assert_close(proj, Z.T @ u, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g, Z @ (Z.T @ u) / n, rtol=1e-9, atol=1e-12)


def test_bias_on_the_softmax_loss_is_second_order_in_eps():
    """On the P2 loss ĝ − (1/n)ZZᵀ∇L is O(ε²): a decade of ε divides it by about 100."""
    d, n = 10, 8
    losses, x, grad = p2_problem(d=d, seed=4)
    Z = S.perturbations(d, n, "gaussian", torch.Generator().manual_seed(5))
    limit = Z @ (Z.T @ grad) / n
    err = [float(torch.linalg.vector_norm(S.spsa_gradient(losses, x, Z, eps)[0] - limit)) for eps in (1e-1, 1e-2)]
    assert err[0] > 1e-6
    assert 80.0 <= err[0] / err[1] <= 120.0


def test_float32_estimate_stays_float32():
    x = torch.randn(6, generator=torch.Generator().manual_seed(6))
    Z = S.perturbations(6, 4, "sphere", torch.Generator().manual_seed(0), dtype=torch.float32)
    H = torch.diag(torch.arange(1.0, 7.0))
    g, proj = S.spsa_gradient(lambda X: 0.5 * (X * (H @ X)).sum(0), x, Z, 1e-2)
    assert g.dtype == torch.float32 and proj.dtype == torch.float32
    torch.testing.assert_close(g, Z @ (Z.T @ (H @ x)) / 4, rtol=1e-4, atol=1e-5)


# --- Monte Carlo: mean and second moment ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", S.KINDS)
@pytest.mark.parametrize("n", [1, 4])
def test_monte_carlo_mean_is_the_gradient(kind, n):
    """R seeded estimates on the P2 loss: ‖ḡ − ∇L‖ within 3 standard errors (s.e.² = tr Ĉov / R)."""
    d, R, eps = 10, 3000, 1e-5
    losses, x, grad = p2_problem(d=d, seed=7)
    Z = S.perturbations(d, n * R, kind, torch.Generator().manual_seed(100 + n))
    G = torch.stack([S.spsa_gradient(losses, x, Z[:, r * n:(r + 1) * n], eps)[0] for r in range(R)])
    se = math.sqrt(float(G.var(dim=0).sum()) / R)
    # the test can tell: an estimate off by a factor 1.5 (or zero) would be > 6 s.e. away
    assert 0.5 * float(torch.linalg.vector_norm(grad)) > 6 * se
    assert float(torch.linalg.vector_norm(G.mean(0) - grad)) <= 3 * se


SECOND_MOMENT = {"gaussian": lambda d, n: (d + n + 1) / n, "sphere": lambda d, n: (d + n - 1) / n}


@pytest.mark.parametrize("kind, other", [("gaussian", "sphere"), ("sphere", "gaussian")])
@pytest.mark.parametrize("n", [1, 4])
def test_second_moment_matches_the_exact_factor(kind, other, n):
    """E‖ĝ_n‖² = (d+n+1)/n ‖u‖² (Gaussian) or (d+n−1)/n ‖u‖² (sphere), on a quadratic so that ĝ = (1/n)ZZᵀu.

    The sample mean of ‖ĝ_n‖²/‖u‖² over R draws must be within 4 of its own standard errors of the
    factor; R is large enough that the other kind's factor is at least 8 standard errors away, so
    swapping the two distributions (or the formulas) fails.
    """
    d, R = 6, 5000
    losses, H = quadratic(d, 11)
    x = torch.randn(d, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    u2 = float(torch.linalg.vector_norm(H @ x)) ** 2
    Z = S.perturbations(d, n * R, kind, torch.Generator().manual_seed(200 + n))
    ratio = torch.tensor([float(torch.linalg.vector_norm(S.spsa_gradient(losses, x, Z[:, r * n:(r + 1) * n], 0.1)[0]))
                          ** 2 / u2 for r in range(R)], dtype=torch.float64)
    mean, se = float(ratio.mean()), float(ratio.std()) / math.sqrt(R)
    want, alt = SECOND_MOMENT[kind](d, n), SECOND_MOMENT[other](d, n)
    assert abs(want - alt) >= 8 * se
    assert abs(mean - want) <= 4 * se


# --- γ ----------------------------------------------------------------------------------------------------------


def test_gamma_formulas():
    assert S.gamma("gaussian", 8, 1, 50) == pytest.approx(10.0, rel=1e-15)
    assert S.gamma("gaussian", 8, 4, 50) == pytest.approx(1 + 9 / 4, rel=1e-15)
    assert S.gamma("sphere", 8, 1, 10) == pytest.approx(88 / 12 + 1, rel=1e-15)
    assert S.gamma("sphere", 3.5, 4, 20) == pytest.approx((20 * 3.5 + 18) / (4 * 22) + 1, rel=1e-15)
    with pytest.raises(ValueError, match="'rademacher'"):
        S.gamma("rademacher", 8, 1, 10)


@pytest.mark.parametrize("d, n", [(6, 1), (20, 4), (100, 16)])
def test_gamma_bounds_the_exact_quadratic_form_and_is_tight_for_identity(d, n):
    """E[ĝ_nᵀHĝ_n] (docs/theory/p2.md §P2.2, exact formulas) ≤ ℓγ‖u‖² with r = tr H/‖H‖, with equality when H = I."""
    for kind in S.KINDS:
        assert S.gamma(kind, d, n, d) == pytest.approx(SECOND_MOMENT[kind](d, n), rel=1e-14)
    g = torch.Generator().manual_seed(d + n)
    for _ in range(20):
        M = torch.randn(d, d, generator=g, dtype=torch.float64)
        H = M @ torch.diag(torch.rand(d, generator=g, dtype=torch.float64) ** 4) @ M.T
        u = torch.randn(d, generator=g, dtype=torch.float64)
        ell, tr, uHu, u2 = float(torch.linalg.eigvalsh(H)[-1]), float(H.trace()), float(u @ H @ u), float(u @ u)
        exact = {"gaussian": (n + 1) / n * uHu + tr / n * u2,
                 "sphere": d / (n * (d + 2)) * (2 * uHu + tr * u2) + (n - 1) / n * uHu}
        for kind in S.KINDS:
            assert exact[kind] <= ell * S.gamma(kind, tr / ell, n, d) * u2 * (1 + 1e-12)
