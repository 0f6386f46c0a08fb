"""Panels of a study figure: one per value of ``study.panel_by`` (a column, or a list of columns such as
``[config.data.regime, config.x0]``), each titled with its values and, where the runs carry it, the
range of the measured softmax share of their instances (pipeline/reference/regime.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.errors import ConfigError

SHARE = "instance.softmax_share"
REGIME = "config.data.regime"


def keys(study) -> list[str]:
    by = study.get("panel_by")
    if not by:
        return []
    return [str(by)] if isinstance(by, str) else [str(k) for k in by]


def labels(df: pd.DataFrame, study) -> pd.Series:
    """The panel of every row (values of the panel columns joined by ' · '; '' without panels)."""
    cols = keys(study)
    for c in cols:
        if c not in df.columns:
            raise ConfigError("study.panel_by", f"column {c!r} not found in the run table")
    if not cols:
        return pd.Series([""] * len(df), index=df.index)
    return df[cols].astype(str).agg(" · ".join, axis=1)


def ordered(df: pd.DataFrame, study) -> list[str]:
    """The panels in order: by the values of the panel columns (the regimes in their declared order)."""
    if not keys(study):
        return [""]
    return sorted(labels(df, study).unique(), key=lambda p: [("0" if v == "regulariser" else v) for v in p.split(" · ")])


def regime_of(sub: pd.DataFrame) -> str:
    """The instance regime of a set of runs ('' when the table has no regime or mixes them)."""
    if REGIME not in sub.columns:
        return ""
    vals = sub[REGIME].dropna().astype(str).unique()
    return vals[0] if len(vals) == 1 else ""


def share_range(sub: pd.DataFrame) -> str:
    """'softmax share a–b' over the runs' instances, or ''."""
    if SHARE not in sub.columns:
        return ""
    s = pd.to_numeric(sub[SHARE], errors="coerce").to_numpy(float)
    s = s[np.isfinite(s)]
    if not s.size:
        return ""
    lo, hi = float(s.min()), float(s.max())
    return f"softmax share {lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"softmax share {lo:.2g}–{hi:.2g}"


def title(study, panel: str, sub: pd.DataFrame) -> str:
    parts = [f"{k.split('.')[-1]} = {v}" for k, v in zip(keys(study), panel.split(" · "))] if panel else []
    share = share_range(sub)
    return ", ".join(parts) + (f" ({share})" if share else "")
