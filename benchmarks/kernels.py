"""The GPU hot paths in torch eager, torch.compile and Triton, against measured hardware limits.

The three hot paths are the batched SPSA losses (P2), the P1 loss/gradient and Hessian-vector
product, and the attention forward pass (P3).

Hot paths and the work counted for each (one row group per shape):

  spsa       ``kernels.finite_sum.column_losses(A, b, w, X)``: A m×N×d, X d×K with K = 2n (the points
             x ± εz_j of one n-SPSA estimate). Product-bound. Work = the FLOPs of the product only,
             2·m·N·d·K; the kernel does more (column softmax, residual, regulariser), none of it
             counted. The Triton kernel forms the product twice by default (``passes=2``, so at
             most 50% of the limit); where it takes ``passes``, its one-pass variant is timed too.
             Limit: the measured rate of the plain product Xᵀ Aᵀ (K×d by d×N per instance,
             ``torch.matmul``).
  p1-grad    ``kernels.softmax.loss_and_gradient(A, b, w, x)``: A N×d (large N, small d).
  p1-hvp     ``kernels.softmax.hessian_vector_product(A, b, w, x, v)``, same A.
             Memory-bound. Work = the compulsory bytes: A, b, w, x (and v) read once, the outputs
             written once. (The torch paths read A twice (gradient) or four times (HVP), so a copy-speed
             stream of their own traffic would show as 50% or 25% here.) Limit: the copy bandwidth of
             a large tensor (``dst.copy_(src)``, 2 × its bytes moved per copy: read + write).
  attention  rowsoftmax(A1 X A2ᵀ) V: A1, A2 n×d, X d×d, V n×d. Product-bound. Work = the FLOPs of
             the products, 2nd² (A1 X) + 2n²d (scores) + 2n²d (times V). Limits: the plain products
             ((A1 X) A2ᵀ) V with ``torch.matmul`` (no softmax between them), and
             ``torch.nn.functional.scaled_dot_product_attention(Q, A2, V, scale=1.0)`` with
             Q = A1 X formed inside the timed call (batch dims 1×1 added), i.e. the same work.

Implementations: torch eager (the function in kernels/), torch.compile of that same function
(compiled per shape, ``dynamic=False``; a compilation that fails is reported as "n/a (reason)")
and the Triton kernel of kernels/triton/ with the same signature, on CUDA only (on CPU Triton's
interpreter is a test tool, not a performance path: "—"). Each output is compared with the eager
one (relative difference, ‖out - eager‖/‖eager‖, the worst over the outputs).

Timing: every implementation of a shape (limits included) is called once (its first call, with
compilation for torch.compile, is reported), then warmed up; a sample is enough back-to-back calls
to last ``--min-time`` seconds; each repeat takes one sample of every implementation in turn (so a
load change hits them alike), and the table gives the median over the repeats. On CUDA a sample
is timed with CUDA events; on CPU with perf_counter (wall time) or, with ``--clock cpu``, the
process's CPU time, which other jobs on a shared machine disturb much less at one thread.

On CUDA the targets are checked for the Triton rows and printed as PASS/FAIL lines:
batched SPSA at ≥ 60% of the product's rate for n ≥ 64, attention forward within 1.5× of
scaled_dot_product_attention at n = 8192, d = 64 (``--gpu-sizes`` runs those shapes).

    python benchmarks/kernels.py --threads 2               # CPU defaults (1–1.5 min here)
    python benchmarks/kernels.py --quick                   # tiny shapes, a smoke test
    python benchmarks/kernels.py --device cuda --gpu-sizes --json kernels.json
    python benchmarks/kernels.py --kernels attention --attn-n 4096 8192 --attn-d 64

Results are printed as a Markdown table (docs/benchmarks.md quotes it).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kernels import attention as ATT  # noqa: E402
from kernels import finite_sum as FS  # noqa: E402
from kernels import softmax as SM  # noqa: E402

KERNELS = ("spsa", "p1-grad", "p1-hvp", "attention")
EPS = 1e-3            # SPSA step (large enough to mean something in float32)
SPSA_TARGET = 0.60    # share of the product's rate, n ≥ 64
ATTN_TARGET = 1.5     # time / SDPA time at n = 8192, d = 64
ATTN_TARGET_SHAPE = (8192, 64)

# shape presets: the CPU defaults (≈ 2 min with two threads, first compilation included),
# a smoke test, and the target shapes for a GPU
PRESETS = {
    "default": {"spsa_rows": 4096, "spsa_d": [64, 256], "p1_rows": [1 << 21], "p1_d": [16, 64],
                "attn_n": [1024, 2048], "attn_d": [64], "copy_mib": 1024},
    "quick": {"spsa_rows": 512, "spsa_d": [64], "p1_rows": [1 << 16], "p1_d": [16],
              "attn_n": [256], "attn_d": [32], "copy_mib": 128},
    "gpu": {"spsa_rows": 4096, "spsa_d": [64, 256, 1024], "p1_rows": [1 << 22], "p1_d": [16, 64],
            "attn_n": [2048, 8192], "attn_d": [64], "copy_mib": 2048},
}


# --------------------------------------------------------------------------- environment


def cpu_model() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads"


def triton_version() -> Optional[str]:
    try:
        return importlib.metadata.version("triton")
    except importlib.metadata.PackageNotFoundError:
        return None


def short(exc: BaseException, limit: int = 70) -> str:
    """One line for a table cell: the exception's type and the first line of its message."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    text = text.replace("|", "/")
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --------------------------------------------------------------------------- timing


