"""Time to a relative loss gap of 1e-8 for P1 solvers on identical instances, side by side.

For each size (n, d, dense or sparse with a density) and regime a child process builds one
instance (docs/theory/p1.md §P1.6 generator: ‖A‖ = R, κ(A) = 10, 0.1% heavy rows ×30, planted b), computes
x* by exact Newton from 0 to ‖∇L‖ ≤ 1e-13·‖∇L(0)‖, and then runs every solver from the same x0
(‖x0‖ = 1) until (L(x) − L*)/(L(x0) − L*) ≤ 1e-8, recording solver time (the trace's clock:
iterate bookkeeping excluded; runs under --cheap seconds: the median of --repeat runs made
round-robin), iterations, and the process's peak resident memory.

Regimes (``data.regime`` of the generator): ``regulariser`` is docs/theory/' instance (PD rule
w² = C_w + l/σ_min(A)² ≈ 100, logits near 0 at x*: the loss is a quadratic to a few parts in 1e5
and exact Newton ends in one step); ``softmax`` spreads the planted logits over 6 units and sets
w² = 1/n², so that the softmax term carries the curvature at x*.

Besides the project's solvers, three variants run from :class:`FusedNewton` (this file): the same
Newton-type iteration with the Hessian exact or sampled by leverage scores, one fused evaluation per
iterate (u = Ax; then loss, ∇L, p = Aᵀf and s = Aᵀq from the one product Aᵀ[y, f, q]) and Armijo
backtracking on u (no extra product with A). Its sampling uses |D| in place of D, which is the paper's rule
wherever D > 0 and keeps it defined in the softmax regime, where D has negative entries away from
x* and the project's ``approx_newton`` stops at its first iteration.

    python benchmarks/p1_solvers.py                                   # the full grid (long)
    python benchmarks/p1_solvers.py --n 1e5 --d 20                    # one size, dense and sparse
    python benchmarks/p1_solvers.py --n 1e6 --d 100 --density dense --regime regulariser
    python benchmarks/p1_solvers.py --n 1e5 --d 100 --density dense --regime both

Results are printed as Markdown tables, one per regime (docs/benchmarks.md quotes them).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # first, so that `kernels` is the project's package, not benchmarks/kernels.py

REGIMES = ("regulariser", "softmax")

#: the project's solvers (pipeline.solvers.make_solver) and this file's FusedNewton ("name": "fused")
SOLVERS = {
    "approx_newton (sketched, ε0 = 0.25)": {"name": "approx_newton", "eps0": 0.25, "scores": "approximate"},
    "approx_newton (sketched once, ε0 = 0.25)": {"name": "approx_newton", "eps0": 0.25, "scores": "approximate",
                                                 "rescore": False},
    "approx_newton (sketched once, m = 16, ε0 = 0.25)": {"name": "approx_newton", "eps0": 0.25,
                                                         "scores": "approximate", "rescore": False, "jl_cols": 16},
    "approx, |D|, fused + Armijo (re-sketched, ε0 = 0.25)": {"name": "fused", "hessian": "resketch", "eps0": 0.25},
    "approx, |D|, fused + Armijo (sketched once, ε0 = 0.25)": {"name": "fused", "hessian": "once", "eps0": 0.25},
    "newton (exact Hessian)": {"name": "newton"},
    "newton, fused + Armijo (exact Hessian)": {"name": "fused", "hessian": "exact"},
    "scipy trust-exact": {"name": "scipy", "method": "trust-exact", "label": "trust_exact"},
    "scipy Newton-CG": {"name": "scipy", "method": "Newton-CG", "label": "newton_cg"},
    "scipy L-BFGS-B": {"name": "scipy", "method": "L-BFGS-B", "label": "lbfgsb"},
    "torch.optim.LBFGS": {"name": "torch_lbfgs"},
}
#: short column heads for the Markdown table
SHORT = {
    "approx_newton (sketched, ε0 = 0.25)": "approx, sketched",
    "approx_newton (sketched once, ε0 = 0.25)": "approx, sketched once",
    "approx_newton (sketched once, m = 16, ε0 = 0.25)": "approx, once, m = 16",
    "approx, |D|, fused + Armijo (re-sketched, ε0 = 0.25)": "approx \\|D\\| fused, re-sketched",
    "approx, |D|, fused + Armijo (sketched once, ε0 = 0.25)": "approx \\|D\\| fused, once",
    "newton (exact Hessian)": "newton",
    "newton, fused + Armijo (exact Hessian)": "newton, fused",
    "scipy trust-exact": "trust-exact",
    "scipy Newton-CG": "Newton-CG",
    "scipy L-BFGS-B": "L-BFGS-B",
    "torch.optim.LBFGS": "torch LBFGS",
}

PHASES = ("pass_Ax", "pass_ATY", "scores", "sample", "gram", "solve", "linesearch")


class FusedNewton:
    """Newton-type iteration on a P1 instance with the Hessian exact or sampled (docs/theory/p1.md §P1.5).

    ``hessian``:

    - ``exact``: H = Aᵀdiag(D)A + βppᵀ − spᵀ − psᵀ (all n rows, one n×d×d product);
    - ``resketch``: the paper's algorithm: at every iteration p_i ∝ τ_i(√|D|·A), s = ⌈d ln(d/δ)/ε0²⌉
      draws, H̃ from the sampled rows with weights D_i/(s p_i) plus the exact rank-2 part;
    - ``once``: τ(A) once, p_i ∝ |D_i|·τ_i(A) and s·max|D|/min|D| draws (the project's
      ``rescore=false`` rule); a sample of n draws or more is replaced by all n rows (exact).

    Leverage scores are sketched (CountSketch to 4d² rows, QR, m = ⌈8 ln(n/δ)⌉ Gaussian columns:
    kernels/sketch.py) when 4d² < n, and exact by a thin QR of √|D|·A otherwise (the sketch would
    have more rows than A). Each iterate costs two products with A: u = Ax, and Aᵀ[y, f, q] giving
    ∇L, p and s (torch's A.T @ Y by default; ``block_rows``: row blocks, each read once for the three
    columns); the Armijo backtracking works on u_t = u + t(u₁ − u) without further passes. The time
    of each phase is summed in ``trace.info`` (seconds), with the mean number of distinct rows the
    Hessian touched per iteration.
    """

    def __init__(self, label: str, hessian: str = "resketch", eps0: float = 0.25, delta: float = 0.01,
                 jl_cols: Optional[int] = None, seed: int = 0, c1: float = 1e-4, shrink: float = 0.5,
                 block_rows: Optional[int] = None):
        if hessian not in ("exact", "resketch", "once"):
            raise ValueError(f"hessian must be exact, resketch or once, got {hessian!r}")
        self.label, self.hessian, self.eps0, self.delta = label, hessian, eps0, delta
        self.jl_cols, self.seed, self.c1, self.shrink = jl_cols, seed, c1, shrink
        self.block_rows = block_rows

    def _rmatmat(self, A, Y):
        """AᵀY: kernels.matrix.rmatmat (torch's A.T @ Y), or, with ``block_rows`` and a dense A, the sum of
        (Y_blockᵀ A_block) over blocks of rows, so that each block of A is read once for all columns of Y."""
        import torch
        from kernels.matrix import is_sparse, rmatmat

        if self.block_rows is None or is_sparse(A):
            return rmatmat(A, Y)
        B = self.block_rows
        out = torch.zeros(Y.shape[1], A.shape[1], dtype=A.dtype, device=A.device)
        Yt = Y.T
        for i in range(0, A.shape[0], B):
            out.addmm_(Yt[:, i:i + B], A[i:i + B])
        return out.T

    def _evaluate(self, prob, u):
        """Loss, gradient and Hessian parts at the point whose logits are u (one product Aᵀ[y, f, q])."""
        import torch
        from kernels.softmax import HessianParts, softmax

        b, w = prob.b, prob.w
        f = softmax(u)
        c = f - b
        wu = w * u
        loss = 0.5 * float(c @ c) + 0.5 * float(wu @ wu)
        fc = f * c
        y = fc - fc.sum() * f + w * wu
        q = (2.0 * f - b) * f
        bdiag = q - (c @ f) * f
        G = self._rmatmat(prob.A, torch.stack([y, f, q], dim=1))
        parts = HessianParts(f=f, q=q, beta=(3.0 * f - 2.0 * b) @ f, B_diag=bdiag, D=bdiag + w * w,
                             p=G[:, 1].contiguous(), s=G[:, 2].contiguous())
        return loss, G[:, 0].contiguous(), parts

    @staticmethod
    def _loss_at(prob, u) -> float:
        from kernels.softmax import softmax

        c = softmax(u) - prob.b
        wu = prob.w * u
        return 0.5 * float(c @ c) + 0.5 * float(wu @ wu)

    def _scores(self, A, absD, rng):
        """τ(√|D|·A) (τ(A) for absD = None): sketched when 4d² < n, else exact by thin QR."""
        from pipeline.solvers.approx_newton import leverage

        n, d = A.shape
        kind = "approximate" if 4 * d * d < n else "exact"
        return leverage(A, absD, kind, rng, self.delta, self.jl_cols)

    def run(self, oracle, x0, stop, observe=None, x_star=None):
        import torch
        from kernels import sketch
        from kernels.matrix import matvec, scaled_gram
        from pipeline.solvers.approx_newton import sparsified_hessian
        from pipeline.solvers.base import DIVERGED, Recorder
        from pipeline.solvers.newton import newton_direction

        prob = oracle.problem
        A = prob.A
        n, d = A.shape
        s = sketch.sample_size(d, self.eps0, self.delta)
        rng = torch.Generator(device="cpu").manual_seed(self.seed)
        clock = dict.fromkeys(PHASES, 0.0)
        touched: list[int] = []
        backtracks = 0
        tau_A = None
        rec = Recorder(self.label, stop, observe, x_star)

        def timed(phase, fn, *args):
            t = time.perf_counter()
            out = fn(*args)
            clock[phase] += time.perf_counter() - t
            return out

        x = x0.clone()
        u = timed("pass_Ax", matvec, A, x)
        loss, g, parts = timed("pass_ATY", self._evaluate, prob, u)
        init = {f"init_{p}_s": clock[p] for p in ("pass_Ax", "pass_ATY")}  # before the first iteration
        k = 0
        while not rec.step(k, x, loss, g):
            D = parts.D
            if self.hessian == "exact":
                H = timed("gram", lambda: scaled_gram(A, D) + parts.beta * torch.outer(parts.p, parts.p)
                          - torch.outer(parts.s, parts.p) - torch.outer(parts.p, parts.s))
                touched.append(n)
            else:
                absD = D.abs()
                if self.hessian == "resketch":
                    tau = timed("scores", self._scores, A, absD, rng)
                    size = s
                else:
                    if tau_A is None:
                        tau_A = timed("scores", self._scores, A, None, rng)
                    tau = absD * tau_A
                    ratio = float(absD.max() / absD.min()) if float(absD.min()) > 0 else math.inf
                    size = math.ceil(s * ratio) if math.isfinite(ratio) and s * ratio < n else None
                if size is None:
                    H = timed("gram", lambda: scaled_gram(A, D) + parts.beta * torch.outer(parts.p, parts.p)
                              - torch.outer(parts.s, parts.p) - torch.outer(parts.p, parts.s))
                    touched.append(n)
                else:
                    sample = timed("sample", sketch.sampled_diagonal, D, tau / tau.sum(), size, rng)
                    H = timed("gram", sparsified_hessian, A, parts, sample)
                    touched.append(int(sample.rows.numel()))
            direction = timed("solve", newton_direction, H, g)
            slope = float(g @ direction)
            if not slope < 0:
                return rec.fail(x, DIVERGED, f"not a descent direction at iteration {k}")
            u1 = timed("pass_Ax", matvec, A, x + direction)
            t_ls = time.perf_counter()
            tiny = 64.0 * torch.finfo(x.dtype).eps * max(1.0, abs(loss))
            t, u_t, accepted = 1.0, u1, False
            for _ in range(61):
                f_t = self._loss_at(prob, u_t)
                if f_t <= loss + self.c1 * t * slope or (t == 1.0 and -slope <= tiny and f_t <= loss + tiny):
                    accepted = True
                    break
                t *= self.shrink
                backtracks += 1
                u_t = u + t * (u1 - u)
            clock["linesearch"] += time.perf_counter() - t_ls
            if not accepted:
                return rec.fail(x, DIVERGED, f"Armijo line search failed at iteration {k}")
            x = x + t * direction
            u = u_t
            loss, g, parts = timed("pass_ATY", self._evaluate, prob, u)
            if not math.isfinite(loss):
                return rec.fail(x, DIVERGED, f"non-finite loss after iteration {k}")
            k += 1
        info = {f"{p}_s": v for p, v in clock.items()}
        info.update(init)
        info.update(rows_touched_mean=(sum(touched) / len(touched)) if touched else 0.0, backtracks=backtracks,
                    sample_size=s)
        rec.trace.info.update(info)
        return rec.trace


def make(label: str, params: dict):
    """The solver that ``params`` names: this file's FusedNewton or one of pipeline.solvers."""
    from pipeline.solvers import make_solver

    params = dict(params)
    if params.get("name") == "fused":
        params.pop("name")
        return FusedNewton(label=label, **params)
    return make_solver(params)


def build(n: int, d: int, density: Optional[float], regime: str, seed: int = 0):
    """One P1 instance (docs/theory/p1.md §P1.6 generator, κ(A) = 10, 0.1% heavy rows ×30) in the given regime."""
    from omegaconf import OmegaConf

    from pipeline.data import SyntheticData
    from pipeline.data.synthetic import synthesize_p1
    from pipeline.problems import SoftmaxRegression

    cfg = SyntheticData(n=n, d=d, kappa=10.0, R=1.0, density=density, heavy_fraction=0.001, heavy_scale=30.0,
                        regime=regime)
    return SoftmaxRegression.from_arrays(synthesize_p1(OmegaConf.structured(cfg), seed=seed))


def reference(prob):
    """x* by exact Newton from 0 to ‖∇L‖ ≤ 1e-13·‖∇L(0)‖; returns (x*, L*).

    Relative: in the softmax regime ‖∇L(0)‖ is about 2e-9 at n = 1e5, and an absolute 1e-12 would stop
    three decades in."""
    import torch

    from pipeline.problems import CountingOracle
    from pipeline.solvers import StopRule, make_solver

    z = torch.zeros(prob.dim, dtype=torch.float64)
    gtol = 1e-13 * float(torch.linalg.vector_norm(prob.grad(z)))
    ref = make_solver({"name": "newton"}).run(CountingOracle(prob), z, StopRule(eps=None, gtol=gtol, max_iter=100))
    return ref.x, float(prob.loss(ref.x))


def start_point(d: int):
    """x0: a unit vector, the same for every solver (seed 1)."""
    import torch

    g = torch.Generator().manual_seed(1)
    v = torch.randn(d, generator=g, dtype=torch.float64)
    return v / torch.linalg.vector_norm(v)


def warm_up(solvers: dict, d: int, density: Optional[float], regime: str, x0) -> None:
    """First use of each solver (lazy imports, e.g. torch.optim's) on a small copy, not timed."""
    from pipeline.problems import CountingOracle
    from pipeline.solvers import StopRule

    warm = build(200, d, density and 0.5, regime, seed=1) if d <= 200 else build(2 * d, d, density and 0.5, regime, 1)
    for label, params in solvers.items():
        make(label, params).run(CountingOracle(warm), x0.clone(), StopRule(eps=None, max_iter=3))


def run_solver(prob, label: str, params: dict, x0, x_star, f_star: float, budget_s: float) -> dict:
    """One solve from x0 to the relative gap 1e-8 (or max_iter 2000 / budget_s seconds)."""
    from pipeline.problems import CountingOracle
    from pipeline.solvers import StopRule

    stop = StopRule(eps=1e-8, f_star=f_star, max_iter=2000, max_time_s=budget_s)
    tr = make(label, params).run(CountingOracle(prob), x0.clone(), stop, x_star=x_star)
    gap = tr.relative_gap()
    reached = tr.iterations_to_eps([1e-8])["1e-08"] is not None
    return {"time_s": tr.last.time_s, "iterations": tr.iterations, "reached": reached,
            "final_gap": float(gap[-1]), "status": tr.status, "message": tr.message,
            "info": {k: float(v) for k, v in tr.info.items()}}


def one(n: int, d: int, density: float | None, threads: int, regime: str = "regulariser",
        budget_s: float = 600.0, repeat: int = 3, cheap_s: float = 5.0) -> dict:
    """Build the instance and run every solver in this process; returns the measurements."""
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    prob = build(n, d, density, regime)
    x_star, f_star = reference(prob)
    H = prob.hess(x_star)
    ev = torch.linalg.eigvalsh(H)
    setup_s = time.perf_counter() - t0
    x0 = start_point(d)
    warm_up(SOLVERS, d, density, regime, x0)
    out = {"n": n, "d": d, "density": density, "regime": regime,
           "nnz": int(prob.A._nnz()) if density else n * d, "kappa_H": float(ev[-1] / ev[0]),
           "min_D_x0": float(prob.hessian_parts(x0).D.min()), "setup_s": setup_s, "threads": threads,
           "solvers": {}}
    runs = {label: [run_solver(prob, label, params, x0, x_star, f_star, budget_s)]
            for label, params in SOLVERS.items()}
    for _ in range(repeat - 1):  # repeats of the cheap runs, round-robin so that the machine's load hits all alike
        for label, rs in runs.items():
            if rs[0]["reached"] and rs[0]["time_s"] < cheap_s:
                rs.append(run_solver(prob, label, SOLVERS[label], x0, x_star, f_star, budget_s))
    for label, rs in runs.items():
        times = [r["time_s"] for r in rs]
        out["solvers"][label] = dict(rs[sorted(range(len(rs)), key=lambda i: times[i])[len(rs) // 2]], times_s=times)
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def _cell(m: dict) -> str:
    if m.get("skipped"):
        return m["skipped"]
    if not m["reached"] and m["iterations"] == 0:
        return "✗ (stops at it 0)"
    return f"{m['time_s']:.3g} s ({m['iterations']} it)" + ("" if m["reached"] else " ✗")


def table(rows: list[dict]) -> str:
    """Markdown table of the rows (one per instance)."""
    head = ["n", "d", "A", "regime", "κ(∇²L*)", "peak RSS"] + [SHORT[k] for k in SOLVERS] + \
        ["best baseline / best approx"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r["solvers"]
        cells = [f"{r['n']:.0e}", str(r["d"]), "dense" if r["density"] is None else f"sparse {r['density']:g}",
                 r.get("regime", "regulariser"), f"{r['kappa_H']:.3g}", f"{r['peak_rss_gib']:.2f} GiB"]
        cells += [_cell(s[label]) for label in SOLVERS]
        ok = lambda k: s[k].get("reached") and not s[k].get("skipped")  # noqa: E731
        approx = [s[k]["time_s"] for k in SOLVERS if k.startswith("approx") and ok(k)]
        base = [s[k]["time_s"] for k in SOLVERS if not k.startswith("approx") and ok(k)]
        cells.append(f"{min(base) / min(approx):.2f}×" if base and approx else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", nargs="+", type=float, default=[1e4, 1e5, 1e6])
    ap.add_argument("--d", nargs="+", type=int, default=[20, 100])
    ap.add_argument("--density", nargs="+", default=["dense", "0.001", "0.01", "0.1"])
    ap.add_argument("--regime", choices=("regulariser", "softmax", "both"), default="both",
                    help="instance regime (pipeline/data/regime.py); both: one table per regime")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds per solver run (stop rule max_time_s)")
    ap.add_argument("--repeat", type=int, default=3, help="runs shorter than --cheap seconds: median of this many")
    ap.add_argument("--cheap", type=float, default=5.0)
    ap.add_argument("--json", type=Path, help="also write the raw measurements here")
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        n, d, dens, regime = a.one
        print(json.dumps(one(int(float(n)), int(d), None if dens == "dense" else float(dens), a.threads, regime,
                             a.budget, a.repeat, a.cheap)))
        return
    regimes = REGIMES if a.regime == "both" else (a.regime,)
    rows = []
    for regime in regimes:
        for n in a.n:
            for d in a.d:
                for dens in a.density:
                    cmd = [sys.executable, __file__, "--one", str(int(n)), str(d), dens, regime,
                           "--threads", str(a.threads), "--budget", str(a.budget), "--repeat", str(a.repeat),
                           "--cheap", str(a.cheap)]
                    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                    if r.returncode != 0:
                        print(f"n={int(n)} d={d} {dens} {regime}: failed\n{r.stderr[-2000:]}", file=sys.stderr)
                        continue
                    rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
    for regime in regimes:
        sel = [r for r in rows if r["regime"] == regime]
        if sel:
            print(f"\nregime: {regime}\n")
            print(table(sel))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
