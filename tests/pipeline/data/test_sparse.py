"""Sparse instances: density, norm, heavy rows, storage, and the same answers as dense."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from omegaconf import OmegaConf

from pipeline.data import matrix
from pipeline.reference import build_instance
from pipeline.data.io import load_instance, save_instance
from pipeline.data.synthetic import synthesize_p1
from pipeline.problems import CountingOracle, SoftmaxRegression
from pipeline.data import SyntheticData
from pipeline.solvers import StopRule, make_solver
from tests.conftest import compose


def sparse_cfg(**kw):
    return OmegaConf.structured(SyntheticData(**({"n": 5000, "d": 20, "density": 0.01, "R": 2.0} | kw)))


def test_sparse_matrix_has_the_requested_density_and_norm():
    arr = synthesize_p1(sparse_cfg(), seed=0)
    A = arr["A"]
    assert sp.issparse(A) and A.shape == (5000, 20)
    assert abs(A.nnz / (5000 * 20) - 0.01) < 0.002
    assert matrix.singular_values(A)[0] == pytest.approx(2.0, rel=1e-10)
    assert matrix.singular_values(A)[-1] > 0  # full column rank
    np.testing.assert_allclose(matrix.singular_values(A), np.linalg.svd(A.toarray(), compute_uv=False), rtol=1e-8)


def test_sparse_heavy_rows():
    A = synthesize_p1(sparse_cfg(density=0.2, heavy_fraction=0.002, heavy_scale=30.0), seed=1)["A"]
    norms = np.sort(np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel()))
    assert norms[-10] > 10 * np.median(norms)


def test_sparse_and_dense_give_the_same_problem():
    arr = synthesize_p1(sparse_cfg(n=400, d=6, density=0.1), seed=2)
    dense = dict(arr, A=arr["A"].toarray())
    ps, pd = SoftmaxRegression.from_arrays(arr), SoftmaxRegression.from_arrays(dense)
    assert ps.A.layout == torch.sparse_coo and pd.A.layout == torch.strided
    x = torch.linspace(-1, 1, 6, dtype=torch.float64)
    for fs, fd in ((ps.loss, pd.loss), (ps.grad, pd.grad), (ps.hess, pd.hess)):
        torch.testing.assert_close(fs(x), fd(x), rtol=1e-12, atol=1e-14)
    stop = StopRule(eps=None, gtol=1e-11, max_iter=50)
    for name in ("newton", "approx_newton"):
        xs = make_solver({"name": name}).run(CountingOracle(ps), torch.zeros(6, dtype=torch.float64), stop).x
        xd = make_solver({"name": name}).run(CountingOracle(pd), torch.zeros(6, dtype=torch.float64), stop).x
        torch.testing.assert_close(xs, xd, rtol=1e-9, atol=1e-12)


def test_sketched_approx_newton_converges_on_a_sparse_instance():
    arr = synthesize_p1(sparse_cfg(n=20000, d=10, density=0.01, heavy_fraction=0.001), seed=3)
    prob = SoftmaxRegression.from_arrays(arr)
    ref = make_solver({"name": "newton"}).run(CountingOracle(prob), torch.zeros(10, dtype=torch.float64),
                                              StopRule(eps=None, gtol=1e-12, max_iter=50))
    oracle = CountingOracle(prob)
    tr = make_solver({"name": "approx_newton", "scores": "approximate", "eps0": 0.25}).run(
        oracle, torch.zeros(10, dtype=torch.float64), StopRule(eps=None, gtol=1e-10, max_iter=50), x_star=ref.x)
    assert tr.status == "finished" and float(torch.linalg.vector_norm(tr.x - ref.x)) < 1e-8
    assert oracle.calls["sketch"] == tr.iterations and oracle.calls["rows_touched"] > 0


def test_sparse_instances_round_trip_through_the_cache_and_files(lab_root, tmp_path):
    cfg = compose(["data.n=3000", "data.d=8", "data.density=0.02"])
    first = build_instance(cfg, lab_root / "cache")
    second = build_instance(cfg, lab_root / "cache")
    assert sp.issparse(second.arrays["A"]) and (first.arrays["A"] != second.arrays["A"]).nnz == 0
    np.testing.assert_array_equal(first.x_star, second.x_star)
    assert first.constants["nnz"] == first.arrays["A"].nnz
    fields = {k: v for k, v in first.arrays.items() if k != "A"} | matrix.to_fields(first.arrays["A"])
    save_instance(tmp_path / "sparse.npz", **fields)
    loaded = load_instance(tmp_path / "sparse.npz")
    assert sp.issparse(loaded["A"]) and (loaded["A"] != first.arrays["A"]).nnz == 0
