"""The reference optimum x* of an instance and its measured constants, cached with the instance.

``build_instance(cfg, cache_dir)`` returns the same :class:`Instance` for the same data config,
seed and reference settings, wherever and however often it is called: the first call makes the
arrays (:mod:`pipeline.data`), runs exact Newton to x* and measures the constants there, and stores
all of it in the content-addressed cache under :func:`instance_key`; every solver of a sweep then
sees the identical instance. Called by the stage layer (the job's prepare step, ``synthesize``) and
by the claims that need an instance's optimum.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from pipeline.data import FILE_KINDS, cache, matrix, raw_arrays
from pipeline.problems import PROBLEMS, CountingOracle
from pipeline.reference.regime import measure_regime
from pipeline.solvers import Newton, StopRule
from pipeline.solvers.base import DIVERGED

CACHE_VERSION = "p1-instance-v2"  # v2: the regime constants (pipeline/reference/regime.py)


@dataclass
class Instance:
    arrays: dict[str, np.ndarray]
    x_star: np.ndarray
    f_star: float
    constants: dict[str, float] = field(default_factory=dict)
    key: str = ""


def instance_key(cfg: DictConfig) -> str:
    """Hash of what determines the instance: problem, data, seed (synthetic) or file bytes, reference."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    data.pop("cache", None)
    payload = {"v": CACHE_VERSION, "problem": cfg.problem.name, "data": data,
               "reference": OmegaConf.to_container(cfg.reference, resolve=True)}
    if data["kind"] in FILE_KINDS:
        payload["file_sha256"] = hashlib.sha256(Path(data["path"]).read_bytes()).hexdigest()
        payload["data"].pop("path")
    else:
        payload["seed"] = int(cfg.seed)
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def measure_constants(problem, x_star: torch.Tensor, arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """ℓ, μ, κ, effective rank of ∇²L(x*), and the spectrum of A (or the problem's own constants)."""
    if hasattr(problem, "instance_constants"):
        return problem.instance_constants(x_star)
    if "A" not in arrays:
        return dict(problem.stats(x_star))
    sv = matrix.singular_values(arrays["A"])
    out = dict(problem.stats(x_star))
    out.update(n=float(arrays["A"].shape[0]), d=float(arrays["A"].shape[1]), A_norm=float(sv[0]),
               nnz=float(matrix.nnz(arrays["A"])),
               A_sigma_min=float(sv[-1]), A_kappa=float(sv[0] / sv[-1]) if sv[-1] > 0 else float("inf"),
               w2_min=float(np.min(arrays["w"] ** 2)), b_l1=float(np.abs(arrays["b"]).sum()))
    return out


def _newton_from(problem, starts: list[torch.Tensor], stop: StopRule, solve: str, gtol: float):
    """The best of the Newton runs from ``starts``: reached gtol first, then lowest loss; (trace, index)."""
    best = None
    for i, x0 in enumerate(starts):
        trace = Newton(label="reference", solve=solve).run(CountingOracle(problem), x0, stop)
        ok = trace.status != DIVERGED and trace.last.grad_norm <= 10 * gtol
        key = (not ok, float(problem.loss(trace.x)))
        if best is None or key < best[0]:
            best = (key, trace, i)
    return best[1], best[2]


def compute_reference(cfg: DictConfig, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, float, dict]:
    """x* by exact Newton with backtracking until ‖∇L‖ ≤ reference.gtol (docs/theory/README.md, defaults of the checks), in float64, and
    the constants measured there (spectrum, and the regime of :mod:`pipeline.reference.regime`).

    Newton starts at 0, or at each of the problem's ``reference_starts(arrays)`` (a non-convex
    problem); x* is then the stationary point of lowest loss among the runs that reached gtol.
    """
    problem = PROBLEMS[cfg.problem.name].from_arrays(arrays, dtype=torch.float64)
    if cfg.reference.get("method", "newton") == "none":
        sizes = getattr(problem, "size_constants", None)
        return np.full(problem.dim, np.nan), math.nan, (sizes() if sizes is not None else {})
    starts = getattr(problem, "reference_starts", None)
    x0s = ([torch.as_tensor(x, dtype=torch.float64) for x in starts(arrays)] if starts is not None
           else [torch.zeros(problem.dim, dtype=torch.float64)])
    gtol = float(cfg.reference.gtol)
    stop = StopRule(eps=None, gtol=gtol, max_iter=int(cfg.reference.max_iter))
    trace, chosen = _newton_from(problem, x0s, stop, getattr(problem, "reference_solve", "cholesky"), gtol)
    x_star = trace.x
    consts = measure_constants(problem, x_star, arrays)
    consts.update(measure_regime(problem, x_star))
    consts.update(ref_grad_norm=trace.last.grad_norm, ref_iterations=float(trace.iterations))
    if len(x0s) > 1:
        consts["ref_start"] = float(chosen)
    return x_star.numpy(), float(problem.loss(x_star)), consts


def build_instance(cfg: DictConfig, cache_dir: str | Path | None = None) -> Instance:
    """The instance for ``cfg`` from the cache, or computed and cached."""
    key = instance_key(cfg)
    path = Path(cache_dir or Path(cfg.results_dir).parent / ".cache" / "instances") / f"{key}.npz"
    cached = cache.read(path) if cfg.data.cache else None
    if cached is not None:
        arrays, x_star, meta = cached
        return Instance(arrays, x_star, meta["f_star"], meta["constants"], key)
    arrays = raw_arrays(cfg)
    x_star, f_star, consts = compute_reference(cfg, arrays)
    if cfg.data.cache:
        cache.write(path, arrays, x_star, {"f_star": f_star, "constants": consts})
    return Instance(arrays, x_star, f_star, consts, key)


__all__ = ["CACHE_VERSION", "Instance", "build_instance", "compute_reference", "instance_key", "measure_constants"]
