"""E01 instances: inputs on the sphere (with near copies on demand), bounded tanh targets, and the seeded
initialisation, the data independent of the width."""
from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.core.errors import ConfigError
from pipeline.core.spec import validate_node
from pipeline.data import KINDS, SphereData
from pipeline.data.sphere import synthesize_e01


def cfg(**kw):
    return OmegaConf.structured(SphereData(**kw))


def test_the_instance_is_seeded_on_the_sphere_with_bounded_targets():
    a, b = synthesize_e01(cfg(n=20, d=4, m=64), 3), synthesize_e01(cfg(n=20, d=4, m=64), 3)
    assert all(np.array_equal(a[k], b[k]) for k in a) and KINDS["sphere_regression"].make is synthesize_e01
    assert a["X"].shape == (20, 4) and a["Y"].shape == (20, 4) and a["W0"].shape == (4, 64) and a["a"].shape == (4, 64)
    np.testing.assert_allclose(np.linalg.norm(a["X"], axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(a["Y"], np.tanh(a["X"] @ a["G"].T), atol=1e-15)
    assert np.abs(a["Y"]).max() < 1 and set(np.unique(a["a"])) == {-1.0, 1.0} and float(a["sigma"]) == 1.0
    assert not np.array_equal(a["X"], synthesize_e01(cfg(n=20, d=4, m=64), 4)["X"])


def test_every_width_of_a_seed_sees_the_same_data_and_sigma_scales_the_weights():
    small, wide = synthesize_e01(cfg(m=16), 0), synthesize_e01(cfg(m=4096), 0)
    assert np.array_equal(small["X"], wide["X"]) and np.array_equal(small["Y"], wide["Y"])
    assert abs(wide["W0"].std() - 1.0) < 0.02 and abs(wide["a"].mean()) < 0.05
    half = synthesize_e01(cfg(m=4096, sigma=0.5), 0)
    np.testing.assert_allclose(half["W0"], 0.5 * wide["W0"])


def test_near_duplicates_sit_at_the_requested_angle():
    a = synthesize_e01(cfg(n=10, d=3, duplicates=3, duplicate_gap=0.01), 1)
    cos = (a["X"][:3] * a["X"][7:]).sum(1)
    np.testing.assert_allclose(np.arccos(np.clip(cos, -1, 1)), np.arctan(0.01), rtol=1e-6)
    plain = synthesize_e01(cfg(n=10, d=3), 1)
    assert np.array_equal(a["X"][:7], plain["X"][:7])


def test_bad_keys_are_refused_by_name():
    with pytest.raises(ConfigError, match="data.duplicates"):
        validate_node(OmegaConf.create({"data": cfg(n=10, duplicates=6)}))
    with pytest.raises(ConfigError, match="data.sigma"):
        validate_node(OmegaConf.create({"data": cfg(sigma=0.0)}))
    with pytest.raises(ConfigError, match="data.m"):
        validate_node(OmegaConf.create({"data": cfg(n=10**6, m=10**7)}))