class Timer:
    def __init__(self, device: torch.device, clock: str = "wall"):
        self.cuda = device.type == "cuda"
        self.clock = time.process_time if clock == "cpu" else time.perf_counter

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def once(self, fn: Callable) -> float:
        self.sync()
        t0 = self.clock()
        fn()
        self.sync()
        return self.clock() - t0

    def sample(self, fn: Callable, inner: int) -> float:
        """Seconds per call over ``inner`` back-to-back calls."""
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) * 1e-3 / inner
        t0 = self.clock()
        for _ in range(inner):
            fn()
        return (self.clock() - t0) / inner


# --------------------------------------------------------------------------- cases


@dataclass
class Impl:
    name: str
    fn: Optional[Callable]            # None: not timed, ``note`` says why
    note: str = ""
    role: str = "impl"                # "limit", "sdpa" or "impl"
    work: Optional[float] = None      # FLOPs or bytes of one call when not the case's (the copy)
    first_s: Optional[float] = None
    rel_diff: Optional[float] = None
    times: list = field(default_factory=list)


@dataclass
class Case:
    kernel: str
    shape: str
    params: dict
    work: float                       # FLOPs or bytes
    unit: str                         # "FLOP" or "B"
    eager: Callable
    impls: list


def _compiled(fn: Callable, mode: Optional[str]) -> Callable:
    torch._dynamo.reset()             # a fresh cache per shape: no recompilation limit across shapes
    return torch.compile(fn, dynamic=False, mode=mode)


def _triton(device: torch.device, module: str, name: str) -> tuple[Optional[Callable], str]:
    if device.type != "cuda":
        return None, "—"
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        return None, "n/a (TRITON_INTERPRET is set: the interpreter)"
    if triton_version() is None:
        return None, "n/a (triton not installed)"
    try:
        mod = importlib.import_module(f"kernels.triton.{module}")
    except ModuleNotFoundError as e:
        return None, f"n/a (no module {e.name})" if e.name else f"n/a ({short(e)})"
    except Exception as e:  # noqa: BLE001 - any import failure is a reportable cell
        return None, f"n/a ({short(e)})"
    fn = getattr(mod, name, None)
    if fn is None:
        return None, f"n/a (kernels.triton.{module}.{name} missing)"
    return fn, ""


def _local_attention_apply(A1, A2, X, V):
    return torch.softmax((A1 @ X) @ A2.T, dim=-1) @ V


def torch_attention() -> tuple[Callable, str]:
    fn = getattr(ATT, "attention_apply", None)
    if fn is not None:
        return fn, "kernels.attention.attention_apply"
    return _local_attention_apply, "local softmax((A1 @ X) @ A2.T, -1) @ V (kernels.attention.attention_apply not found)"


