"""Where the Triton kernels run in these tests.

By default (``TRITON_INTERPRET=1``, set by tests/conftest.py) they run in Triton's interpreter on
CPU. On a CUDA machine, ``TRITON_INTERPRET=0 python -m pytest tests/kernels/triton`` runs the same
tests on the compiled kernels: every public function of ``kernels.triton.*`` then receives its
tensor arguments on the GPU and hands its results back to the CPU, where they are compared with the
torch references as before.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import threading

import pytest
import torch

ON_GPU = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") in ("", "0")


def _moved(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if type(obj) in (tuple, list):
        return type(obj)(_moved(o, device) for o in obj)
    return obj


_depth = threading.local()


def _on_device(fn):
    """fn with its tensor arguments on the GPU and, at the outermost call only, its results back on the
    CPU (the kernels' own functions call each other through the same, patched, module attributes)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        depth = getattr(_depth, "n", 0)
        _depth.n = depth + 1
        try:
            out = fn(*_moved(args, "cuda"), **{k: _moved(v, "cuda") for k, v in kwargs.items()})
        finally:
            _depth.n = depth
        return out if depth else _moved(out, "cpu")
    return wrapper


@pytest.fixture(autouse=True)
def _kernels_on_the_gpu(monkeypatch):
    """On a GPU run (see the module's docstring), route every public kernel function through the device."""
    if not ON_GPU or importlib.util.find_spec("triton") is None:
        return
    for module in ("finite_sum", "softmax", "attention"):
        mod = importlib.import_module(f"kernels.triton.{module}")
        for name in mod.__all__:
            monkeypatch.setattr(mod, name, _on_device(getattr(mod, name)))
