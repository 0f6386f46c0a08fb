"""Time to a relative loss gap of 1e-8 for P1 solvers on identical instances, side by side.

For each size (n, d, dense or sparse with a density) a child process builds one
instance (theory P1.6 generator: ‖A‖ = R, κ(A) = 10 so that κ(∇²L(x*)) ≈ 100 under
the PD rule, 0.1% heavy rows ×30, planted b), computes x* by exact Newton to
‖∇L‖ ≤ 1e-12, and then runs every solver from the same x0 (‖x0‖ = 1) until
(L(x) − L*)/(L(x0) − L*) ≤ 1e-8, recording solver time (the trace's clock:
iterate bookkeeping excluded), iterations, and the process's peak resident memory.

    python benchmarks/p1_solvers.py                      # the full grid (long)
    python benchmarks/p1_solvers.py --n 1e5 --d 20       # one size, dense and sparse
    python benchmarks/p1_solvers.py --n 1e6 --d 100 --density dense

Results are printed as a Markdown table (docs/benchmarks.md quotes it).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLVERS = {
    "approx_newton (sketched, ε0 = 0.25)": {"name": "approx_newton", "eps0": 0.25, "scores": "approximate"},
    "approx_newton (sketched once, ε0 = 0.25)": {"name": "approx_newton", "eps0": 0.25, "scores": "approximate",
                                                 "rescore": False},
    "approx_newton (sketched once, m = 16, ε0 = 0.25)": {"name": "approx_newton", "eps0": 0.25,
                                                         "scores": "approximate", "rescore": False, "jl_cols": 16},
    "newton (exact Hessian)": {"name": "newton"},
    "scipy trust-exact": {"name": "scipy", "method": "trust-exact", "label": "trust_exact"},
    "scipy Newton-CG": {"name": "scipy", "method": "Newton-CG", "label": "newton_cg"},
    "scipy L-BFGS-B": {"name": "scipy", "method": "L-BFGS-B", "label": "lbfgsb"},
    "torch.optim.LBFGS": {"name": "torch_lbfgs"},
}


def one(n: int, d: int, density: float | None, threads: int) -> dict:
    """Build the instance and run every solver in this process; returns the measurements."""
    import torch
    from omegaconf import OmegaConf

    sys.path.insert(0, str(ROOT))
    from pipeline.data.synthetic import synthesize_p1
    from pipeline.problems import CountingOracle, SoftmaxRegression
    from pipeline.data import SyntheticData
    from pipeline.solvers import StopRule, make_solver

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    cfg = SyntheticData(n=n, d=d, kappa=10.0, R=1.0, density=density, heavy_fraction=0.001, heavy_scale=30.0)
    prob = SoftmaxRegression.from_arrays(synthesize_p1(OmegaConf.structured(cfg), seed=0))
    ref = make_solver({"name": "newton"}).run(CountingOracle(prob), torch.zeros(d, dtype=torch.float64),
                                              StopRule(eps=None, gtol=1e-12, max_iter=100))
    f_star = float(prob.loss(ref.x))
    H = prob.hess(ref.x)
    ev = torch.linalg.eigvalsh(H)
    setup_s = time.perf_counter() - t0
    g = torch.Generator().manual_seed(1)
    v = torch.randn(d, generator=g, dtype=torch.float64)
    x0 = v / torch.linalg.vector_norm(v)
    # first use of each solver (lazy imports, e.g. torch.optim's) is paid on a small copy, not timed
    warm = SoftmaxRegression.from_arrays(synthesize_p1(OmegaConf.structured(
        SyntheticData(n=200, d=d, kappa=10.0, R=1.0, density=density and 0.5)), seed=1))
    for params in SOLVERS.values():
        make_solver(dict(params)).run(CountingOracle(warm), x0.clone(), StopRule(eps=None, max_iter=3))
    out = {"n": n, "d": d, "density": density, "nnz": int(prob.A._nnz()) if density else n * d,
           "kappa_H": float(ev[-1] / ev[0]), "setup_s": setup_s, "threads": threads, "solvers": {}}
    for label, params in SOLVERS.items():
        stop = StopRule(eps=1e-8, f_star=f_star, max_iter=2000, max_time_s=600.0)
        tr = make_solver(dict(params)).run(CountingOracle(prob), x0.clone(), stop, x_star=ref.x)
        gap = tr.relative_gap()
        reached = tr.iterations_to_eps([1e-8])["1e-08"] is not None
        out["solvers"][label] = {"time_s": tr.last.time_s, "iterations": tr.iterations, "reached": reached,
                                 "final_gap": float(gap[-1]), "status": tr.status}
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def table(rows: list[dict]) -> str:
    head = ["n", "d", "A", "κ(∇²L*)", "peak RSS"] + list(SOLVERS) + ["best baseline / approx"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r["solvers"]
        cells = [f"{r['n']:.0e}", str(r["d"]), "dense" if r["density"] is None else f"sparse {r['density']:g}",
                 f"{r['kappa_H']:.3g}", f"{r['peak_rss_gib']:.2f} GiB"]
        for label in SOLVERS:
            m = s[label]
            cells.append(f"{m['time_s']:.3g} s ({m['iterations']} it)" + ("" if m["reached"] else " ✗"))
        approx = min(s[k]["time_s"] for k in SOLVERS if k.startswith("approx") and s[k]["reached"]) \
            if any(s[k]["reached"] for k in SOLVERS if k.startswith("approx")) else float("nan")
        base = [s[k]["time_s"] for k in SOLVERS if not k.startswith("approx") and s[k]["reached"]]
        cells.append(f"{min(base) / approx:.2f}×" if base and approx == approx else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", nargs="+", type=float, default=[1e4, 1e5, 1e6])
    ap.add_argument("--d", nargs="+", type=int, default=[20, 100])
    ap.add_argument("--density", nargs="+", default=["dense", "0.001", "0.01", "0.1"])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path, help="also write the raw measurements here")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        n, d, dens = a.one
        print(json.dumps(one(int(float(n)), int(d), None if dens == "dense" else float(dens), a.threads)))
        return
    rows = []
    for n in a.n:
        for d in a.d:
            for dens in a.density:
                cmd = [sys.executable, __file__, "--one", str(int(n)), str(d), dens, "--threads", str(a.threads)]
                r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                if r.returncode != 0:
                    print(f"n={int(n)} d={d} {dens}: failed\n{r.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