def spsa_case(N: int, d: int, n: int, m: int, dev, dtype, g) -> Case:
    A = torch.randn(m, N, d, generator=g, device=dev, dtype=dtype) / math.sqrt(d)
    x_true = torch.randn(d, generator=g, device=dev, dtype=dtype)
    x_true /= torch.linalg.vector_norm(x_true)
    b = torch.softmax(torch.matmul(A, x_true), dim=-1)
    w = torch.full((m, N), math.sqrt(20.0), device=dev, dtype=dtype)
    x = torch.randn(d, generator=g, device=dev, dtype=dtype) / math.sqrt(d)
    Z = torch.randn(d, n, generator=g, device=dev, dtype=dtype)
    K = 2 * n
    Xt = torch.cat([x + EPS * Z.T, x - EPS * Z.T]).contiguous()   # K×d, rows are the points
    X = Xt.T                                                      # d×K view, the layout kernels/spsa.py passes
    At = A.mT
    U = torch.empty(m, K, N, device=dev, dtype=dtype)             # the product's output, allocated once
    impls = [Impl("matmul Xᵀ Aᵀ (limit)", lambda: torch.matmul(Xt, At, out=U), role="limit")]
    return Case("spsa", f"m={m} N={N} d={d} K={K}", {"m": m, "N": N, "d": d, "n": n, "K": K},
                2.0 * m * N * d * K, "FLOP", lambda f: f(A, b, w, X), impls)


def p1_case(kernel: str, N: int, d: int, dev, dtype, g, copy_pair) -> Case:
    A = torch.randn(N, d, generator=g, device=dev, dtype=dtype) / math.sqrt(d)
    x_true = torch.randn(d, generator=g, device=dev, dtype=dtype)
    x_true /= torch.linalg.vector_norm(x_true)
    b = torch.softmax(A @ x_true, dim=0)
    w = torch.full((N,), 0.1, device=dev, dtype=dtype)
    x = torch.randn(d, generator=g, device=dev, dtype=dtype) / math.sqrt(d)
    v = torch.randn(d, generator=g, device=dev, dtype=dtype)
    s = A.element_size()
    src, dst = copy_pair
    impls = [Impl(f"copy {src.numel() * s / 2**20:.0f} MiB (limit)", lambda: dst.copy_(src), role="limit",
                  work=2.0 * src.numel() * s)]
    if kernel == "p1-grad":
        work = (N * d + 2 * N + d + d + 1) * s            # A, b, w, x read; ∇L and L written
        call = lambda f: f(A, b, w, x)  # noqa: E731
    else:
        work = (N * d + 2 * N + 3 * d) * s                # A, b, w, x, v read; ∇²L v written
        call = lambda f: f(A, b, w, x, v)  # noqa: E731
    return Case(kernel, f"N={N} d={d}", {"N": N, "d": d}, float(work), "B", call, impls)


def attention_case(n: int, d: int, dev, dtype, g) -> Case:
    A1 = torch.randn(n, d, generator=g, device=dev, dtype=dtype)
    A2 = torch.randn(n, d, generator=g, device=dev, dtype=dtype)
    X = torch.randn(d, d, generator=g, device=dev, dtype=dtype) / d      # scores of order one
    V = torch.randn(n, d, generator=g, device=dev, dtype=dtype)
    A2T = A2.T
    K4, V4 = A2[None, None], V[None, None]
    Qb = torch.empty(n, d, device=dev, dtype=dtype)              # the products' outputs, allocated once
    Sb = torch.empty(n, n, device=dev, dtype=dtype)
    Ob = torch.empty(n, d, device=dev, dtype=dtype)

    def products():
        torch.mm(A1, X, out=Qb)
        torch.mm(Qb, A2T, out=Sb)
        return torch.mm(Sb, V, out=Ob)

    def sdpa():
        return F.scaled_dot_product_attention((A1 @ X)[None, None], K4, V4, scale=1.0)[0, 0]

    impls = [Impl("matmuls ((A1 X) A2ᵀ) V (limit)", products, role="limit"),
             Impl("scaled_dot_product_attention", sdpa, role="sdpa")]
    return Case("attention", f"n={n} d={d}", {"n": n, "d": d},
                2.0 * n * d * d + 4.0 * n * n * d, "FLOP", lambda f: f(A1, A2, X, V), impls)


# --------------------------------------------------------------------------- measuring


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [o.detach().reshape(-1) for o in out]
    return [out.detach().reshape(-1)]


