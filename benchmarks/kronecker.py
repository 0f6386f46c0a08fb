"""Kronecker leverage-score sampling against forming A1 ⊗ A2 (docs/theory/e06.md §E06.3, §E06.5).

Two sections, each a Markdown table (docs/benchmarks.md quotes them):

  sampling       a (1 ± ε) spectral approximation of (A1 ⊗ A2)ᵀ(A1 ⊗ A2), A1, A2 n×d coherent (first d rows ×30):
                 Kronecker: the factors' scores (two thin QRs), s pairs i ~ τ(A1)/d, j ~ τ(A2)/d and the sampled
                 Gram, A1 ⊗ A2 never formed (``kernels.kronecker``); formed: torch.kron(A1, A2) (n²×d²), its
                 leverage scores by thin QR, s rows drawn from them and the same sampled Gram. Both with
                 s = ⌈d² ln(d²)/ε²⌉; ε̂ of each sample is reported.
  least squares  min ‖(A1 ⊗ A2)x − vec_r(B)‖, B = A1 X A2ᵀ + noise (n×n): the direct solve through the two d×d
                 Grams (O(n²d), reads all of B), the sketched solve from s leverage-sampled rows (reads s entries
                 of B), and a dense least-squares solve of the formed product (gelsd); the sketch's relative excess
                 residual and the direct solve's agreement with the dense one.

Every implementation of a size is timed side by side on one thread: each repeat takes one sample of each in
turn (so a load change hits them alike), a sample is enough back-to-back calls to last ``--min-time``
seconds, and the table gives the median over the repeats. Memory is the peak RSS increase of one call in a
fresh process (VmHWM, Linux; tracemalloc does not see torch's allocations), measured after the inputs are built;
0 means below the high-water mark the process had already reached (importing torch, building the inputs).

    python benchmarks/kronecker.py                 # CPU defaults (a few minutes on 2 cores)
    python benchmarks/kronecker.py --quick         # tiny sizes, a smoke test
    python benchmarks/kronecker.py --formed-n-max 4096 --json kronecker.json
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

from kernels import kronecker as K  # noqa: E402
from kernels import sketch  # noqa: E402

ROOT = str(Path(__file__).resolve().parents[1])


def coherent(n, d, seed, coherence=30.0):
    """n×d with N(0, 1/n) entries, the first d rows ×coherence (data kind ``kronecker``)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=g, dtype=torch.float64) / math.sqrt(n)
    A[:d] *= coherence
    return A


def sample(fn, min_time):
    """Seconds per call: enough back-to-back calls to last ``min_time``."""
    t0 = time.perf_counter()
    fn()
    calls = max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def timed(impls, repeats, min_time):
    """Median seconds per call of each implementation, sampled in turn (after one warm-up call each)."""
    outs = {name: fn() for name, fn in impls.items()}
    times = {k: [] for k in impls}
    for _ in range(repeats):
        for name, fn in impls.items():
            times[name].append(sample(fn, min_time))
    return {k: statistics.median(v) for k, v in times.items()}, outs


# --------------------------------------------------------------------------- the implementations
def kron_sampler(A1, A2, s, seed=0):
    """Scores of the factors, s pairs, the sampled Gram: (sample, Gram)."""
    F = K.KroneckerFactor(A1, A2)
    S = F.sample(s, torch.Generator().manual_seed(seed))
    return S, K.sampled_gram(F, S)


def formed_sampler(A1, A2, s, seed=0):
    """torch.kron, its scores by thin QR, s rows drawn from them, the sampled Gram: (sample, Gram)."""
    A = torch.kron(A1, A2)
    tau = sketch.leverage_scores(A)
    idx = K.draw(tau / tau.sum(), s, torch.Generator().manual_seed(seed))
    rows, counts = torch.unique(idx, return_counts=True)
    w = counts.to(A.dtype) / (s * tau[rows] / tau.sum())
    R = A[rows]
    return sketch.RowSample(rows, w), R.T @ (w.unsqueeze(1) * R)


def sketched_ls(A1, A2, B, s, seed=0):
    F = K.KroneckerFactor(A1, A2)
    return K.sketched_solve(F, B, F.sample(s, torch.Generator().manual_seed(seed)))


