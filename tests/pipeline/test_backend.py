"""The pipeline on the Triton backend gives the torch backend's results: whole jobs through the CLI,
with the kernels in Triton's interpreter on CPU (TRITON_INTERPRET=1, tests/conftest.py)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from pipeline.cli import main
from pipeline.solve import job_task
from tests.conftest import PROJECT, skip_unless_ci

if importlib.util.find_spec("triton") is None:
    skip_unless_ci("triton is not installed (pip install 'softmax-lab[gpu]')")

# (problem overrides, solver): the oracles each one calls on the Triton backend
JOBS = {
    "p1_gd": ["data.n=300", "data.d=5", "solver=gd", "stop.max_iter=20"],            # loss, gradient
    "p1_newton_cg": ["data.n=300", "data.d=5", "solver=newton_cg"],                   # + Hessian-vector products
    "p1_zo_sgd": ["data.n=300", "data.d=5", "solver=zo_sgd", "solver.n=4", "stop.max_iter=30"],  # column losses
    "p2_zo_sgd": ["problem=zo_softmax", "data=finite_sum", "data.m=8", "solver=zo_sgd", "solver.n=3",
                  "solver.batch=4", "stop.max_iter=15"],
    "p3_gd": ["problem=attention_regression", "data=attention", "data.n=40", "data.d=3", "solver=gd",
              "stop.max_iter=15"],
    "p3_alternating": ["problem=attention_regression", "data=attention", "data.n=40", "data.d=3",
                       "solver=alternating", "stop.max_iter=8"],
}
#: how far apart the two backends may end, float64: they differ only in the order of floating-point sums
RTOL = 1e-9
GTOL = 1e-10  # stop.gtol (its default): the jobs below stop on it


def run_job(lab_root, name, backend, extra=()):
    out = lab_root / f"{name}_{backend}"
    argv = [*JOBS[name], f"kernels.backend={backend}", "tracking=off", "progress=false", *extra,
            f"hydra.run.dir={out}"]
    assert main(job_task, argv=argv) == 0
    return json.loads((out / "summary.json").read_text())


INTERPRETED = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET", "0") in ("", "0"),
                                 reason="the Triton backend on CPU runs under TRITON_INTERPRET=1")


@INTERPRETED
@pytest.mark.parametrize("name", list(JOBS))
def test_triton_backend_ends_where_the_torch_backend_ends(lab_root, name):
    ref, fast = run_job(lab_root, name, "torch"), run_job(lab_root, name, "triton")
    assert (ref["kernels_backend"], fast["kernels_backend"]) == ("torch", "triton")
    assert fast["status"] == ref["status"] == "finished"
    assert fast["iterations"] == ref["iterations"]
    for key in ("final_loss", "final_grad_norm", "final_distance"):
        if key == "final_grad_norm" and max(fast[key], ref[key]) <= GTOL:
            # both stopped on ‖∇L‖ ≤ stop.gtol at the optimum: the rest is the round-off of two summation orders
            # (1e-14 to 1e-13 depending on the machine's BLAS kernels), compared as such
            continue
        assert fast[key] == pytest.approx(ref[key], rel=RTOL, abs=1e-14), key


def test_auto_is_torch_on_cpu(lab_root):
    assert run_job(lab_root, "p1_gd", "auto")["kernels_backend"] == "torch"


def test_triton_on_cpu_without_the_interpreter_is_refused(lab_root, capsys, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    argv = ["kernels.backend=triton", f"hydra.run.dir={lab_root}/run"]
    assert main(job_task, argv=argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: kernels.backend: the Triton kernels run on a CUDA device"), err
    assert not (lab_root / "run").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(JOBS))
def test_cuda_ends_where_cpu_ends(lab_root, name):
    """device=cuda (kernels.backend=auto: compiled Triton kernels, in a process without the interpreter)
    against the CPU torch run, float64, to the same tolerance."""
    ref = run_job(lab_root, name, "torch")
    out = lab_root / f"{name}_cuda"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, "-m", "pipeline", *JOBS[name], "device=cuda", "tracking=off", "progress=false",
                        f"hydra.run.dir={out}"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    fast = json.loads((out / "summary.json").read_text())
    assert fast["device"].startswith("cuda") and fast["kernels_backend"] == "triton"
    assert fast["status"] == ref["status"] == "finished" and fast["iterations"] == ref["iterations"]
    for key in ("final_loss", "final_grad_norm", "final_distance"):
        if key == "final_grad_norm" and max(fast[key], ref[key]) <= GTOL:
            # both stopped on ‖∇L‖ ≤ stop.gtol at the optimum: the rest is the round-off of two summation orders
            # (1e-14 to 1e-13 depending on the machine's BLAS kernels), compared as such
            continue
        assert fast[key] == pytest.approx(ref[key], rel=RTOL, abs=1e-14), key