def rel_diff(out, ref) -> float:
    worst = 0.0
    for a, r in zip(_flat(out), _flat(ref)):
        scale = float(torch.linalg.vector_norm(r.double()))
        worst = max(worst, float(torch.linalg.vector_norm(a.double() - r.double())) / max(scale, 1e-300))
    return worst


def triton_variants(fn: Optional[Callable], note: str, kernel: str) -> list[tuple[str, Optional[Callable], str]]:
    """The Triton rows of a case: the kernel with its defaults, and for SPSA its one-pass variant."""
    rows = [("Triton", fn, note)]
    if fn is not None and kernel == "spsa":
        try:
            takes_passes = "passes" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            takes_passes = False
        if takes_passes:
            rows.append(("Triton passes=1", lambda *args: fn(*args, passes=1), ""))
    return rows


def run_case(case: Case, torch_fn: Callable, tritons: list, a, timer: Timer) -> list[dict]:
    try:
        ref = case.eager(torch_fn)
    except Exception:  # noqa: BLE001 - the eager row reports it; no reference for the others then
        ref = None
    impls = list(case.impls)
    impls.append(Impl("torch eager", lambda: case.eager(torch_fn)))
    if a.no_compile:
        impls.append(Impl("torch.compile", None, "skipped (--no-compile)"))
    else:
        impls.append(Impl("torch.compile", lambda c=_compiled(torch_fn, a.compile_mode): case.eager(c)))
    for name, tfn, note in tritons:
        impls.append(Impl(name, (lambda tfn=tfn: case.eager(tfn)) if tfn else None, note))

    live = []
    for im in impls:                  # first call (compilation), correctness, warm-up, calibration
        if im.fn is None:
            continue
        try:
            out = None

            def first(im=im):
                nonlocal out
                out = im.fn()
            im.first_s = timer.once(first)
            if im.role != "limit" and ref is not None:
                im.rel_diff = rel_diff(out, ref)
            del out
            for _ in range(a.warmup):
                im.fn()
            one = timer.once(im.fn)
            inner = max(1, math.ceil(a.min_time / max(one, 1e-7)))
            live.append((im, inner))
        except Exception as e:  # noqa: BLE001 - a failing implementation is a table cell, not a crash
            im.fn, im.note = None, f"n/a ({short(e)})"
            if timer.cuda:
                torch.cuda.empty_cache()
    for _ in range(a.repeats):
        for im, inner in list(live):
            try:
                im.times.append(timer.sample(im.fn, inner))
            except Exception as e:  # noqa: BLE001
                im.fn, im.note, im.times = None, f"n/a ({short(e)})", []
                live.remove((im, inner))

    lim = next(im for im in impls if im.role == "limit")
    rate_limit = (lim.work or case.work) / statistics.median(lim.times) if lim.times else None
    sd = [im for im in impls if im.role == "sdpa" and im.times]
    t_sdpa = statistics.median(sd[0].times) if sd else None
    rows = []
    for im in impls:
        r = {"kernel": case.kernel, "shape": case.shape, **case.params, "implementation": im.name,
             "role": im.role, "work": case.work, "unit": case.unit, "note": im.note,
             "first_call_s": im.first_s, "rel_diff_vs_eager": im.rel_diff}
        if im.times:
            t = statistics.median(im.times)
            rate = (im.work or case.work) / t
            r.update(time_s=t, times_s=im.times, work=im.work or case.work, rate=rate,
                     of_limit=rate / rate_limit if rate_limit else None,
                     vs_sdpa=(t / t_sdpa) if (t_sdpa is not None and case.kernel == "attention") else None)
        rows.append(r)
    return rows


# --------------------------------------------------------------------------- output


def fmt_time(s: Optional[float]) -> str:
    if s is None:
        return ""
    if s >= 1.0:
        return f"{s:.3g} s"
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def fmt_rate(r: float, unit: str) -> str:
    for p, k in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if r >= p:
            return f"{r / p:.3g} {k}{unit}/s"
    return f"{r:.3g} {unit}/s"


HEAD = ["kernel", "shape", "implementation", "first call", "median", "throughput", "of limit", "time / SDPA",
        "rel. diff vs eager"]