def dense_ls(A1, A2, B):
    return torch.linalg.lstsq(torch.kron(A1, A2), B.reshape(-1, 1), driver="gelsd").solution.squeeze(1)


PEAK = """
import sys, math, torch
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
import kronecker as B
torch.set_num_threads(1)
d, s, kind = {d}, {s}, {kind!r}
def inputs(n):
    A1, A2 = B.coherent(n, d, 1), B.coherent(n, d, 2)
    X = torch.randn(d, d, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    M = A1 @ X @ A2.T + 0.1 / n * torch.randn(n, n, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    return A1, A2, M
def call(A1, A2, M):
    if kind == "kron": B.kron_sampler(A1, A2, s)
    elif kind == "formed": B.formed_sampler(A1, A2, s)
    elif kind == "ls_direct": B.K.direct_solve(A1, A2, M)
    elif kind == "ls_sketch": B.sketched_ls(A1, A2, M, s)
    elif kind == "ls_dense": B.dense_ls(A1, A2, M)
def hwm():  # this process's peak RSS in kB (VmHWM: unlike ru_maxrss, not inherited from the parent across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
call(*inputs(4 * d))  # warm-up at a tiny size: the libraries' first-use set-up is not the call's memory
if kind.startswith("ls"):
    A1, A2, M = inputs({n})
else:  # the sampler needs no target
    A1, A2, M = B.coherent({n}, d, 1), B.coherent({n}, d, 2), None
base = hwm()
call(A1, A2, M)
print((hwm() - base) / 1024)
"""


def peak_mib(n, d, s, kind):
    """Peak RSS increase (MiB) of one call of ``kind`` in a fresh single-threaded process."""
    code = PEAK.format(root=ROOT, bench=str(Path(__file__).resolve().parent), n=n, d=d, s=s, kind=kind)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[-1])


# --------------------------------------------------------------------------- sections
def sampling(args):
    rows = []
    for n in args.ns:
        A1, A2 = coherent(n, args.d, 1), coherent(n, args.d, 2)
        F = K.KroneckerFactor(A1, A2)
        impls = {"Kronecker": lambda: kron_sampler(A1, A2, args.s)}
        if n <= args.formed_n_max:
            impls["formed"] = lambda: formed_sampler(A1, A2, args.s)
        med, outs = timed(impls, args.repeats, args.min_time)
        eps = {k: K.spectral_error(F, v[0]) for k, v in outs.items()}
        mem = {k: peak_mib(n, args.d, args.s, "kron" if k == "Kronecker" else "formed") for k in impls} if args.memory else {}
        rows.append((n, med, eps, mem))
        print(f"sampling n={n}: " + ", ".join(f"{k} {med[k] * 1e3:.3g} ms (ε̂ {eps[k]:.3f}, +{mem.get(k, float('nan')):.0f} MiB)"
                                              for k in med), flush=True)
    return rows


