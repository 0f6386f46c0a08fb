"""Low-rank (polynomial-method) attention against exact attention: forward, gradient, streaming memory.

Three sections, each a Markdown table (docs/benchmarks.md quotes them):

  forward    T = softmax(QKᵀ/d)V with Q, K, V n×d, entries U[−B, B] (B = 0.5). Exact: torch eager
             (``kernels.polynomial.attention``), ``torch.compile`` of it, and
             ``scaled_dot_product_attention`` (SDPA, the library's exact kernel). Low-rank:
             ``kernels.polynomial.lowrank_attention`` at degree g (rank t = C(d+g, g)), eager and compiled.
  gradient   dL/dX of E07's L(X) = ½‖D⁻¹exp(A₁XA₂ᵀ/d)A₃Y − E‖²_F: the exact O(n²d) chain
             (``kernels.attention_gradient.gradient``) against the low-rank chain of rank k₃ = k₁(k₁ + d)
             (``lowrank_gradient``), eager and compiled.
  memory     the floats the one-pass streaming estimator of E10 keeps (its state tensors, counted) against
             the KV cache (2nd floats), over n, and the peak memory of one pass (tracemalloc is blind to
             torch, so the process's peak RSS increase is reported, measured in a fresh subprocess).

Every implementation of a size is timed side by side: each repeat takes one sample of each in turn
(so a load change hits them alike), a sample is enough back-to-back calls to last ``--min-time``
seconds, and the table gives the median over the repeats with the error of the output against the
exact eager one. The crossover n of a (d, g) pair is where the low-rank time falls below the fastest
exact time, interpolated in log-log between the two measured sizes around it ("> n_max" when it never does).

    python benchmarks/fast_attention.py                     # CPU defaults (a few minutes on 2 cores)
    python benchmarks/fast_attention.py --quick             # tiny sizes, a smoke test
    python benchmarks/fast_attention.py --device cuda --n-max 65536 --json fast-attention-gpu.json

On CUDA the exact paths run until they run out of memory; the table says "OOM" from there on.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels import attention_gradient as AG  # noqa: E402
from kernels import polynomial as P  # noqa: E402
from kernels import streaming as S  # noqa: E402


def uniform(n, d, B, g, device, dtype):
    return ((torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1) * B).to(device, dtype)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def sample(fn, min_time, device):
    """Seconds per call: enough back-to-back calls to last ``min_time``."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    once = time.perf_counter() - t0
    calls = max(1, int(min_time / max(once, 1e-7)))
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / calls


def timed(impls, repeats, min_time, device):
    """Median seconds per call of each implementation, sampled in turn; "OOM"/"n/a (…)" on failure."""
    alive, first, times = {}, {}, {k: [] for k in impls}
    for name, fn in impls.items():
        try:
            t0 = time.perf_counter()
            out = fn()
            sync(device)
            first[name] = time.perf_counter() - t0
            fn()  # warm-up
            alive[name] = out
        except torch.OutOfMemoryError:
            times[name] = "OOM"
            if device.type == "cuda":
                torch.cuda.empty_cache()
        except Exception as exc:  # noqa: BLE001 - a failed compilation is reported, not hidden
            times[name] = f"n/a ({type(exc).__name__})"
    for _ in range(repeats):
        for name in alive:
            times[name].append(sample(impls[name], min_time, device))
    med = {k: (statistics.median(v) if isinstance(v, list) else v) for k, v in times.items()}
    return med, alive, first


def compiled(fn):
    """``torch.compile(fn)`` for one shape: the compile caches are cleared first, so that every size gets its
    own compilation (instead of reaching dynamo's recompile limit and silently falling back to eager)."""
    torch._dynamo.reset()
    return torch.compile(fn, dynamic=False)


def crossover(ns, lowrank, exact):
    """The n where ``lowrank`` time falls below ``exact`` (log-log interpolation), or a bound."""
    pts = [(n, a, b) for n, a, b in zip(ns, lowrank, exact) if isinstance(a, float) and isinstance(b, float)]
    for (n0, a0, b0), (n1, a1, b1) in zip(pts, pts[1:]):
        if a0 >= b0 and a1 < b1:
            r0, r1 = math.log(a0 / b0), math.log(a1 / b1)
            return f"{math.exp(math.log(n0) + (math.log(n1) - math.log(n0)) * r0 / (r0 - r1)):.0f}"
    if pts and pts[0][1] < pts[0][2]:
        return f"≤ {pts[0][0]}"
    return f"> {pts[-1][0]}" if pts else "—"


def fmt(v):
    return f"{v * 1e3:.3g}" if isinstance(v, float) else str(v)


def rel(out, ref):
    return float(torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref))


