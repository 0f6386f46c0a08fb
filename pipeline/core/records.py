"""Files of record: run summaries and traces, and the tidy tables built from them.

Every run writes ``summary.json`` (keys of DESIGN.md §3 plus provenance) and its
solution; the plot and report stages read only these files.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

#: Config keys that do not change a run's results (excluded from ``config_hash``).
NON_RESULT_KEYS = ("tracking", "progress", "results_dir", "reports_dir", "hydra", "claims", "threads", "resume", "jobs")


def config_hash(cfg: DictConfig) -> str:
    """Hash of the resolved config minus tracking and output settings, the data cache switch and the
    papers' check sizes (``profile.verify``: no solve job reads them, and every new paper adds to them)."""
    c = OmegaConf.to_container(cfg, resolve=True)
    for k in NON_RESULT_KEYS:
        c.pop(k, None)
    if isinstance(c.get("data"), dict):
        c["data"].pop("cache", None)
    if isinstance(c.get("profile"), dict):
        c["profile"].pop("verify", None)
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


def flatten(d: Any, prefix: str = "") -> dict[str, str]:
    """Flatten nested containers to dotted keys with string values (a run's params)."""
    out: dict[str, str] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and any(isinstance(v, (dict, list)) for v in d):
        for i, v in enumerate(d):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = json.dumps(d) if isinstance(d, list) else str(d)
    return out


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain containers, without Hydra's own node."""
    c = OmegaConf.to_container(cfg, resolve=True)
    c.pop("hydra", None)
    return c


def config_params(cfg: DictConfig) -> dict[str, str]:
    """The flattened resolved config: a run's params."""
    return flatten(resolved(cfg))


def study_tags(cfg: DictConfig) -> dict[str, str]:
    """The tags ``study``, ``paper`` and ``claims`` of a run (DESIGN.md §4), from its study, or the
    problem's paper for a run outside a study."""
    study = cfg.get("study")
    return {"study": study.name if study else "", "paper": study.paper if study else str(cfg.problem.paper),
            "claims": ",".join(study.claims) if study else ""}


def ledger_key(row: dict) -> str:
    """A stable key of a verdict as written to verdicts.json: hash of its JSON content.

    It is also the tag ``ledger_key`` of the claim's MLflow run, so that the
    byte-stable report can point at a run without holding its (random) run id.
    """
    blob = json.dumps(_clean({k: row[k] for k in row if k not in ("mlflow_run_id", "seconds")}), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


#: Significant digits kept for the floats of a verdict record (see :func:`round_floats`).
VERDICT_DIGITS = 8


def round_floats(v: Any, digits: int = VERDICT_DIGITS) -> Any:
    """Round every finite float in a nested record to ``digits`` significant digits.

    Verdict records hold Monte Carlo means, eigenvalues and fits whose last bits depend on
    the BLAS code path (threading, memory alignment). Rounding them keeps
    ``verdicts.json`` and the report byte-identical between rebuilds; eight digits is
    far below every tolerance a claim is judged with.
    """
    if isinstance(v, float):
        return float(f"{v:.{digits}g}") if math.isfinite(v) else v
    if isinstance(v, dict):
        return {k: round_floats(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [round_floats(x, digits) for x in v]
    if isinstance(v, np.generic):
        return round_floats(v.item(), digits)
    return v


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        return _clean(v.item())
    return v


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically with sorted keys and stable float formatting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def write_solution(path: Path, x: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, x=x)
    os.replace(tmp, path)


def read_summaries(root: Path) -> list[dict]:
    """All ``summary.json`` files below ``root``, sorted by path."""
    return [json.loads(p.read_text()) | {"_path": str(p.parent)} for p in sorted(Path(root).rglob("summary.json"))]


def summaries_frame(root: Path):
    """One row per run: solver, seed, instance constants, iterations to each ε, oracle counts, diagnostics,
    the solver's own settings as run (``info.*``) and what the problem recorded along it (``observed.*``)."""
    import pandas as pd

    rows = []
    for s in read_summaries(root):
        row = {k: v for k, v in s.items() if not isinstance(v, dict)}
        for k, v in s.get("instance", {}).items():
            row[f"instance.{k}"] = v
        for k, v in s.get("iterations_to_eps", {}).items():
            row[f"iterations_to_eps.{k}"] = v
        for k, v in s.get("overrides", {}).items():
            row[f"config.{k}"] = v
        for k, v in s.get("oracle_calls", {}).items():
            row[f"oracle.{k}"] = v
        for k, v in (s.get("diagnostics") or {}).items():
            row[f"diagnostics.{k}"] = v
        for k, v in (s.get("solver_info") or {}).items():
            row[f"info.{k}"] = v
        for k, v in (s.get("observed") or {}).items():
            row[f"observed.{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows)
