"""Instance regimes (pipeline/data/regime.py, pipeline/reference/regime.py): the regulariser regime is the
instance of the checks in docs/theory/ byte for byte, the softmax regime is measurably not a quadratic."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from pipeline.core.errors import ConfigError
from pipeline.core.spec import validate_node
from pipeline.data import KINDS
from pipeline.data.regime import spread_scale
from pipeline.reference import compute_reference
from pipeline.reference.regime import measure_regime, quadratic_error
from pipeline.problems import SoftmaxRegression

PROBLEM = {"synthetic": "softmax_regression", "lowrank": "zo_softmax", "finite_sum": "zo_softmax",
           "attention": "attention_regression"}

# sha256 (first 16 hex) of every array of the generators before the regime key existed, seeds 0 and 3, with
# floating-point entries rounded to 9 significant digits: the generators draw through BLAS and LAPACK (QR of a
# Gaussian matrix, products), whose last bits follow the kernels a CPU selects at run time; the rounding keeps
# the test about the instance, not about the machine
GOLDEN = {
    ("synthetic", "{}", 0): "7d8aa215c52922bc",
    ("synthetic", "{}", 3): "7d7904949cbd515f",
    ("synthetic", '{"density": 0.05, "heavy_fraction": 0.01, "n": 300}', 0): "7f1a0c84bbe1fcc9",
    ("synthetic", '{"density": 0.05, "heavy_fraction": 0.01, "n": 300}', 3): "5505d3df89f98aae",
    ("synthetic", '{"b": "simplex", "noise": 0.1}', 0): "0f9ee5ef07cc434e",
    ("synthetic", '{"b": "simplex", "noise": 0.1}', 3): "b8aaa11dd1d71cbf",
    ("lowrank", "{}", 0): "76e195341b95ccb7",
    ("lowrank", "{}", 3): "ecf50184796c349b",
    ("finite_sum", "{}", 0): "6cc2a12ef596472d",
    ("finite_sum", "{}", 3): "a029f9c31df9a095",
    ("finite_sum", '{"realizable": false}', 0): "ca1d43ab5e2f4330",
    ("finite_sum", '{"realizable": false}', 3): "b521b7cf7134275d",
    ("attention", "{}", 0): "e9c0efb9ed5b13a2",
    ("attention", "{}", 3): "67aa9522080d7c32",
    ("attention", '{"noise": 0.1, "shared_inputs": true}', 0): "30eb8c8282af8d74",
    ("attention", '{"noise": 0.1, "shared_inputs": true}', 3): "de927a8b202edca7",
}


def node(kind: str, **over):
    return OmegaConf.merge(OmegaConf.structured(KINDS[kind].schema), over)


def digest(arrays: dict, digits: int = 9) -> str:
    """sha256 of the arrays by name, floating-point entries rounded to ``digits`` significant digits."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.asarray(arrays[k].toarray() if hasattr(arrays[k], "toarray") else arrays[k])
        if a.dtype.kind == "f":
            a = np.array([float(f"{v:.{digits}e}") for v in a.ravel()]).reshape(a.shape)
        h.update(k.encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("kind,over,seed", sorted(GOLDEN))
def test_regulariser_regime_is_the_old_instance_byte_for_byte(kind, over, seed):
    assert digest(KINDS[kind].make(node(kind, **json.loads(over)), seed)) == GOLDEN[(kind, over, seed)]
    assert digest(KINDS[kind].make(node(kind, regime="regulariser", **json.loads(over)), seed)) == GOLDEN[(kind, over, seed)]


@pytest.mark.parametrize("kind", sorted(PROBLEM))
def test_softmax_regime_keeps_the_draws_and_changes_the_scale(kind):
    old, new = (KINDS[kind].make(node(kind, regime=r), 5) for r in ("regulariser", "softmax"))
    first = {"synthetic": "A", "lowrank": "A", "finite_sum": "A", "attention": "A1"}[kind]
    np.testing.assert_array_equal(old[first], new[first])  # the same random draws
    xo, xn = old["x_true"], new["x_true"]
    if kind == "attention":  # only X_true is rescaled (the scores), Y_true is kept
        k = xo.size // 2
        np.testing.assert_array_equal(xo[k:], xn[k:])
        xo, xn = xo[:k], xn[:k]
    cos = float(xo @ xn / np.linalg.norm(xo) / np.linalg.norm(xn))
    assert cos > 1 - 1e-12 and np.linalg.norm(xn) > 1.5 * np.linalg.norm(xo)  # same direction, larger scale


def constants(kind: str, **over) -> dict:
    arrays = KINDS[kind].make(node(kind, **over), 0)
    cfg = OmegaConf.create({"problem": {"name": PROBLEM[kind]}, "reference": {"gtol": 1e-10, "max_iter": 200}})
    return compute_reference(cfg, arrays)[2]


@pytest.mark.parametrize("kind,over", [("synthetic", {}), ("lowrank", {}), ("finite_sum", {"heterogeneity": 0.5}),
                                       ("attention", {})])
def test_softmax_preset_is_far_from_a_quadratic_on_its_default_sizes(kind, over):
    c = constants(kind, regime="softmax", **over)
    assert c["softmax_share"] >= 0.3 and c["quadratic_error"] >= 0.1, c
    assert c["logit_spread"] > 2.0 and c["mu"] > 0  # spread logits, positive definite at x*


@pytest.mark.parametrize("kind,over", [("synthetic", {}), ("lowrank", {}), ("finite_sum", {"heterogeneity": 0.5})])
def test_regulariser_preset_of_p1_and_p2_is_nearly_a_quadratic(kind, over):
    """The control: docs/theory/' instances of P1 and P2 have the regulariser's curvature at x*."""
    c = constants(kind, **over)
    assert c["softmax_share"] < 0.05 and c["quadratic_error"] < 0.01 and c["pd_rule_holds"] == 1.0, c


def test_regime_constants_of_a_pure_quadratic_are_zero():
    """With w² huge the regulariser dominates and the loss is a quadratic to round-off: every regime constant ≈ 0."""
    arrays = KINDS["synthetic"].make(node("synthetic", regime="softmax", w2_n2=1e9), 0)
    problem = SoftmaxRegression.from_arrays(arrays)
    cfg = OmegaConf.create({"problem": {"name": "softmax_regression"}, "reference": {"gtol": 1e-12, "max_iter": 100}})
    x_star = torch.as_tensor(compute_reference(cfg, arrays)[0])
    c = measure_regime(problem, x_star)
    assert c["softmax_share"] < 1e-3 and c["quadratic_error"] < 1e-3 and c["curvature_variation"] < 1e-3
    # and the same measure on a loss that is not quadratic is not small
    soft = SoftmaxRegression.from_arrays(KINDS["synthetic"].make(node("synthetic", regime="softmax"), 0))
    x_soft = torch.as_tensor(compute_reference(cfg, KINDS["synthetic"].make(node("synthetic", regime="softmax"), 0))[0])
    assert quadratic_error(soft, x_soft, torch.zeros_like(x_soft)) > 0.1


def test_spread_scale_hits_the_requested_spread():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((7, 11))
    c = spread_scale(U, 4.0)
    assert np.isclose(np.mean(np.ptp(c * U, axis=1)), 4.0)


def test_an_unknown_regime_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="data.regime"):
        validate_node(node("synthetic", regime="quadratic"), "data")
