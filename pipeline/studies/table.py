"""A study's run table: one row per run, from the runs' ``summary.json`` files of record.

Only the runs of the study's current grid are kept, once per config hash; declared ``derived``
columns are added; floats are rounded to the digits that ``table.csv`` stores, so that the fits
and the figure depend on the table of record only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core.errors import ConfigError
from pipeline.core.records import summaries_frame

#: Significant digits of the run table; the fits and the figure use the same rounded values.
TABLE_DIGITS = 6


def current_grid_only(df, grid: dict[str, list[str]]):
    """Keep the runs whose swept values all lie in the study's current ``grid`` (stale job folders of an
    earlier grid or profile are left out)."""
    keep = np.ones(len(df), dtype=bool)
    for key, values in grid.items():
        col = f"config.{key.lstrip('+~')}"
        if col in df.columns:
            keep &= df[col].astype(str).isin(values).to_numpy()
    # of the job's overrides, only the swept keys describe the run; the rest is bookkeeping
    extra = [c for c in df.columns if c.startswith("config.") and c[len("config."):] not in grid]
    return df[keep].drop(columns=extra).reset_index(drop=True)


def add_derived(df, study):
    """Columns declared in ``study.derived`` ({name: pandas expression}); names with dots in backticks,
    e.g. ``gamma: "1 + (`instance.effective_rank` + 1) / `config.solver.n`"``."""
    import pandas as pd

    for col in [c for c in df.columns if c.startswith("config.")]:
        num = pd.to_numeric(df[col], errors="coerce")
        if num.notna().all():
            df[col] = num
    for name, expr in (study.get("derived") or {}).items():
        try:
            df[name] = df.eval(expr)
        except Exception as exc:  # pandas raises many kinds (UndefinedVariableError, SyntaxError, ...)
            raise ConfigError(f"study.derived.{name}", f"cannot evaluate {expr!r} on the run table ({exc})") from None
    return df


def significant(df, digits: int = TABLE_DIGITS):
    """Float columns rounded to ``digits`` significant digits, as table.csv stores them: the figure and
    the fits then depend on the table of record only, not on last-bit differences of a rebuild."""
    for c in df.columns:
        if df[c].dtype.kind == "f":
            df[c] = [float(f"{v:.{digits}g}") if np.isfinite(v) else v for v in df[c].to_numpy()]
    return df


def record_columns(df, study) -> list[str]:
    """Columns of the run table: wall-clock ones (``*_time_s``, also a solver's ``info.*_time_s``)
    only in a timing study, whose outputs are named *timing* (not byte-stable)."""
    def wall_clock(c: str) -> bool:
        return c in ("wall_time_s", "time_per_iteration_s", "job_time_s") or (c.startswith("info.") and c.endswith("_time_s"))

    return [c for c in df.columns if not c.startswith("_") and c != "mlflow_run_id"
            and (study.timing or not wall_clock(c))]


def run_table(study, runs: Path, grid: dict[str, list[str]]):
    """The study's runs under ``runs`` (those of its current ``grid``, once per config hash), with its
    derived columns; ConfigError naming ``study`` when there are none."""
    df = summaries_frame(runs)
    if df.empty:
        raise ConfigError("study", f"no run summaries under {runs}; run the study first: "
                                   f"python -m pipeline -m +study={study.name}")
    col = study.group_by
    if col not in df.columns:
        key = "study.x" if col == study.x else "study.y" if col == study.y else "study.group_by"
        raise ConfigError(key, f"column {col!r} not found in the run summaries")
    df = current_grid_only(df, grid).drop_duplicates("config_hash", keep="first").reset_index(drop=True)
    if df.empty:
        raise ConfigError("study", f"no run summaries under {runs} match the study's current grid; "
                                   f"run it first: python -m pipeline -m +study={study.name}")
    return add_derived(df, study)


def write_table(df, study, path: Path) -> None:
    """``table.csv``: the record columns, floats with 6 significant digits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df[record_columns(df, study)].to_csv(path, index=False, float_format="%.6g")