def forward(args, device, dtype):
    rows, summary = [], []
    for d, g in args.pairs:
        ns, low, best = [], [], []
        for n in args.ns:
            gen = torch.Generator().manual_seed(n)
            Q, K, V = (uniform(n, d, args.B, gen, device, dtype) for _ in range(3))
            exact = lambda: P.attention(Q, K, V, scale=d)  # noqa: E731
            c_exact = compiled(P.attention)
            c_low = compiled(P.lowrank_attention)
            impls = {
                "exact eager": exact,
                "exact compile": lambda: c_exact(Q, K, V, scale=d),
                "SDPA": lambda: torch.nn.functional.scaled_dot_product_attention(
                    Q[None, None], K[None, None], V[None, None], scale=1.0 / d)[0, 0],
                "low-rank eager": lambda: P.lowrank_attention(Q, K, V, g, scale=d),
                "low-rank compile": lambda: c_low(Q, K, V, g, scale=d),
            }
            if not args.compile:
                impls = {k: v for k, v in impls.items() if "compile" not in k}
            med, outs, _ = timed(impls, args.repeats, args.min_time, device)
            ref = outs.get("exact eager")
            err = rel(outs["low-rank eager"], ref) if ref is not None and "low-rank eager" in outs else float("nan")
            rows.append((d, g, P.rank(d, g), n, med, err))
            exacts = [v for k, v in med.items() if k.startswith(("exact", "SDPA")) and isinstance(v, float)]
            lows = [v for k, v in med.items() if k.startswith("low-rank") and isinstance(v, float)]
            ns.append(n)
            low.append(min(lows) if lows else "OOM")
            best.append(min(exacts) if exacts else "OOM")
            print(f"forward d={d} g={g} n={n}: " + ", ".join(f"{k} {fmt(v)} ms" for k, v in med.items()), flush=True)
        summary.append((d, g, P.rank(d, g), crossover(ns, low, best)))
    return rows, summary


def gradient(args, device, dtype):
    rows, summary = [], []
    for d, g in args.pairs:
        ns, low, best = [], [], []
        for n in args.ns:
            if n > args.grad_n_max:
                continue
            gen = torch.Generator().manual_seed(n)
            A1, A2, A3, E = (uniform(n, d, args.B, gen, device, dtype) for _ in range(4))
            X, Y = (uniform(d, d, 1.0, gen, device, dtype) for _ in range(2))
            c_exact = compiled(AG.gradient)
            c_low = compiled(AG.lowrank_gradient)
            impls = {
                "exact eager": lambda: AG.gradient(A1, A2, A3, E, Y, X, d),
                "exact compile": lambda: c_exact(A1, A2, A3, E, Y, X, d),
                "low-rank eager": lambda: AG.lowrank_gradient(A1, A2, A3, E, Y, X, g, d),
                "low-rank compile": lambda: c_low(A1, A2, A3, E, Y, X, g, d),
            }
            if not args.compile:
                impls = {k: v for k, v in impls.items() if "compile" not in k}
            med, outs, _ = timed(impls, args.repeats, args.min_time, device)
            ref = outs.get("exact eager")
            err = rel(outs["low-rank eager"], ref) if ref is not None and "low-rank eager" in outs else float("nan")
            k1 = P.rank(d, g)
            rows.append((d, g, k1 * (k1 + d), n, med, err))
            exacts = [v for k, v in med.items() if k.startswith("exact") and isinstance(v, float)]
            lows = [v for k, v in med.items() if k.startswith("low-rank") and isinstance(v, float)]
            ns.append(n)
            low.append(min(lows) if lows else "OOM")
            best.append(min(exacts) if exacts else "OOM")
            print(f"gradient d={d} g={g} n={n}: " + ", ".join(f"{k} {fmt(v)} ms" for k, v in med.items()), flush=True)
        summary.append((d, g, P.rank(d, g) * (P.rank(d, g) + d), crossover(ns, low, best)))
    return rows, summary


PEAK = """
import resource, sys, torch
sys.path.insert(0, {root!r})
from kernels import streaming as S
n, d, g, chunk, kind = {n}, 3, 4, 4096, {kind!r}
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(0)
block = lambda m: (torch.rand(m, d, generator=gen, dtype=torch.float64) * 2 - 1) * 0.8
if kind == "stream":
    est = S.StreamingAttention(d=d, g=g, R=S.repetitions(n), W=S.buckets(20, 0.5), seed=0, chunk=chunk)
else:
    est = S.KVCache(d)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for start in range(0, n, chunk):        # keys and values arrive once, a block at a time
    m = min(chunk, n - start)
    est.update_kv(block(m), block(m))
for start in range(0, n if kind == "stream" else 0, chunk):  # then the queries (the KV cache's exact pass
    est.update_q(block(min(chunk, n - start)))                 # is O(n²) time: only its cache is measured)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(est.floats_kept(), (peak - base) / 1024)
"""


