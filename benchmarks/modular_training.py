"""Training throughput of the E05 network on k-input modular addition (docs/theory/e05.md §E05.5, §E05.8).

One full-batch training step = the loss and gradient over all p^k inputs (mean cross-entropy plus the
regulariser (λ/(k+1))‖θ‖_{2,k+1}^{k+1}) and one Adam update, at a few (p, k, m). Side by side:

  vectorised      kernels/modular.py's closed-form gradient (broadcast hidden layer, matrix products), the
                  problem's oracle (float64, and float32)
  autograd        the same loss written with torch operations, gradient by autograd (float64)
  per-neuron      the network as a Python loop over the m neurons (``network_loop``), gradient by autograd
                  (float64): the naive reference

Every implementation of a size is timed in turn in each repeat (so a load change hits them alike); a sample
is enough back-to-back steps to last ``--min-time`` seconds; the table gives the median over the repeats of
steps per second and of inputs·steps per second (p^k per step). ``--device cuda`` times on the GPU
(synchronised), where the per-neuron loop is left out above ``--loop-m-max`` neurons.

    python benchmarks/modular_training.py                    # CPU defaults (under a minute, one thread)
    python benchmarks/modular_training.py --quick            # tiny sizes, a smoke test
    python benchmarks/modular_training.py --device cuda --sizes 11,3,160 31,3,480 13,4,2304 --json e05.json
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels import modular as K  # noqa: E402
from benchmarks.timer import seconds_per_call  # noqa: E402

LAM = 1e-4
LR = 0.03


def parse_size(text: str) -> tuple[int, int, int]:
    p, k, m = (int(v) for v in text.split(","))
    if not K.is_odd_prime(p):
        raise SystemExit(f"--sizes: p must be an odd prime, got {p}")
    return p, k, m


def start(p, k, m, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (0.1 * torch.randn(m, k + 1, p, generator=g, dtype=torch.float64)).to(device=device, dtype=dtype)


def closed_form_step(theta, opt):
    """One Adam step with the kernel's closed-form gradient."""
    _, g = K.loss_and_gradient(theta.data, LAM)
    theta.grad = g
    opt.step()


def autograd_step(theta, opt, a):
    opt.zero_grad(set_to_none=True)
    K.loss(theta, LAM, "margin_norm", a=a).backward()
    opt.step()


def loop_step(theta, opt, a, y):
    opt.zero_grad(set_to_none=True)
    f = K.network_loop(theta, a)
    loss = torch.nn.functional.cross_entropy(f, y) + K.regulariser(theta, LAM)[0]
    loss.backward()
    opt.step()


def implementations(p, k, m, device, loop_m_max):
    """name -> a step function (each with its own parameters and Adam state)."""
    a = K.inputs(p, k, device=device)
    y = K.labels(a, p)
    out = {}

    def make(name, dtype, kind):
        theta = torch.nn.Parameter(start(p, k, m, dtype, device))
        opt = torch.optim.Adam([theta], lr=LR)
        if kind == "closed":
            out[name] = lambda: closed_form_step(theta, opt)
        elif kind == "autograd":
            out[name] = lambda: autograd_step(theta, opt, a)
        else:
            out[name] = lambda: loop_step(theta, opt, a, y)

    make("vectorised f64", torch.float64, "closed")
    make("vectorised f32", torch.float32, "closed")
    make("autograd f64", torch.float64, "autograd")
    if m <= loop_m_max:
        make("per-neuron loop f64", torch.float64, "loop")
    return out




def run(args):
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    rows = []
    for p, k, m in args.sizes:
        impls = implementations(p, k, m, device, args.loop_m_max)
        for fn in impls.values():  # warm-up
            fn()
        sync()
        times = {name: [] for name in impls}
        for _ in range(args.repeats):
            for name, fn in impls.items():
                times[name].append(seconds_per_call(fn, args.min_time, sync))
        med = {name: statistics.median(v) for name, v in times.items()}
        rows.append({"p": p, "k": k, "m": m, "inputs": p ** k, "optimal_width": K.optimal_width(p, k),
                     "seconds_per_step": med, "steps_per_s": {n: 1.0 / t for n, t in med.items()},
                     "inputs_steps_per_s": {n: p ** k / t for n, t in med.items()}})
        print(f"p={p} k={k} m={m}: " + ", ".join(f"{n} {1 / t:.3g} steps/s" for n, t in med.items()), flush=True)
    return rows


def table(rows, args) -> str:
    names = []
    for r in rows:
        names += [n for n in r["steps_per_s"] if n not in names]
    head = (f"### E05 training step (full batch: loss, gradient over all p^k inputs, Adam update), device "
            f"{args.device}, {args.threads} thread(s), median of {args.repeats}\n\n"
            "| p | k | m | inputs p^k | " + " | ".join(f"{n} steps/s" for n in names) +
            " | vectorised f64 inputs·steps/s | per-neuron / vectorised f64 time |\n"
            "|---|---|---|---|" + "---|" * (len(names) + 2) + "\n")
    body = ""
    for r in rows:
        s = r["steps_per_s"]
        cells = [f"{s[n]:.3g}" if n in s else "—" for n in names]
        ratio = (f"{s['vectorised f64'] / s['per-neuron loop f64']:.3g}×" if "per-neuron loop f64" in s else "—")
        body += (f"| {r['p']} | {r['k']} | {r['m']} | {r['inputs']} | " + " | ".join(cells) +
                 f" | {r['inputs_steps_per_s']['vectorised f64']:.3g} | {ratio} |\n")
    return head + body


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", type=parse_size, default=None,
                    help="p,k,m triples (default: 7,3,96 11,3,160 5,4,256 13,3,192)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--loop-m-max", type=int, default=400, help="largest m timed with the per-neuron loop")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and budget (a smoke test)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.sizes is None:
        args.sizes = [(5, 2, 16), (7, 3, 96)] if args.quick else [(7, 3, 96), (11, 3, 160), (5, 4, 256), (13, 3, 192)]
    if args.quick:
        args.repeats, args.min_time = 2, 0.05
    rows = run(args)
    md = table(rows, args)
    print("\n" + md)
    if args.json:
        meta = {"device": args.device, "threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
                "machine": platform.machine(), "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
