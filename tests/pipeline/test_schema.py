"""Every config group option composes and validates; bad values name their key."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.errors import ConfigError
from pipeline.core.paths import CONF_DIR
from pipeline.cli.precheck import check_config as validate
from tests.conftest import compose

GROUPS = ["problem", "data", "solver", "tracking", "profile"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes_and_validates(group, option):
    p3 = ["problem=attention_regression", "data=attention"]
    extra = {"data": {"file": ["data.path=whatever.npz"], "lowrank": ["problem=zo_softmax"],
                      "finite_sum": ["problem=zo_softmax"], "attention": p3[:1],
                      "attention_file": [p3[0], "data.path=whatever.npz"],
                      "bounded_attention": ["problem=attention_gradient"], "two_layer": ["problem=two_layer_regression"],
                      "leverage_target": ["problem=leverage_inversion"], "kronecker": ["problem=kronecker_least_squares"],
                      "modular": ["problem=modular_addition", "reference.method=none"],
                      "sphere_regression": ["problem=softmax_network", "reference.method=none"]},
             "problem": {"zo_softmax": ["data=lowrank"], "attention_regression": p3[1:],
                         "attention_gradient": ["data=bounded_attention"], "two_layer_regression": ["data=two_layer"],
                         "leverage_inversion": ["data=leverage_target"], "kronecker_least_squares": ["data=kronecker"],
                         "modular_addition": ["data=modular", "reference.method=none"],
                         "softmax_network": ["data=sphere_regression", "reference.method=none"]},
             "solver": {"alternating": p3, "alternating_sketched": p3,
                        **{f"framework_sgd{v}": ["problem=zo_softmax", "data=finite_sum"]
                           for v in ("", "_plain", "_ra", "_rva")}},
             "tracking": {"server": ["tracking.uri=http://127.0.0.1:5000"]}}
    cfg = compose([f"{group}={option}", *extra.get(group, {}).get(option, [])])
    validate(cfg)
    assert cfg[group] is not None


@pytest.mark.parametrize("study", sorted(p.stem for p in (CONF_DIR / "study").glob("*.yaml")))
@pytest.mark.parametrize("profile", ["ci", "quick", "full"])
def test_every_study_composes_with_every_profile(study, profile):
    from hydra.core.global_hydra import GlobalHydra  # noqa: F401

    cfg = compose([f"+study={study}", f"profile={profile}"])
    validate(cfg)
    assert cfg.study.name == study
    assert profile in cfg.study.grid


def test_documented_keys_exist():
    cfg = compose([])
    for key in ("data.n", "data.d", "data.rank", "data.kappa", "seed", "tracking.uri", "tracking.experiment",
                "problem.name", "solver.name", "profile.name"):
        node = cfg
        for part in key.split("."):
            assert part in node, key
            node = node[part]


def test_default_tracking_uri_is_absolute_sqlite_in_the_project(lab_root):
    cfg = compose([])
    assert cfg.tracking.uri == f"sqlite:///{lab_root}/mlflow.db"
    assert Path(cfg.tracking.uri[len("sqlite:///"):]).is_absolute()


BAD = [
    (["data.n=0"], "data.n"),
    (["data.kappa=0.5"], "data.kappa"),
    (["data.rank=11"], "data.rank"),
    (["data.n=5", "data.d=10"], "data.n"),
    (["stop.eps=-1e-3"], "stop.eps"),
    (["stop.gtol=-1"], "stop.gtol"),
    (["stop.max_iter=0"], "stop.max_iter"),
    (["data.b=other"], "data.b"),
    (["solver.ell_scale=0", "solver=gd"], "solver.ell_scale"),
    (["x0=random"], "x0"),
    (["seed=-3"], "seed"),
    (["tracking.uri=sqlite:///relative.db"], "tracking.uri"),
    (["data.n=100000000", "data.d=1000"], "data.n"),
]


@pytest.mark.parametrize("overrides,key", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_validation_names_the_offending_key(overrides, key):
    cfg = compose(overrides)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert err.value.key == key
    assert str(err.value).startswith(key + ":")