def table(rows: list[dict], header: bool) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)] if header else []
    for r in rows:
        if "time_s" in r:
            cells = [fmt_time(r["first_call_s"]), fmt_time(r["time_s"]), fmt_rate(r["rate"], r["unit"]),
                     f"{r['of_limit']:.0%}" if r["of_limit"] is not None else "",
                     f"{r['vs_sdpa']:.3g}×" if r["vs_sdpa"] is not None else "",
                     f"{r['rel_diff_vs_eager']:.1e}" if r["rel_diff_vs_eager"] is not None else ""]
        else:
            cells = [r["note"] or "n/a", "", "", "", "", ""]
        lines.append("| " + " | ".join([r["kernel"], r["shape"], r["implementation"], *cells]) + " |")
    return "\n".join(lines)


def targets(rows: list[dict], device: torch.device) -> list[dict]:
    """The performance targets, on the Triton rows (CUDA only)."""
    if device.type != "cuda":
        return []
    out = []
    spsa = [r for r in rows if r["kernel"] == "spsa" and r["implementation"].startswith("Triton") and r["n"] >= 64]
    # one line per shape, judged on the faster Triton variant (passes=2 is capped at 50% by its second
    # pass over the product; passes=1 is the variant that can meet the target)
    for shape in dict.fromkeys(r["shape"] for r in spsa):
        variants = [r for r in spsa if r["shape"] == shape]
        timed = [r for r in variants if "time_s" in r and r["of_limit"] is not None]
        best = max(timed, key=lambda r: r["of_limit"]) if timed else variants[0]
        name = f"SPSA {shape} (n={best['n']}): best Triton variant ≥ {SPSA_TARGET:.0%} of the matmul rate"
        share = best["of_limit"] if timed else None
        shown = (f"{share:.0%} ({best['implementation']}; "
                 + ", ".join(f"{r['implementation']} {r['of_limit']:.0%}" for r in timed) + ")"
                 if timed else best["note"])
        out.append(judged(name, share, share is not None and share >= SPSA_TARGET, shown))
    if not spsa:
        out.append({"target": f"SPSA, n ≥ 64: Triton ≥ {SPSA_TARGET:.0%} of the matmul rate",
                    "value": "no SPSA shape with n ≥ 64 in this run", "status": "NOT MEASURED"})
    n0, d0 = ATTN_TARGET_SHAPE
    att = [r for r in rows if r["kernel"] == "attention" and r["implementation"] == "Triton"
           and r["n"] == n0 and r["d"] == d0]
    name = f"attention n={n0} d={d0}: Triton time ≤ {ATTN_TARGET}× scaled_dot_product_attention"
    if not att:
        out.append({"target": name, "value": "shape not in this run (--gpu-sizes runs it)",
                    "status": "NOT MEASURED"})
    for r in att:
        ratio = r["vs_sdpa"] if "time_s" in r else None
        out.append(judged(name, ratio, ratio is not None and ratio <= ATTN_TARGET,
                          f"{ratio:.2f}×" if ratio is not None else (r["note"] or "SDPA not measured")))
    return out


def judged(target: str, measured, ok: bool, shown: str) -> dict:
    """One target line: PASS/FAIL when a value was measured, NOT MEASURED (with the reason) otherwise."""
    status = "NOT MEASURED" if measured is None else ("PASS" if ok else "FAIL")
    return {"target": target, "value": shown, "status": status}


# --------------------------------------------------------------------------- arguments


def _int_at_least(low: int, words: str):
    def parse_int(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"expected {words}, got {v}")
        return v
    return parse_int


