"""P3 instances: the planted synthesis and attention instance files, refused field by field when malformed."""
from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.data.attention import load_attention, row_softmax, synthesize_p3
from pipeline.data.io import save_instance
from pipeline.core.errors import DataError
from pipeline.data import AttentionData, AttentionFileData


def test_planted_instance_reproduces_B_and_is_seeded():
    cfg = OmegaConf.structured(AttentionData(n=12, d=3, x_scale=2.0, y_scale=0.5))
    a, b = synthesize_p3(cfg, 4), synthesize_p3(cfg, 4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["A1"], synthesize_p3(cfg, 5)["A1"])
    X, Y = a["x_true"][:9].reshape(3, 3), a["x_true"][9:].reshape(3, 3)  # row-major vec_r
    assert np.abs(X).max() <= 2.0 and np.abs(Y).max() <= 0.5
    np.testing.assert_allclose(row_softmax(a["A1"] @ X @ a["A2"].T) @ a["A3"] @ Y, a["B"], atol=1e-14)
    assert a["w"].shape == (12, 12) and np.allclose(a["w"] ** 2, 1e-3) and float(a["lam_y"]) == 1e-3


def test_shared_inputs_is_self_attention():
    a = synthesize_p3(OmegaConf.structured(AttentionData(n=6, d=2, shared_inputs=True)), 0)
    assert np.array_equal(a["A1"], a["A2"]) and np.array_equal(a["A1"], a["A3"])


def test_noise_is_added_to_B():
    clean = synthesize_p3(OmegaConf.structured(AttentionData(n=8, d=2)), 1)
    noisy = synthesize_p3(OmegaConf.structured(AttentionData(n=8, d=2, noise=0.1)), 1)
    assert 0 < np.abs(noisy["B"] - clean["B"]).max() < 1.0


def file_cfg(path, **kw):
    return OmegaConf.structured(AttentionFileData(path=str(path), **kw))


def test_file_round_trip_with_and_without_weights(tmp_path):
    a = synthesize_p3(OmegaConf.structured(AttentionData(n=7, d=3)), 2)
    save_instance(tmp_path / "x.npz", A1=a["A1"], A2=a["A2"], A3=a["A3"], B=a["B"])
    got = load_attention(file_cfg(tmp_path / "x.npz", w2=0.25, lam_y=0.5))
    np.testing.assert_array_equal(got["B"], a["B"])
    assert np.allclose(got["w"], 0.5) and float(got["lam_y"]) == 0.5 and np.isnan(got["x_true"]).all()
    w = np.arange(49.0).reshape(7, 7)
    save_instance(tmp_path / "w.npz", A1=a["A1"], A2=a["A2"], A3=a["A3"], B=a["B"], w=w)
    np.testing.assert_array_equal(load_attention(file_cfg(tmp_path / "w.npz"))["w"], w)


GOOD = {k: np.random.default_rng(0).standard_normal((6, 2)) for k in ("A1", "A2", "A3", "B")}
CASES = {
    "missing file": (lambda p: p / "absent.npz", "data.path"),
    "not an npz": (lambda p: (p / "t.npz").write_text("hello") or p / "t.npz", "data.path"),
    "lacks B": (lambda p: np.savez(p / "m.npz", **{k: GOOD[k] for k in ("A1", "A2", "A3")}) or p / "m.npz", "data.path:B"),
    "A2 wrong shape": (lambda p: np.savez(p / "s.npz", **(GOOD | {"A2": np.ones((6, 3))})) or p / "s.npz", "data.path:A2"),
    "n < d": (lambda p: np.savez(p / "nd.npz", **{k: np.ones((2, 3)) for k in GOOD}) or p / "nd.npz", "data.path:A1"),
    "NaN in B": (lambda p: np.savez(p / "n.npz", **(GOOD | {"B": np.full((6, 2), np.nan)})) or p / "n.npz", "data.path:B"),
    "w not n×n": (lambda p: np.savez(p / "w.npz", **GOOD, w=np.ones(6)) or p / "w.npz", "data.path:w"),
    "extra key": (lambda p: np.savez(p / "x.npz", **GOOD, Y=np.ones((2, 2))) or p / "x.npz", "data.path:Y"),
    "empty A3": (lambda p: np.savez(p / "e.npz", **(GOOD | {"A3": np.ones((0, 2))})) or p / "e.npz", "data.path:A3"),
    "pickled": (lambda p: np.savez(p / "o.npz", **(GOOD | {"A1": np.array([{}] * 6, dtype=object)})) or p / "o.npz",
                "data.path"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_files_are_refused_with_the_field_named(tmp_path, case):
    make, key = CASES[case]
    with pytest.raises(DataError) as err:
        load_attention(file_cfg(make(tmp_path)))
    assert err.value.key == key, str(err.value)
