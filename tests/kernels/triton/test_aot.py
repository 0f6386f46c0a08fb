"""Every Triton kernel compiles for sm_90 (H100/H200) on this CPU-only machine, through Triton's own
PTX assembler, and fits the block's shared memory there (kernels/triton/aot.py). The interpreter
tests check what the kernels compute; this checks what only a compiler sees: loop-carried types,
``tl.dot`` operand shapes and dtypes, and the shared memory of the default tiles."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from kernels.triton.aot import KERNELS
from tests.conftest import PROJECT, skip_unless_ci

if importlib.util.find_spec("triton") is None:
    skip_unless_ci("triton is not installed (pip install 'softmax-lab[gpu]')")


def test_every_kernel_compiles_for_sm90_within_its_shared_memory():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, "-m", "kernels.triton.aot", "--arch", "90", "--richest"], cwd=PROJECT,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ") and not line.startswith("| kernel")]
    compiled = {(row.split(" | ")[0][2:], row.split(" | ")[1]) for row in rows}
    expected = {(f"{module}.{name}", dtype) for module, name, _, _ in KERNELS for dtype in ("float32", "float64")}
    assert compiled == expected