def memory(args):
    """Floats kept by the streaming estimator (counted from its state) and by the KV cache over n, and the
    peak RSS increase of each, in a fresh process: the estimator's whole pass (keys and values, then
    queries, in blocks of 4096 tokens), the KV cache's filling (its exact query pass is O(n²) time)."""
    rows = []
    root = str(Path(__file__).resolve().parents[1])
    for n in args.memory_ns:
        got = {}
        for kind in ("stream", "kv"):
            out = subprocess.run([sys.executable, "-c", PEAK.format(root=root, n=n, kind=kind)],
                                 capture_output=True, text=True, check=True).stdout.split()
            got[kind] = (int(out[0]), float(out[1]))
        rows.append((n, *got["stream"], *got["kv"]))
        print(f"memory n={n}: stream {got['stream'][0]} floats (+{got['stream'][1]:.1f} MiB), "
              f"KV cache {got['kv'][0]} floats (+{got['kv'][1]:.1f} MiB)", flush=True)
    return rows


def table(title, rows, summary, rank_name):
    impls = list(rows[0][4]) if rows else []
    head = f"| d | g | {rank_name} | n | " + " | ".join(f"{k} ms" for k in impls) + " | low-rank rel. error |\n"
    head += "|" + "---|" * (5 + len(impls)) + "\n"
    body = "".join(f"| {d} | {g} | {t} | {n} | " + " | ".join(fmt(med[k]) for k in impls) + f" | {err:.1e} |\n"
                   for d, g, t, n, med, err in rows)
    cross = f"\n| d | g | {rank_name} | crossover n (low-rank faster than the fastest exact) |\n|---|---|---|---|\n"
    cross += "".join(f"| {d} | {g} | {t} | {c} |\n" for d, g, t, c in summary)
    return f"### {title}\n\n{head}{body}{cross}"


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--sections", nargs="+", choices=["forward", "gradient", "memory"],
                    default=["forward", "gradient", "memory"])
    ap.add_argument("--pairs", nargs="+", default=["2:4", "4:4", "4:6"], help="(d, g) pairs as d:g")
    ap.add_argument("--n-min", type=int, default=256)
    ap.add_argument("--n-max", type=int, default=8192)
    ap.add_argument("--grad-n-max", type=int, default=8192, help="largest n of the gradient section")
    ap.add_argument("--memory-ns", type=int, nargs="+", default=[2**12, 2**14, 2**16, 2**18, 2**20])
    ap.add_argument("--B", type=float, default=0.5, help="entry bound of Q, K (and A1, A2)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats (a smoke test)")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args(argv)
    args.pairs = [tuple(int(v) for v in p.split(":")) for p in args.pairs]
    if args.quick:
        args.n_min, args.n_max, args.grad_n_max, args.repeats, args.min_time = 128, 512, 512, 2, 0.01
        args.memory_ns, args.pairs = [2**10, 2**12], [(2, 4)]
    args.ns = [2**k for k in range(int(math.log2(args.n_min)), int(math.log2(args.n_max)) + 1)]
    return args


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# {name}, torch {torch.__version__}, {args.threads} threads, {args.dtype}, B = {args.B}\n")
    out, record = [], {"device": name, "threads": args.threads, "dtype": args.dtype, "B": args.B}
    if "forward" in args.sections:
        rows, summary = forward(args, device, dtype)
        out.append(table("Forward: softmax(QKᵀ/d)V", rows, summary, "t"))
        record["forward"] = {"rows": [(d, g, t, n, med, e) for d, g, t, n, med, e in rows], "crossover": summary}
    if "gradient" in args.sections:
        rows, summary = gradient(args, device, dtype)
        out.append(table("Gradient dL/dX of E07's loss", rows, summary, "k₃"))
        record["gradient"] = {"rows": [(d, g, t, n, med, e) for d, g, t, n, med, e in rows], "crossover": summary}
    if "memory" in args.sections:
        rows = memory(args)
        text = ("### Memory: one-pass streaming estimator (d = 3, g = 4, t = 35, k = 20, ε₁ = 0.5) against the "
                "KV cache\n\n| n | estimator floats (state) | KV cache floats (2nd) | ratio | estimator peak RSS "
                "increase MiB | KV cache peak RSS increase MiB |\n|---|---|---|---|---|---|\n")
        text += "".join(f"| {n} | {k} | {kv} | {kv / k:.1f} | {rss:.1f} | {rss_kv:.1f} |\n"
                        for n, k, rss, kv, rss_kv in rows)
        out.append(text)
        record["memory"] = rows
    print("\n" + "\n".join(out))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
