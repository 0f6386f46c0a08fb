"""E05 instances: the random start θ(0) of the modular-addition network, seeded, of the declared width and scale;
p must be an odd prime (refused by name)."""
from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.core.errors import ConfigError
from pipeline.core.schema import validate
from pipeline.core.spec import validate_node
from pipeline.data import KINDS, ModularData
from pipeline.data.modular import odd_prime, synthesize_e05, width
from tests.conftest import compose


def cfg(**kw):
    return OmegaConf.structured(ModularData(**kw))


def test_the_start_is_seeded_with_the_declared_width_and_scale():
    a, b = synthesize_e05(cfg(p=7, k=2), 3), synthesize_e05(cfg(p=7, k=2), 3)
    assert all(np.array_equal(a[k], b[k]) for k in a) and KINDS["modular"].make is synthesize_e05
    assert not np.array_equal(a["theta0"], synthesize_e05(cfg(p=7, k=2), 4)["theta0"])
    assert a["theta0"].shape == (24, 3, 7) and int(a["p"]) == 7 and int(a["k"]) == 2  # m null: 2^{2k−2}(p−1)
    big = synthesize_e05(cfg(p=11, k=3, m=40, init_scale=0.5), 0)["theta0"]
    assert big.shape == (40, 4, 11) and 0.45 < big.std() < 0.55
    assert width(11, 3, None) == 160 and width(11, 3, 7) == 7


def test_p_must_be_an_odd_prime_named_data_p():
    assert [p for p in range(20) if odd_prime(p)] == [3, 5, 7, 11, 13, 17, 19]
    for bad in (9, 15, 2):
        with pytest.raises(ConfigError, match=r"data\.p"):
            validate_node(cfg(p=bad), "data")
        with pytest.raises(ConfigError, match=r"data\.p"):
            synthesize_e05(cfg(p=bad), 0)
    with pytest.raises(ConfigError, match=r"data\.p"):
        validate(compose(["problem=modular_addition", "data=modular", "data.p=21", "tracking=off"]))
    with pytest.raises(ConfigError, match=r"data\.k"):
        validate(compose(["problem=modular_addition", "data=modular", "data.k=1", "tracking=off"]))
    validate(compose(["problem=modular_addition", "data=modular", "data.p=13", "tracking=off"]))
