"""Approximate Gauss–Newton against exact Newton and L-BFGS on E09 and E02: time to tolerance, side by side.

For each problem and size, the lab's own config and job preparation (``pipeline.cli.compose`` and
``pipeline.job.prepare``) build one instance, its reference optimum x* (exact Newton, cached) and a start x0
at distance r0 from x* (``x0=near_reference``: the claims are local). Every solver then runs from that same x0
until the relative loss gap (L − L*)/(L0 − L*) is ≤ 1e-10 (or 500 iterations), round-robin over the repeats,
and the table gives the median solver time (the trace's clock), the iterations and how the run ended.

Solvers, all through the problem's oracle:

- ``newton``: the exact Hessian ∇²L (the problem's ``hess``) with Armijo backtracking;
- ``gauss_newton``: all rows of the Gauss–Newton factor M, curvature dropped, unit step;
- ``approx_gauss_newton`` (s = 8d, 16d): s leverage-sampled rows of M, curvature exact, unit step, no ε̂₀
  measurement (``measure_eps=false``, so that nothing outside the method is timed);
- ``torch_lbfgs`` and ``scipy L-BFGS-B``: first order with curvature pairs.

    python benchmarks/second_order.py            # the default sizes (a few minutes on 2 cores)
    python benchmarks/second_order.py --quick    # small sizes, a smoke test
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cli import compose  # noqa: E402
from pipeline.job.prepare import prepare  # noqa: E402
from pipeline.problems import CountingOracle  # noqa: E402
from pipeline.solvers import StopRule, make_solver  # noqa: E402

SOLVERS = {
    "newton": {"name": "newton"},
    "gauss_newton": {"name": "approx_gauss_newton", "scores": "full", "curvature": "drop", "measure_eps": False},
    "approx GN, s = 8d": {"name": "approx_gauss_newton", "sample_factor": 8.0, "measure_eps": False},
    "approx GN, s = 16d": {"name": "approx_gauss_newton", "sample_factor": 16.0, "measure_eps": False},
    "torch L-BFGS": {"name": "torch_lbfgs"},
    "scipy L-BFGS-B": {"name": "scipy", "method": "L-BFGS-B", "label": "lbfgsb"},
}

#: (label, overrides) per problem; the sizes grow along the list
CASES = {
    "E09": [
        (f"n = {n}, d = {d}, m = {m}", ["problem=two_layer_regression", "data=two_layer", f"data.n={n}", f"data.d={d}",
                                        f"data.m={m}", "x0=near_reference", "x0_radius=0.12"])
        for n, d, m in ((256, 16, 512), (1024, 32, 2048), (2048, 64, 4096))
    ],
    "E02": [
        (f"n = {n}, d = {d}", ["problem=leverage_inversion", "data=leverage_target", f"data.n={n}", f"data.d={d}",
                               "x0=near_reference", "x0_radius=0.03"])
        for n, d in ((400, 8), (2000, 16), (8000, 32))
    ],
}
QUICK = {"E09": [CASES["E09"][0]], "E02": [CASES["E02"][0]]}


def instance(overrides: list[str], cache: Path):
    """The prepared job of ``overrides``: problem, x0, x*, L*."""
    cfg = compose(overrides + ["tracking=off", "seed=0", f"results_dir={cache}/results"])
    return prepare(cfg, cache / "instances")


def run_once(job, params: dict, eps: float, max_iter: int):
    seed = {"seed": 0} if params["name"] == "approx_gauss_newton" else {}
    solver = make_solver({**params, **seed})
    trace = solver.run(CountingOracle(job.problem), job.x0.clone(), StopRule(eps=eps, gtol=0.0, max_iter=max_iter,
                                                                          f_star=job.f_star), x_star=job.x_star)
    return trace.last.time_s, trace.iterations, trace.status


def bench(paper: str, label: str, overrides: list[str], repeats: int, cache: Path) -> list[dict]:
    job = instance(overrides, cache)
    times: dict[str, list[float]] = {name: [] for name in SOLVERS}
    result: dict[str, tuple[int, str]] = {}
    for _ in range(repeats):
        for name, params in SOLVERS.items():
            t, iters, status = run_once(job, params, 1e-10, 500)
            times[name].append(t)
            result[name] = (iters, status)
    return [{"paper": paper, "size": label, "solver": name, "time_s": statistics.median(ts),
             "iterations": result[name][0], "status": result[name][1]} for name, ts in times.items()]


def table(rows: list[dict]) -> str:
    out = ["| problem | size | solver | time to 1e-10 (s) | iterations | ended |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['paper']} | {r['size']} | {r['solver']} | {r['time_s']:.4f} | {r['iterations']} | "
                   f"{r['status']} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the smallest size of each problem only")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cases = QUICK if args.quick else CASES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for paper, sizes in cases.items():
            for label, overrides in sizes:
                rows += bench(paper, label, overrides, args.repeats, Path(tmp))
                print(table(rows[-len(SOLVERS):]), flush=True)
    print()
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats}")
    print(table(rows))


if __name__ == "__main__":
    main()
