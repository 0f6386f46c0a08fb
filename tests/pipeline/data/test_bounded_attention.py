"""E07 instances: the planted benign and hard-flavoured families, seeded, with E the output of the planted X."""
from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.core.errors import ConfigError
from pipeline.core.spec import validate_node
from pipeline.data import KINDS, BoundedAttentionData
from pipeline.data.bounded_attention import row_softmax, synthesize_e07


def cfg(**kw):
    return OmegaConf.structured(BoundedAttentionData(**kw))


def test_benign_instance_is_seeded_bounded_and_planted():
    a, b = synthesize_e07(cfg(n=50, d=3, B=1.7), 4), synthesize_e07(cfg(n=50, d=3, B=1.7), 4)
    assert all(np.array_equal(a[k], b[k]) for k in a) and KINDS["bounded_attention"].make is synthesize_e07
    assert not np.array_equal(a["A1"], synthesize_e07(cfg(n=50, d=3, B=1.7), 5)["A1"])
    X = a["x_true"].reshape(3, 3)
    assert np.abs(a["A1"]).max() <= 1.7 and np.abs(a["A2"]).max() <= 1.7 and np.isclose(np.abs(a["A1"] @ X).max(), 1.7)
    assert float(a["scale"]) == 3.0 and float(a["B"]) == 1.7
    np.testing.assert_allclose(row_softmax(a["A1"] @ X @ a["A2"].T / 3.0) @ a["A3"] @ a["Y"], a["E"], atol=1e-14)


def test_hard_family_has_plus_minus_b_entries_and_binary_values():
    a = synthesize_e07(cfg(n=64, d=4, B=2.0, family="hard", scale="one"), 1)
    assert set(np.unique(a["A1"])) == {-2.0, 2.0} and set(np.unique(a["A2"])) == {-2.0, 2.0}
    assert set(np.unique(a["A3"])) <= {0.0, 1.0} and np.array_equal(a["Y"], np.eye(4))
    assert np.array_equal(a["x_true"], np.eye(4).ravel()) and float(a["scale"]) == 1.0
    logits = a["A1"] @ a["A2"].T
    assert logits.max() == 16.0 and (logits == 16.0).mean() > 0.02  # many entries at the largest value d·B²


def test_noise_is_added_to_E_and_n_below_d_is_refused():
    clean, noisy = synthesize_e07(cfg(n=20), 2), synthesize_e07(cfg(n=20, noise=0.1), 2)
    assert 0 < np.abs(noisy["E"] - clean["E"]).max() < 1.0
    with pytest.raises(ConfigError, match="data.n"):
        validate_node(cfg(n=2, d=3), "data")
