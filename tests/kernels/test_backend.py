"""Backend selection (kernels/backend.py): what auto, torch and triton resolve to, and the namespaces."""
from __future__ import annotations

import importlib.util

import pytest

from kernels import attention, finite_sum, softmax
from kernels import backend as KB

HAS_TRITON = importlib.util.find_spec("triton") is not None


def test_torch_is_the_reference_everywhere():
    assert KB.resolve("torch", "cpu") == "torch"
    assert KB.resolve("torch", "cuda") == "torch"
    assert KB.ops("softmax", "torch").gradient is softmax.gradient


def test_auto_is_torch_on_cpu_even_under_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert KB.resolve("auto", "cpu") == "torch"


def test_auto_is_triton_on_cuda_when_installed_and_compiled(monkeypatch):
    monkeypatch.setattr(KB, "triton_installed", lambda: True)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert KB.resolve("auto", "cuda") == "triton"
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # a shell left with the interpreter on: not for real jobs
    assert KB.resolve("auto", "cuda") == "torch"
    assert KB.resolve("triton", "cuda") == "triton"  # asked for by name, it is honoured
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setattr(KB, "triton_installed", lambda: False)
    assert KB.resolve("auto", "cuda") == "torch"


def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.setattr(KB, "triton_installed", lambda: True)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="CUDA device.*TRITON_INTERPRET=1"):
        KB.resolve("triton", "cpu")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert KB.resolve("triton", "cpu") == "triton"


def test_triton_without_triton_is_refused(monkeypatch):
    monkeypatch.setattr(KB, "triton_installed", lambda: False)
    with pytest.raises(ValueError, match=r"not installed.*softmax-lab\[gpu\]"):
        KB.resolve("triton", "cuda")


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="auto.*torch.*triton.*'cuda'"):
        KB.resolve("cuda", "cpu")
    with pytest.raises(ValueError, match="no kernel module"):
        KB.ops("sketch", "torch")
    with pytest.raises(ValueError, match="resolved"):
        KB.ops("softmax", "auto")


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")
@pytest.mark.parametrize("module,ref", [("softmax", softmax), ("finite_sum", finite_sum), ("attention", attention)])
def test_triton_namespace_replaces_what_it_has_and_keeps_the_rest(module, ref):
    import importlib

    fast = importlib.import_module(f"kernels.triton.{module}")
    ns = KB.ops(module, "triton")
    assert ns.backend == "triton"
    for name in ref.__all__:
        expected = getattr(fast, name) if name in fast.__all__ else getattr(ref, name)
        assert getattr(ns, name) is expected, name
    replaced = [name for name in ref.__all__ if name in fast.__all__]
    assert replaced, f"kernels.triton.{module} replaces none of kernels.{module}'s functions"
