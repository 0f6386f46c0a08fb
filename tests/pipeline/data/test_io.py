"""Loading external instances: every malformed file is refused with the field named."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.io import load_instance, save_instance
from pipeline.core.errors import DataError


def write(path, **arrays):
    np.savez(path, **arrays)
    return path


def text(path, content):
    path.write_text(content)
    return path


GOOD = dict(A=np.ones((6, 2)) * np.arange(1, 7)[:, None] ** [0, 1], b=np.full(6, 1 / 6), w=np.ones(6))


def test_round_trip(tmp_path):
    save_instance(tmp_path / "x.npz", **GOOD, x_star=np.zeros(2))  # the solution synthesize writes along
    arr = load_instance(tmp_path / "x.npz")
    assert set(arr) == {"A", "b", "w"}
    np.testing.assert_array_equal(arr["A"], GOOD["A"])


CASES = {
    "missing file": (lambda p: p / "absent.npz", "data.path"),
    "not an npz": (lambda p: text(p / "t.npz", "hello"), "data.path"),
    "lacks w": (lambda p: write(p / "m.npz", A=GOOD["A"], b=GOOD["b"]), "data.path:w"),
    "b wrong shape": (lambda p: write(p / "s.npz", A=GOOD["A"], b=np.ones(5) / 5, w=GOOD["w"]), "data.path:b"),
    "A not 2-D": (lambda p: write(p / "a.npz", A=np.ones(6), b=GOOD["b"], w=GOOD["w"]), "data.path:A"),
    "n < d": (lambda p: write(p / "nd.npz", A=np.ones((2, 3)), b=np.ones(2) / 2, w=np.ones(2)), "data.path:A"),
    "NaN in A": (lambda p: write(p / "n.npz", A=np.where(GOOD["A"] > 3, np.nan, GOOD["A"]), b=GOOD["b"], w=GOOD["w"]),
                 "data.path:A"),
    "Inf in w": (lambda p: write(p / "i.npz", A=GOOD["A"], b=GOOD["b"], w=np.r_[np.inf, np.ones(5)]), "data.path:w"),
    "empty": (lambda p: write(p / "e.npz", A=np.ones((0, 2)), b=np.ones(0), w=np.ones(0)), "data.path:A"),
    "strings": (lambda p: write(p / "str.npz", A=GOOD["A"], b=np.array(["a"] * 6), w=GOOD["w"]), "data.path:b"),
    "extra key": (lambda p: write(p / "x.npz", **GOOD, weights=GOOD["w"]), "data.path:weights"),
    "zero bytes": (lambda p: text(p / "z.npz", ""), "data.path"),
    "pickled objects": (lambda p: write(p / "o.npz", A=np.array([{"x": 1}] * 6, dtype=object), b=GOOD["b"], w=GOOD["w"]),
                        "data.path"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_files_are_refused_with_the_field_named(tmp_path, case):
    make, key = CASES[case]
    path = make(tmp_path)
    with pytest.raises(DataError) as err:
        load_instance(path)
    assert err.value.key == key, str(err.value)


def test_pickled_payload_is_never_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    np.savez(tmp_path / "evil.npz", A=np.array([Boom()], dtype=object), b=np.ones(1), w=np.ones(1))
    with pytest.raises(DataError):
        load_instance(tmp_path / "evil.npz")
    assert not (tmp_path / "pwned").exists()
