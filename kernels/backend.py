"""Which implementation of the kernels a run uses: the torch references or the Triton kernels.

``kernels.backend`` in the config is one of

- ``torch``: the reference functions of :mod:`kernels.softmax`, :mod:`kernels.finite_sum` and
  :mod:`kernels.attention`, on any device;
- ``triton``: the functions of :mod:`kernels.triton` where one exists, the torch reference for the
  rest (same names and signatures). Needs triton and a CUDA device, or ``TRITON_INTERPRET=1`` to run
  the kernels in Triton's interpreter on CPU (a correctness path, not a fast one);
- ``auto``: ``triton`` on a CUDA device when triton is installed (and ``TRITON_INTERPRET`` is not
  set: the interpreter is a test tool), ``torch`` otherwise.

:func:`ops` returns a namespace with every public function of the reference module, the Triton
ones in place of their references, so that callers write ``ops.gradient(A, b, w, x)`` whatever
the backend.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from types import SimpleNamespace

import torch

__all__ = ["BACKENDS", "MODULES", "interpreted", "ops", "resolve", "triton_installed"]

BACKENDS = ("auto", "torch", "triton")
#: kernel modules with a Triton counterpart under kernels/triton/
MODULES = ("softmax", "finite_sum", "attention")


def triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def interpreted() -> bool:
    """Whether Triton kernels would run in the interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def resolve(backend: str, device: torch.device | str) -> str:
    """``torch`` or ``triton`` for a requested backend on a device; ValueError when it cannot run."""
    device = torch.device(device)
    if backend not in BACKENDS:
        raise ValueError(f"must be one of {list(BACKENDS)}, got {backend!r}")
    if backend == "torch":
        return "torch"
    if backend == "auto":  # the interpreter is a test tool: auto never picks it
        return "triton" if device.type == "cuda" and triton_installed() and not interpreted() else "torch"
    if not triton_installed():
        raise ValueError("triton is not installed (pip install 'softmax-lab[gpu]')")
    if device.type != "cuda" and not interpreted():
        raise ValueError(f"the Triton kernels run on a CUDA device (device=cuda), not on {device.type}; "
                         "set TRITON_INTERPRET=1 to run them in Triton's interpreter on CPU")
    return "triton"


@functools.lru_cache(maxsize=None)
def ops(module: str, backend: str = "torch") -> SimpleNamespace:
    """The functions of ``kernels.<module>`` for a resolved backend (``torch`` or ``triton``)."""
    if module not in MODULES:
        raise ValueError(f"no kernel module {module!r}; choose one of {list(MODULES)}")
    if backend not in ("torch", "triton"):
        raise ValueError(f"backend must be resolved to torch or triton, got {backend!r}")
    ref = importlib.import_module(f"kernels.{module}")
    table = {name: getattr(ref, name) for name in ref.__all__}
    if backend == "triton":
        fast = importlib.import_module(f"kernels.triton.{module}")
        table.update({name: getattr(fast, name) for name in fast.__all__})
    return SimpleNamespace(backend=backend, **table)
