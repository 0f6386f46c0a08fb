"""Batched n-SPSA estimate against a loop of single-point losses and against the bare product A·P.

For each size (rows, d) one instance of the P2 loss with m = 1 (float64, dense A
of rows×d with N(0, 1/d) entries, b = softmax(A x_true) with ‖x_true‖ = 1,
w = √20 on every row, no centre) and for each n three ways of getting the 2n
losses at the points x ± ε z_j (Gaussian z_j, ε = 1e-5) are timed side by side:

  (a) batched: one ``kernels.spsa.spsa_gradient`` with
      ``kernels.finite_sum.column_losses`` (one product A·P, P = [x ± εZ] of d×2n,
      and a column-wise softmax);
  (b) loop: 2n calls of ``kernels.finite_sum.loss``, one per perturbed point,
      building the same estimate (checked against (a));
  (c) matmul: the plain product A @ P with P of shape d×2n, the reference rate.

Each repeat times (a), (b), (c) one after the other (each over enough inner
calls to last a few milliseconds), after a warm-up of all three; the table
gives the median over the repeats. The clock is wall time by default;
``--clock cpu`` takes the process's CPU time instead (user + system, summed
over its threads), which a machine shared with other jobs disturbs much less
when the process runs one thread. Rates are loss evaluations (columns) per
second; the speed-up is time (b) / time (a); the matmul share is time (c) /
time (a), i.e. the batched estimator's rate as a fraction of the bare
product's rate at the same shape.

    python benchmarks/spsa.py                 # the full grid, torch's default thread count
    python benchmarks/spsa.py --threads 2
    python benchmarks/spsa.py --quick         # a few sizes, fewer repeats
    python benchmarks/spsa.py --threads 1 --clock cpu

Results are printed as a Markdown table (docs/benchmarks.md quotes it).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kernels import finite_sum as FS  # noqa: E402
from kernels.spsa import perturbations, spsa_gradient  # noqa: E402

EPS = 1e-5
W2 = 20.0


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}"


def instance(rows: int, d: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(rows, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    x_true = torch.randn(d, generator=g, dtype=torch.float64)
    x_true /= torch.linalg.vector_norm(x_true)
    b = torch.softmax(A @ x_true, dim=0)
    w = torch.full((rows,), math.sqrt(W2), dtype=torch.float64)
    x = torch.randn(d, generator=g, dtype=torch.float64) / math.sqrt(d)
    return A, b, w, x


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def per_call(fn, budget_s: float, clock) -> tuple[int, float]:
    """Number of inner calls so that one sample lasts about budget_s (at least one call)."""
    t0 = clock()
    fn()
    one = clock() - t0
    return max(1, int(budget_s / max(one, 1e-7))), one


def sample(fn, inner: int, clock) -> float:
    t0 = clock()
    for _ in range(inner):
        fn()
    return (clock() - t0) / inner


def measure(rows: int, d: int, n: int, repeats: int, budget_s: float, clock=time.perf_counter) -> dict:
    A, b, w, x = instance(rows, d)
    A3, b2, w2 = A.unsqueeze(0), b.unsqueeze(0), w.unsqueeze(0)
    Z = perturbations(d, n, "gaussian", torch.Generator().manual_seed(1))
    P = torch.cat([x.unsqueeze(1) + EPS * Z, x.unsqueeze(1) - EPS * Z], dim=1).contiguous()
    losses = lambda X: FS.column_losses(A3, b2, w2, X)  # noqa: E731

    def batched():
        return spsa_gradient(losses, x, Z, EPS)[0]

    def loop():
        proj = torch.empty(n, dtype=x.dtype)
        for j in range(n):
            z = Z[:, j]
            proj[j] = (FS.loss(A3, b2, w2, x + EPS * z) - FS.loss(A3, b2, w2, x - EPS * z)) / (2 * EPS)
        return Z @ proj / n

    def matmul():
        return A @ P

    # the two estimates agree (up to the rounding of the difference quotient: ~1e-16·L/ε)
    ga, gb = batched(), loop()
    scale = float(torch.linalg.vector_norm(ga))
    agree = float(torch.linalg.vector_norm(ga - gb)) / max(scale, 1e-300)

    fns = {"batched": batched, "loop": loop, "matmul": matmul}
    inner = {}
    for k, fn in fns.items():  # warm-up and calibration
        fn()
        inner[k] = per_call(fn, budget_s, clock)[0]
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(sample(fn, inner[k], clock))
    t = {k: statistics.median(v) for k, v in times.items()}
    evals = 2 * n
    return {"rows": rows, "d": d, "n": n, "t_batched_s": t["batched"], "t_loop_s": t["loop"],
            "t_matmul_s": t["matmul"], "rate_batched": evals / t["batched"], "rate_loop": evals / t["loop"],
            "rate_matmul": evals / t["matmul"], "speedup": t["loop"] / t["batched"],
            "matmul_share": t["matmul"] / t["batched"], "agreement": agree}


def fmt_time(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def fmt_rate(r: float) -> str:
    return f"{r:.3g}"


HEAD = ["rows", "d", "n", "(a) batched", "(b) loop", "(c) A @ P", "(a) evals/s", "(b) evals/s",
        "(c) cols/s", "speed-up (b)/(a)", "matmul share (c)/(a)"]


def table(rows: list[dict], header: bool = True) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)] if header else []
    for r in rows:
        cells = [str(r["rows"]), str(r["d"]), str(r["n"]), fmt_time(r["t_batched_s"]), fmt_time(r["t_loop_s"]),
                 fmt_time(r["t_matmul_s"]), fmt_rate(r["rate_batched"]), fmt_rate(r["rate_loop"]),
                 fmt_rate(r["rate_matmul"]), f"{r['speedup']:.3g}×", f"{r['matmul_share']:.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="intra-op threads (default: torch's, %(default)s here)")
    ap.add_argument("--quick", action="store_true", help="n ∈ {1, 64}, d = 100, 3 repeats")
    ap.add_argument("--n", nargs="+", type=int, help="override the list of n")
    ap.add_argument("--d", nargs="+", type=int, help="override the list of d")
    ap.add_argument("--rows", nargs="+", type=int, help="override the list of rows")
    ap.add_argument("--repeats", type=int, help="repeats per measurement (default 7, 3 with --quick)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall time (default) or the process's CPU time (for a shared machine, with --threads 1)")
    ap.add_argument("--json", type=Path, help="also write the raw measurements here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ns = a.n or ([1, 64] if a.quick else [1, 16, 64, 256])
    ds = a.d or ([100] if a.quick else [100, 1000])
    rows_list = a.rows or [400, 10_000]
    repeats = a.repeats or (3 if a.quick else 7)
    budget = 0.01 if a.quick else 0.03

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {machine()}, "
          f"float64, m = 1, w² = {W2:g}, ε = {EPS:g}, {a.clock} clock, median of {repeats} repeats")
    print()
    print(table([], header=True))
    out = []
    for rows in rows_list:
        for d in ds:
            for n in ns:
                r = measure(rows, d, n, repeats, budget, CLOCKS[a.clock])
                if r["agreement"] > 1e-6:
                    print(f"rows={rows} d={d} n={n}: loop and batched estimates differ by {r['agreement']:.3g} "
                          "(relative)", file=sys.stderr)
                out.append(r)
                print(table([r], header=False), flush=True)
    at64 = [r for r in out if r["n"] == 64]
    if at64:
        print()
        print(f"n = 64: speed-up (b)/(a) {min(r['speedup'] for r in at64):.3g}× – "
              f"{max(r['speedup'] for r in at64):.3g}× (target ≥ 10×); matmul share "
              f"{min(r['matmul_share'] for r in at64):.0%} – {max(r['matmul_share'] for r in at64):.0%} "
              "(target ≥ 50%)")
    print(f"all n: matmul share {min(r['matmul_share'] for r in out):.0%} – "
          f"{max(r['matmul_share'] for r in out):.0%}")
    if a.json:
        meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": machine(),
                "clock": a.clock, "repeats": repeats}
        a.json.write_text(json.dumps({"meta": meta, "rows": out}, indent=1))


if __name__ == "__main__":
    main()