positive_int = _int_at_least(1, "a positive integer")
nonneg_int = _int_at_least(0, "an integer ≥ 0")


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda"],
                    default="cuda" if torch.cuda.is_available() else "cpu", help="where to run")
    ap.add_argument("--dtype", choices=["float32", "float64"],
                    help="element type (default: float32 on cuda, float64 on cpu)")
    ap.add_argument("--threads", type=positive_int, default=torch.get_num_threads(),
                    help="torch.set_num_threads (CPU intra-op threads)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="CPU only: wall time, or the process's CPU time (user + system over all its threads; "
                         "steadier on a shared machine with --threads 1)")
    ap.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS), help="hot paths to run")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--gpu-sizes", action="store_true",
                      help="the target shapes: SPSA N=4096, d=n ∈ {64, 256, 1024}; P1 N=2^22, d ∈ {16, 64}; "
                           "attention n ∈ {2048, 8192}, d=64; 2 GiB copy")
    size.add_argument("--quick", action="store_true", help="tiny shapes and 3 repeats (a smoke test)")
    ap.add_argument("--m", type=positive_int, default=1, help="SPSA: instances (A is m×N×d)")
    ap.add_argument("--spsa-rows", type=positive_int, help="SPSA: rows N of each instance")
    ap.add_argument("--spsa-d", type=positive_int, nargs="+", help="SPSA: dimensions d")
    ap.add_argument("--spsa-n", type=positive_int, nargs="+",
                    help="SPSA: perturbations n (K = 2n columns), crossed with --spsa-d (default n = d)")
    ap.add_argument("--p1-rows", type=positive_int, nargs="+", help="P1 gradient/HVP: rows N")
    ap.add_argument("--p1-d", type=positive_int, nargs="+", help="P1 gradient/HVP: dimensions d")
    ap.add_argument("--attn-n", type=positive_int, nargs="+", help="attention: sequence lengths n")
    ap.add_argument("--attn-d", type=positive_int, nargs="+", help="attention: dimensions d")
    ap.add_argument("--copy-mib", type=positive_int, help="size of the tensor whose copy measures bandwidth")
    ap.add_argument("--repeats", type=positive_int, help="samples per implementation (default 5, 3 with --quick)")
    ap.add_argument("--warmup", type=nonneg_int, default=2, help="warm-up calls after the first call")
    ap.add_argument("--min-time", type=positive_float, default=0.02,
                    help="seconds of back-to-back calls per sample")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--compile-mode", choices=["default", "reduce-overhead", "max-autotune",
                                               "max-autotune-no-cudagraphs"], default="default",
                    help="torch.compile mode")
    ap.add_argument("--seed", type=nonneg_int, default=0, help="seed of the random instances")
    ap.add_argument("--json", type=Path, help="also write the rows (and the target checks) here")
    ap.add_argument("--strict", action="store_true",
                    help="exit with status 1 when a target check is not PASS (CUDA only)")
    a = ap.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available here (torch "
                 f"{torch.__version__}{', a CPU-only build' if torch.version.cuda is None else ''})")
    if a.clock == "cpu" and a.device == "cuda":
        ap.error("--clock cpu is for --device cpu (CUDA samples are timed with CUDA events)")
    if a.strict and a.device != "cuda":
        ap.error("--strict checks the GPU targets: it needs --device cuda")
    if a.json is not None and a.json.exists() and a.json.is_dir():
        ap.error(f"--json {a.json}: is a directory")
    if a.json is not None and not a.json.parent.exists():
        ap.error(f"--json {a.json}: folder {a.json.parent} does not exist")
    if a.spsa_n and "spsa" not in a.kernels:
        ap.error("--spsa-n given but spsa is not in --kernels")
    preset = PRESETS["gpu" if a.gpu_sizes else "quick" if a.quick else "default"]
    a.spsa_rows = a.spsa_rows or preset["spsa_rows"]
    a.spsa_d = a.spsa_d or preset["spsa_d"]
    a.p1_rows = a.p1_rows or preset["p1_rows"]
    a.p1_d = a.p1_d or preset["p1_d"]
    a.attn_n = a.attn_n or preset["attn_n"]
    a.attn_d = a.attn_d or preset["attn_d"]
    a.copy_mib = a.copy_mib or preset["copy_mib"]
    a.repeats = a.repeats or (3 if a.quick else 5)
    a.dtype = a.dtype or ("float32" if a.device == "cuda" else "float64")
    a.compile_mode = None if a.compile_mode == "default" else a.compile_mode
    return a


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    a = parse(argv)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    dtype = getattr(torch, a.dtype)
    timer = Timer(dev, a.clock)
    g = torch.Generator(device=dev).manual_seed(a.seed)
    attn_fn, attn_label = torch_attention()
    tv = triton_version()

    plan = []                                             # (case builder, torch fn, triton module, name)
    if "spsa" in a.kernels:
        for d in a.spsa_d:
            for n in (a.spsa_n or [d]):
                plan.append((lambda d=d, n=n: spsa_case(a.spsa_rows, d, n, a.m, dev, dtype, g),
                             FS.column_losses, "finite_sum", "column_losses"))
    copy_pair = None
    if any(k in a.kernels for k in ("p1-grad", "p1-hvp")):
        elems = (a.copy_mib << 20) // torch.empty((), dtype=dtype).element_size()
        src = torch.full((elems,), 1.0, device=dev, dtype=dtype)
        copy_pair = (src, torch.full_like(src, 2.0))            # both touched before the first timing
    for k, fn, name in (("p1-grad", SM.loss_and_gradient, "loss_and_gradient"),
                        ("p1-hvp", SM.hessian_vector_product, "hessian_vector_product")):
        if k in a.kernels:
            for N in a.p1_rows:
                for d in a.p1_d:
                    plan.append((lambda k=k, N=N, d=d: p1_case(k, N, d, dev, dtype, g, copy_pair),
                                 fn, "softmax", name))
    if "attention" in a.kernels:
        for n in a.attn_n:
            for d in a.attn_d:
                plan.append((lambda n=n, d=d: attention_case(n, d, dev, dtype, g),
                             attn_fn, "attention", "attention_apply"))

    clock = ("CUDA events" if dev.type == "cuda" else
             "process CPU time" if a.clock == "cpu" else "perf_counter (wall)")
    print(f"device: {a.device} — {device_name(dev)}")
    print(f"dtype {a.dtype} | torch {torch.__version__} | triton {tv or 'not installed'}"
          f"{' (not used on cpu)' if dev.type != 'cuda' and tv else ''} | float32 matmul precision "
          f"{torch.get_float32_matmul_precision()} | torch.compile mode {a.compile_mode or 'default'}"
          f"{' (skipped)' if a.no_compile else ''}")
    print(f"timing: median of {a.repeats} samples, each ≥ {a.min_time:g} s of back-to-back calls ({clock}), "
          f"after the first call and {a.warmup} warm-up calls; every implementation of a shape sampled in turn")
    print("limits: spsa and attention are product-bound: FLOP/s of the products only (spsa 2·m·N·d·K for Xᵀ Aᵀ; "
          "attention 2nd² + 4n²d) against plain torch.matmul of the same shapes ('(limit)' rows), attention also "
          "against scaled_dot_product_attention(A1 X, A2, V, scale=1); p1-grad and p1-hvp are memory-bound: "
          "compulsory bytes (A, b, w, x[, v] read once, outputs written once) per second against the copy "
          "bandwidth of dst.copy_(src) (2 × the tensor's bytes per copy)")
    if "attention" in a.kernels:
        print(f"attention torch function: {attn_label}")
    print()
    print(table([], header=True), flush=True)
    rows = []
    for build, fn, module, name in plan:
        case = build()
        tfn, tnote = _triton(dev, module, name)
        case_rows = run_case(case, fn, triton_variants(tfn, tnote, case.kernel), a, timer)
        rows.extend(case_rows)
        print(table(case_rows, header=False), flush=True)
        del case
        if timer.cuda:
            torch.cuda.empty_cache()

    checks = targets(rows, dev)
    print()
    if dev.type != "cuda":
        print("targets (SPSA ≥ 60% of the product's rate for n ≥ 64; attention ≤ 1.5× SDPA at n=8192, d=64): "
              "checked on CUDA only, for the Triton kernels; run "
              "`python benchmarks/kernels.py --device cuda --gpu-sizes`")
    for c in checks:
        print(f"{c['status']}: {c['target']}: {c['value']}")
    if a.json:
        meta = {"device": a.device, "device_name": device_name(dev), "dtype": a.dtype, "torch": torch.__version__,
                "triton": tv, "threads": torch.get_num_threads(), "repeats": a.repeats, "warmup": a.warmup,
                "min_time_s": a.min_time, "compile_mode": a.compile_mode, "no_compile": a.no_compile,
                "copy_mib": a.copy_mib, "attention_torch_function": attn_label, "clock": clock,
                "float32_matmul_precision": torch.get_float32_matmul_precision(), "argv": sys.argv[1:]}
        a.json.write_text(json.dumps({"meta": meta, "rows": rows, "targets": checks}, indent=1))
    if a.strict and any(c["status"] != "PASS" for c in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
