"""Studies: a sweep's table of record, its fits or summary, and its figure, from the runs' files.

A study is data (a YAML file in ``conf/study/``, or in the config folder of a paper outside the
lab): its grid per profile, the axes, the predicted laws and their bands. :func:`build` turns its
runs into ``table.csv``, ``fit.csv``/``fit.md``, ``metrics.json`` (the fit's numbers, for ``dvc metrics
diff``) and ``figures/<name>.png`` (named ``*_timing*`` for a timing study, whose wall-clock numbers are
not byte-stable). ``kind: scaling`` fits power laws
(:mod:`pipeline.studies.scaling`); ``kind: trace`` draws one curve per run (:mod:`pipeline.studies.traces`).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from pipeline.studies import panels, scaling, traces
from pipeline.studies.table import run_table, significant, write_table


def paths(results_dir: Path, study) -> dict[str, Path]:
    """Where a study's runs are and where its outputs go."""
    root, name = Path(results_dir), study.name
    t = "_timing" if study.get("timing") else ""  # wall-clock outputs are named *timing* (not byte-stable)
    return {"runs": root / name / "runs", "table": root / name / f"table{t}.csv", "fit_csv": root / name / f"fit{t}.csv",
            "fit_md": root / name / f"fit{t}.md", "metrics": root / name / f"metrics{t}.json",
            "figure": root / "figures" / f"{name}{t}.png"}


def _number(v):
    """A metric value: a float at 6 significant digits (byte-stable), a verdict as 1/0, else None."""
    if isinstance(v, str):
        return {"pass": 1, "fail": 0}.get(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    f = float(f"{f:.6g}")
    return int(f) if f.is_integer() and abs(f) < 1e12 else f


def write_metrics(fits: pd.DataFrame, path: Path) -> None:
    """The fit table as DVC metrics: ``{"<panel>/<group>": {column: number}}``, numbers only (a verdict is
    1 for pass, 0 for fail), so that ``dvc metrics diff`` shows what moved between two builds."""
    out = {}
    for row in fits.to_dict("records"):
        key = "/".join(str(row[k]) for k in ("panel", "group") if str(row.get(k, "")) not in ("", "nan"))
        vals = {k: _number(v) for k, v in row.items() if k not in ("panel", "group", "regime", "softmax_share")}
        out[key or "all"] = {k: v for k, v in vals.items() if v is not None}
    path.write_text(json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def _scaling(df, study, out: dict[str, Path]) -> tuple[str, pd.DataFrame]:
    scaling.check_axes(df, study)
    df[study.x] = pd.to_numeric(df[study.x], errors="coerce")
    df[study.y] = df[study.y].astype(float)
    df = significant(df.sort_values([study.group_by, "seed", study.x]).reset_index(drop=True))
    write_table(df, study, out["table"])
    fits = scaling.fit_table(df, study)
    fits.to_csv(out["fit_csv"], index=False, float_format="%.6g")
    write_metrics(fits, out["metrics"])
    md = scaling.fmt_md(fits, study.group_by)
    out["fit_md"].write_text(f"# {study.title or study.name}\n\n{md}")
    scaling.draw(df, fits, study, out["figure"])
    return md, fits


def _trace(df, study, out: dict[str, Path]) -> tuple[str, pd.DataFrame]:
    order = [study.group_by, "seed"] + panels.keys(study)
    df = significant(df.sort_values(order).reset_index(drop=True))
    write_table(df, study, out["table"])
    table = traces.summary_table(df, study)
    table.to_csv(out["fit_csv"], index=False, float_format="%.6g")
    write_metrics(table, out["metrics"])
    md = traces.fmt_md(table, study)
    out["fit_md"].write_text(f"# {study.title or study.name}\n\n{md}")
    traces.draw(df, table, study, out["figure"])
    return md, table


def build(study, results_dir: Path, grid: dict[str, list[str]]) -> tuple[dict[str, Path], str, pd.DataFrame]:
    """Write the study's table, fit (or trace summary) and figure from the runs of its current ``grid``;
    returns the output paths, the Markdown of the fit table and the fit table."""
    out = paths(results_dir, study)
    df = run_table(study, out["runs"], grid)
    md, fits = (_trace if study.get("kind") == "trace" else _scaling)(df, study, out)
    return out, md, fits


def catalogue(dirs: list[Path], results_dir: Path) -> list[dict]:
    """Every study of the given folders of study YAMLs (by name), with its fit table and figure when
    its results exist: the report's list of studies."""
    out = []
    for path in sorted((p for d in dirs for p in Path(d).glob("*.yaml")), key=lambda p: p.name):
        spec = OmegaConf.load(path).study
        where = paths(results_dir, spec)
        out.append({"name": spec.name, "paper": spec.paper, "title": spec.get("title", spec.name),
                    "timing": bool(spec.get("timing", False)), "group_by": spec.get("group_by", "solver"),
                    "kind": spec.get("kind", "scaling"), "claims": list(spec.get("claims", [])),
                    "fit": pd.read_csv(where["fit_csv"]) if where["fit_csv"].is_file() else None,
                    "figure": where["figure"] if where["figure"].is_file() else None})
    return out


__all__ = ["build", "catalogue", "paths"]
