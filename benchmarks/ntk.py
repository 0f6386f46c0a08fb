"""Empirical NTK of the two-layer softmax network: closed form against per-sample Jacobians (docs/theory/e01.md §E01.2).

The NTK H(W) (nd×nd) of F(W, x, a)_l = √m⟨a_l, softmax(Wᵀx)⟩ at W ~ N(0, 1), three ways, side by side in one run:

  closed form   H[(i, l), (j, l')] = (x_i·x_j)Σ_r C_l[i, r]C_l'[j, r], C the Jacobian factors (``kernels.ntk.ntk``);
  torch.func    J Jᵀ with the per-sample Jacobians of all inputs at once, vmap(jacrev) (``kernels.ntk.ntk_autograd``);
  loop          J Jᵀ from one backward pass per (input, output) (``kernels.ntk.ntk_loop``), the naive baseline.

Each implementation of a size is timed in turn per repeat (so a load change hits them alike); a sample is enough
back-to-back calls to last ``--min-time`` seconds (on CUDA each call is synchronised), and the table gives the
median over the repeats with the largest entrywise difference to the closed form, relative to max|H|.

    python benchmarks/ntk.py                                 # CPU defaults (under a minute on one core)
    python benchmarks/ntk.py --quick                         # tiny sizes, a smoke test
    python benchmarks/ntk.py --device cuda --sizes 64x16384,256x65536 --json ntk.json
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels import ntk as K  # noqa: E402
from benchmarks.timer import seconds_per_call  # noqa: E402


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"16x256,32x1024"`` -> [(16, 256), (32, 1024)] (n inputs × m neurons)."""
    out = []
    for item in text.split(","):
        n, m = item.lower().split("x")
        out.append((int(n), int(m)))
    return out


def inputs(n: int, d: int, m: int, dtype, device, seed: int = 0):
    """Unit inputs X (n×d), W(0) ~ N(0, 1) (d×m), signs a (d×m)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype)
    X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    W = torch.randn(d, m, generator=g, dtype=dtype)
    a = torch.where(torch.rand(d, m, generator=g) < 0.5, -1.0, 1.0).to(dtype)
    return X.to(device), W.to(device), a.to(device)




def run(args) -> list[dict]:
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for n, m in parse_sizes(args.sizes):
        X, W, a = inputs(n, args.d, m, dtype, device)
        kappa = math.sqrt(m)
        impls = {"closed form": lambda: K.ntk(W, X, a, kappa), "torch.func": lambda: K.ntk_autograd(W, X, a, kappa)}
        if n * args.d <= args.loop_max_rows:
            impls["loop"] = lambda: K.ntk_loop(W, X, a, kappa)
        outs = {k: fn() for k, fn in impls.items()}  # warm-up, and the values compared
        ref = outs["closed form"]
        scale = float(ref.abs().max())
        times = {k: [] for k in impls}
        for _ in range(args.repeats):
            for k, fn in impls.items():
                times[k].append(seconds_per_call(fn, args.min_time, sync))
        med = {k: statistics.median(v) for k, v in times.items()}
        diff = {k: float((v - ref).abs().max()) / scale for k, v in outs.items() if k != "closed form"}
        rows.append({"n": n, "m": m, "d": args.d, "kernel_size": n * args.d, "seconds": med, "rel_diff": diff})
        print(f"n={n} m={m}: " + ", ".join(f"{k} {v * 1e3:.3g} ms" for k, v in med.items()), flush=True)
    return rows


def table(rows: list[dict], args) -> str:
    dev = args.device if args.device == "cpu" else f"{args.device} ({torch.cuda.get_device_name()})"
    head = (f"### Empirical NTK of the softmax network, d = {args.d}, {args.dtype}, {dev}, "
            f"{torch.get_num_threads()} thread(s), median of {args.repeats}\n\n"
            "| n | m | H size | closed form ms | torch.func ms | loop ms | torch.func / closed | loop / closed "
            "| max rel. diff torch.func | max rel. diff loop |\n|---|---|---|---|---|---|---|---|---|---|\n")
    body = ""
    for r in rows:
        s, dff = r["seconds"], r["rel_diff"]
        closed, loop = s["closed form"], s.get("loop")
        loop_ms = "—" if loop is None else f"{loop * 1e3:.3g}"
        loop_x = "—" if loop is None else f"{loop / closed:.0f}×"
        loop_diff = "—" if "loop" not in dff else f"{dff['loop']:.1e}"
        body += (f"| {r['n']} | {r['m']} | {r['kernel_size']}² | {closed * 1e3:.3g} | {s['torch.func'] * 1e3:.3g} | "
                 f"{loop_ms} | {s['torch.func'] / closed:.1f}× | {loop_x} | {dff['torch.func']:.1e} | {loop_diff} |\n")
    return head + body


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="16x256,32x1024,32x4096,64x4096", help="n×m pairs, comma separated")
    p.add_argument("--d", type=int, default=4, help="input and output dimension")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.05, help="seconds per timed sample")
    p.add_argument("--loop-max-rows", type=int, default=256, help="run the loop only up to n·d backward passes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    p.add_argument("--quick", action="store_true", help="tiny sizes and repeats (a smoke test)")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.min_time = "8x64,16x256", 3, 0.01
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    torch.set_num_threads(args.threads)
    rows = run(args)
    print()
    print(table(rows, args))
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "dtype": args.dtype, "d": args.d,
                                               "threads": torch.get_num_threads(), "torch": torch.__version__,
                                               "python": platform.python_version(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
