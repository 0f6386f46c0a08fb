"""Compile every Triton kernel of kernels/triton ahead of time for a CUDA architecture, without a GPU.

    python -m kernels.triton.aot [--arch 90] [--dtype float32 float64]

Triton lowers a kernel to PTX and assembles it with the ``ptxas`` shipped in its wheel, so the whole
chain (type checks of loop-carried values, ``tl.dot`` shapes and dtypes, shared-memory layouts, the
register allocation) runs on a machine with no device. The interpreter tests check what the kernels
compute; this checks that they compile for the target, e.g. sm_90 (H100/H200), in every variant
that the wrappers launch. Run it in a process without ``TRITON_INTERPRET=1``: under the interpreter
``triton.jit`` yields interpreted functions, which cannot be compiled.
"""
from __future__ import annotations

import argparse
import importlib
import itertools
import sys
import time
from dataclasses import dataclass

#: the attention kernels at two widths d = dv (padded), each with the wrappers' default tiles
#: (kernels.triton.attention.default_tile): "D" stands for BLOCK_D = BLOCK_DV and sets BLOCK_M = BLOCK_N
FLASH = {"D": (64, 256)}
#: (module, kernel, integer arguments besides the strides, constexpr choices: name -> values, or
#: name -> {dtype: values}); the tiles are the wrappers' defaults
KERNELS = [
    ("finite_sum", "_column_losses_kernel", ("N", "d", "K"),
     {"HAS_SHIFT": (False, True), "ONE_PASS": (False, True), "BLOCK_N": (64,), "BLOCK_K": (32,), "BLOCK_D": (32,)}),
    ("softmax", "_tile_max_sum_kernel", ("N", "T"), {"BLOCK": (1024,)}),
    ("softmax", "_gradient_moments_kernel", ("N", "T"), {"HAS_SHIFT": (False, True), "BLOCK": (1024,)}),
    ("softmax", "_gradient_weights_kernel", ("N", "T"), {"HAS_SHIFT": (False, True), "BLOCK": (1024,)}),
    ("softmax", "_hvp_moments_kernel", ("N", "T"), {"BLOCK": (1024,)}),
    ("softmax", "_hvp_weights_kernel", ("N", "T"), {"BLOCK": (1024,)}),
    ("attention", "_flash_forward_kernel", ("n_q", "n_k", "d", "dv"), {"HAS_W": (False, True), **FLASH}),
    ("attention", "_flash_dq_kernel", ("n_q", "n_k", "d", "dv"), {"HAS_W": (False, True), **FLASH}),
    ("attention", "_flash_dv_kernel", ("n_q", "n_k", "d", "dv"), FLASH),
]
#: shared memory one block may use, by compute capability (CUDA programming guide, opt-in maximum)
SHARED_LIMIT = {80: 166912, 86: 101376, 89: 101376, 90: 232448}
DTYPES = {"float32": "fp32", "float64": "fp64"}


@dataclass
class Compiled:
    kernel: str
    dtype: str
    variant: str
    seconds: float
    shared_bytes: int
    num_warps: int


def compile_kernel(module: str, name: str, ints: tuple[str, ...], constexprs: dict, dtype: str, arch: int) -> Compiled:
    """Compile one variant (fixed constexpr values) for ``sm_<arch>``; raises what Triton raises."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    constexprs = dict(constexprs)
    mod = importlib.import_module(f"kernels.triton.{module}")
    fn = getattr(mod, name)
    if "D" in constexprs:  # the attention kernels: width and the default tiles for it
        import torch

        width = constexprs.pop("D")
        tile = mod.default_tile(getattr(torch, dtype), width)
        constexprs.update(BLOCK_M=tile, BLOCK_N=tile, BLOCK_D=width, BLOCK_DV=width)
    if not isinstance(fn, triton.runtime.jit.JITFunction):
        raise RuntimeError("the kernels were defined under TRITON_INTERPRET=1; compile in a process without it")
    signature = {p.name: "constexpr" if p.is_constexpr else
                 ("i32" if p.name in ints or p.name.startswith("stride") else "*" + DTYPES[dtype]) for p in fn.params}
    start = time.perf_counter()
    src = ASTSource(fn=fn, signature=signature, constexprs={(fn.arg_names.index(k),): v for k, v in constexprs.items()})
    out = triton.compile(src, target=GPUTarget("cuda", arch, 32))
    variant = ",".join(f"{k}={v}" for k, v in constexprs.items() if not k.startswith("BLOCK"))
    if "BLOCK_DV" in constexprs:
        variant = ",".join(filter(None, [variant, f"d={constexprs['BLOCK_D']},tile={constexprs['BLOCK_M']}"]))
    return Compiled(f"{module}.{name}", dtype, variant or "-", time.perf_counter() - start,
                    int(out.metadata.shared), int(out.metadata.num_warps))


def variants(choices: dict, dtype: str, richest: bool = False):
    """The constexpr assignments of one kernel for a dtype; ``richest``: only the one with every flag on."""
    per = {k: (v[dtype] if isinstance(v, dict) else v) for k, v in choices.items()}
    if richest:  # every flag on; the widths stay
        per = {k: (True,) if v == (False, True) else v for k, v in per.items()}
    for values in itertools.product(*per.values()):
        yield dict(zip(per, values))


def compile_all(arch: int = 90, dtypes=("float32", "float64"), richest: bool = False):
    """Every kernel in every variant of :data:`KERNELS` (or its richest one), for each dtype."""
    for (module, name, ints, choices), dtype in itertools.product(KERNELS, dtypes):
        for constexprs in variants(choices, dtype, richest):
            yield compile_kernel(module, name, ints, constexprs, dtype, arch)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.triton.aot", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability ×10, e.g. 80, 90 (default 90)")
    parser.add_argument("--dtype", nargs="+", choices=sorted(DTYPES), default=sorted(DTYPES))
    parser.add_argument("--richest", action="store_true", help="only the variant with every flag on, per kernel")
    args = parser.parse_args(argv)
    limit = SHARED_LIMIT.get(args.arch)
    print(f"sm_{args.arch}: shared memory per block at most {limit if limit else 'unknown'} bytes")
    print("| kernel | dtype | variant | compile s | shared bytes | warps |")
    print("|---|---|---|---|---|---|")
    over = 0
    for c in compile_all(args.arch, args.dtype, args.richest):
        flag = " **over the limit**" if limit and c.shared_bytes > limit else ""
        over += bool(flag)
        print(f"| {c.kernel} | {c.dtype} | {c.variant} | {c.seconds:.2f} | {c.shared_bytes}{flag} | {c.num_warps} |",
              flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