def least_squares(args):
    rows = []
    for n in args.ls_ns:
        A1, A2 = coherent(n, args.d, 1), coherent(n, args.d, 2)
        X = torch.randn(args.d, args.d, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        M = A1 @ X @ A2.T + 0.1 / n * torch.randn(n, n, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        impls = {"direct": lambda: K.direct_solve(A1, A2, M), "sketched": lambda: sketched_ls(A1, A2, M, args.s)}
        if n <= args.formed_n_max:
            impls["dense (formed)"] = lambda: dense_ls(A1, A2, M)
        med, outs = timed(impls, args.repeats, args.min_time)
        x_star = outs["direct"]

        def res2(x):
            return float(((K.kron_matvec(A1, A2, x).reshape(n, n) - M) ** 2).sum())

        excess = (res2(outs["sketched"]) - res2(x_star)) / res2(x_star)
        agree = (float((outs["dense (formed)"] - x_star).norm() / x_star.norm()) if "dense (formed)" in outs
                 else float("nan"))
        kinds = {"direct": "ls_direct", "sketched": "ls_sketch", "dense (formed)": "ls_dense"}
        mem = {k: peak_mib(n, args.d, args.s, kinds[k]) for k in impls} if args.memory else {}
        rows.append((n, med, excess, agree, mem))
        print(f"least squares n={n}: " + ", ".join(f"{k} {med[k] * 1e3:.3g} ms (+{mem.get(k, float('nan')):.0f} MiB)"
                                                   for k in med) + f"; sketch excess {excess:.2e}, dense vs direct {agree:.1e}",
              flush=True)
    return rows


def fmt_ms(v):
    return f"{v * 1e3:.3g}" if isinstance(v, float) else "—"


def fmt_mib(v):
    return f"{v:.0f}" if isinstance(v, float) else "—"


def sampling_table(rows, args):
    head = (f"### Sampling: (1 ± ε) approximation of (A1 ⊗ A2)ᵀ(A1 ⊗ A2), d = {args.d}, s = {args.s} "
            f"(ε = {args.eps:g}), coherent factors\n\n"
            "| n | rows of A1 ⊗ A2 | Kronecker ms | formed ms | formed / Kronecker | Kronecker peak MiB | formed peak MiB "
            "| ε̂ Kronecker | ε̂ formed |\n|---|---|---|---|---|---|---|---|---|\n")
    body = ""
    for n, med, eps, mem in rows:
        kr, fo = med.get("Kronecker"), med.get("formed")
        ratio = f"{fo / kr:.3g}" if fo is not None else "—"
        body += (f"| {n} | {n * n:.3g} | {fmt_ms(kr)} | {fmt_ms(fo)} | {ratio} | {fmt_mib(mem.get('Kronecker'))} | "
                 f"{fmt_mib(mem.get('formed'))} | {eps['Kronecker']:.3f} | "
                 f"{eps['formed']:.3f} |\n" if "formed" in eps else
                 f"| {n} | {n * n:.3g} | {fmt_ms(kr)} | — | — | {fmt_mib(mem.get('Kronecker'))} | — | "
                 f"{eps['Kronecker']:.3f} | — |\n")
    return head + body


def ls_table(rows, args):
    head = (f"### Least squares min ‖(A1 ⊗ A2)x − vec_r(B)‖, d = {args.d}, sketch s = {args.s}\n\n"
            "| n | direct ms | sketched ms | dense (formed) ms | direct peak MiB | sketched peak MiB | dense peak MiB "
            "| sketch relative excess | dense vs direct |\n|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(f"| {n} | {fmt_ms(med['direct'])} | {fmt_ms(med['sketched'])} | {fmt_ms(med.get('dense (formed)'))} | "
                   f"{fmt_mib(mem.get('direct'))} | {fmt_mib(mem.get('sketched'))} | {fmt_mib(mem.get('dense (formed)'))} | "
                   f"{excess:.2e} | {agree:.1e} |\n" for n, med, excess, agree, mem in rows)
    return head + body


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--d", type=int, default=4)
    ap.add_argument("--eps", type=float, default=0.25, help="target ε: s = ⌈d² ln(d²)/ε²⌉")
    ap.add_argument("--ns", type=int, nargs="+", default=[100, 200, 400, 800, 1600, 3200, 12800, 51200, 204800, 819200])
    ap.add_argument("--ls-ns", type=int, nargs="+", default=[100, 200, 400, 800, 1600, 3200, 6400])
    ap.add_argument("--formed-n-max", type=int, default=3200, help="largest n at which A1 ⊗ A2 is formed")
    ap.add_argument("--sections", nargs="+", choices=["sampling", "least_squares"], default=["sampling", "least_squares"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-RSS subprocesses")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats (a smoke test)")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args(argv)
    if args.quick:
        args.ns, args.ls_ns, args.formed_n_max, args.repeats, args.min_time = [50, 100, 200], [50, 100], 200, 2, 0.01
    args.s = math.ceil(args.d * args.d * math.log(args.d * args.d) / args.eps ** 2)
    return args


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(1)
    name = platform.processor() or platform.machine()
    print(f"# {name}, torch {torch.__version__}, 1 thread, float64, d = {args.d}, s = {args.s}\n")
    out, record = [], {"device": name, "threads": 1, "d": args.d, "s": args.s, "eps": args.eps}
    if "sampling" in args.sections:
        rows = sampling(args)
        out.append(sampling_table(rows, args))
        record["sampling"] = rows
    if "least_squares" in args.sections:
        rows = least_squares(args)
        out.append(ls_table(rows, args))
        record["least_squares"] = rows
    print("\n" + "\n".join(out))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
