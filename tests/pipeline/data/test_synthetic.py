"""P1 instance synthesis (docs/theory/p1.md §P1.6): spectrum, targets, PD weights, determinism, cache."""
from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.reference import build_instance, instance_key
from pipeline.data.synthetic import singular_values, synthesize_p1
from pipeline.data import SyntheticData
from tests.conftest import compose


def data_cfg(**kw):
    return OmegaConf.structured(SyntheticData(**kw))


@pytest.mark.parametrize("kappa,R", [(1.0, 1.0), (10.0, 2.0), (1e3, 0.5)])
def test_spectrum_has_the_requested_norm_and_condition(kappa, R):
    arr = synthesize_p1(data_cfg(n=80, d=6, kappa=kappa, R=R), seed=1)
    sv = np.linalg.svd(arr["A"], compute_uv=False)
    assert sv[0] == pytest.approx(R, rel=1e-12)
    assert sv[0] / sv[-1] == pytest.approx(kappa, rel=1e-9)


def test_rank_profile_step_and_geometric():
    s = singular_values(6, 100.0, 1.0, 2, "step")
    np.testing.assert_allclose(s, [1, 1, 0.01, 0.01, 0.01, 0.01])
    g = singular_values(6, 100.0, 1.0, 3, "geometric")
    np.testing.assert_allclose(g, [1, 0.1, 0.01, 0.01, 0.01, 0.01])


def test_targets_planted_simplex_adversarial():
    planted = synthesize_p1(data_cfg(n=50, d=4, b="planted"), seed=0)
    u = planted["A"] @ planted["x_true"]
    np.testing.assert_allclose(planted["b"], np.exp(u - u.max()) / np.exp(u - u.max()).sum(), rtol=1e-13)
    assert np.linalg.norm(planted["x_true"]) == pytest.approx(1.0)
    simplex = synthesize_p1(data_cfg(n=50, d=4, b="simplex"), seed=0)["b"]
    assert simplex.min() >= 0 and simplex.sum() == pytest.approx(1.0)
    adv = synthesize_p1(data_cfg(n=50, d=4, b="adversarial", adversarial_sign=-1), seed=0)["b"]
    assert sorted(np.unique(adv)) == [-1.0, 0.0] and np.abs(adv).sum() == 1.0
    noisy = synthesize_p1(data_cfg(n=50, d=4, noise=0.3), seed=0)["b"]
    assert noisy.min() >= 0 and noisy.sum() == pytest.approx(1.0)


def test_weights_follow_the_pd_rule_and_heavy_rows_are_heavy():
    arr = synthesize_p1(data_cfg(n=1000, d=5, kappa=10, R=1, C_w=0.3, l=2.0), seed=0)
    smin = np.linalg.svd(arr["A"], compute_uv=False)[-1]
    np.testing.assert_allclose(arr["w"] ** 2, 0.3 + 2.0 / smin**2)
    heavy = synthesize_p1(data_cfg(n=1000, d=5, heavy_fraction=0.01, heavy_scale=30), seed=0)["A"]
    norms = np.sort(np.linalg.norm(heavy, axis=1))
    assert norms[-10] > 10 * np.median(norms) and norms[-11] < 5 * np.median(norms)


def test_same_seed_same_instance_other_seed_other_instance():
    a = synthesize_p1(data_cfg(n=40, d=3), seed=5)
    b = synthesize_p1(data_cfg(n=40, d=3), seed=5)
    c = synthesize_p1(data_cfg(n=40, d=3), seed=6)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["A"], c["A"])


def test_cache_is_content_addressed_and_returns_the_same_instance(lab_root):
    cfg = compose(["data.n=40", "data.d=3"])
    first = build_instance(cfg, lab_root / "cache")
    files = list((lab_root / "cache").glob("*.npz"))
    assert [f.stem for f in files] == [first.key] == [instance_key(cfg)]
    second = build_instance(cfg, lab_root / "cache")
    for k in first.arrays:
        np.testing.assert_array_equal(first.arrays[k], second.arrays[k])
    np.testing.assert_array_equal(first.x_star, second.x_star)
    assert first.f_star == second.f_star and first.constants == second.constants
    # the solver does not enter the key; the data and the seed do
    assert instance_key(compose(["data.n=40", "data.d=3", "solver=gd"])) == first.key
    assert instance_key(compose(["data.n=40", "data.d=3", "seed=1"])) != first.key
    assert instance_key(compose(["data.n=41", "data.d=3"])) != first.key


def test_reference_optimum_reaches_the_gradient_tolerance(lab_root):
    inst = build_instance(compose(["data.n=100", "data.d=5", "data.kappa=30"]), lab_root / "cache")
    assert inst.constants["ref_grad_norm"] <= 1e-12
    assert inst.constants["mu"] >= 1.0 * (1 - 1e-9)  # the PD lemma with l = 1
    assert inst.constants["kappa"] == pytest.approx(inst.constants["ell"] / inst.constants["mu"])
