"""Trace studies (``study.kind: trace``): one curve per run, read from its ``trace.parquet``.

The figure has one panel per value of ``study.panel_by`` (e.g. the start x0), one colour per
group (solver) and one line per run (seed); the y axis is logarithmic (``study.y_scale: linear`` for a
quantity that changes sign, such as a normalised margin), and y may be any column of the traces: the
solver's, or one that the problem monitors (its ``monitor(x)``, present at the observed iterations). A relative gap that
reaches zero or goes below it (the run ended at a lower stationary point than the reference x*,
possible on a non-convex problem) cannot be drawn on a log axis: the last positive point gets a
marker and the summary table counts such runs (``below_reference``).

The summary (``fit.csv``/``fit.md``) has, per panel and group: runs, runs reaching each ε of
the grid, the median iterations to 1e-8, the median final relative gap, the median last value of the
plotted column (``median_final_y``: e.g. γ/γ* at the end of training; the parent run's ``final.*``
metrics), and the median R² of
log(gap) against t between 1e-2 and 1e-6 (1 for a straight line: linear convergence).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core import style
from pipeline.studies import panels as P

EPS_SHOWN = ("1e-08",)


def _panels(df, study) -> list:
    return [p or None for p in P.ordered(df, study)]


def _select(df, study, panel):
    return df if panel is None else df[P.labels(df, study) == panel]


def _median_final(runs, y: str) -> float:
    """The median over ``runs`` of the last finite value of their trace column ``y`` (6 significant digits, as
    in the run table), NaN when no run has one: e.g. γ/γ* at the end of training for a monitored margin."""
    last = []
    for path in runs["_path"]:
        trace = Path(path) / "trace.parquet"
        if not trace.is_file():
            continue
        col = pd.read_parquet(trace, columns=None)
        if y not in col:
            continue
        vals = col[y].to_numpy(float)
        vals = vals[np.isfinite(vals)]
        if vals.size:
            last.append(float(f"{vals[-1]:.6g}"))
    return float(f"{np.median(last):.6g}") if last else np.nan


def summary_table(df, study) -> pd.DataFrame:
    rows = []
    for panel in _panels(df, study):
        sub = _select(df, study, panel)
        for group, g in sorted(sub.groupby(study.group_by), key=lambda kv: str(kv[0])):
            gap = pd.to_numeric(g["final_relative_gap"], errors="coerce")
            row = {"panel": panel if panel is not None else "", "regime": P.regime_of(g),
                   "softmax_share": P.share_range(g).replace("softmax share ", ""), "group": group, "runs": len(g),
                   "below_reference": int((gap < 0).sum())}
            for eps in EPS_SHOWN:
                col = f"iterations_to_eps.{eps}"
                it = pd.to_numeric(g[col], errors="coerce") if col in g else pd.Series(dtype=float)
                row[f"reached_{eps}"] = int(it.notna().sum())
                row[f"median_iterations_{eps}"] = float(it.median()) if it.notna().any() else np.nan
            row["median_final_gap"] = float(gap.median())
            row["median_final_y"] = _median_final(g, study.y)
            r2 = pd.to_numeric(g.get("decay_r2"), errors="coerce") if "decay_r2" in g else pd.Series(dtype=float)
            row["median_decay_r2"] = float(r2.median()) if r2.notna().any() else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def fmt_md(table: pd.DataFrame, study) -> str:
    eps = EPS_SHOWN[0]
    head = (f"| {' · '.join(P.keys(study)) or 'panel'} | softmax share | {study.group_by} | runs | reached {eps} | "
            f"median iterations to {eps} | median final gap | median final {study.y} | "
            "median R² of log gap (linear rate: 1) | ended below L* |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    def num(v, spec):
        return "" if v is None or np.isnan(v) else format(v, spec)

    body = "".join(
        f"| {r['panel']} | {r['softmax_share']} | {r['group']} | {r['runs']} | {r['reached_' + eps]} | {num(r['median_iterations_' + eps], 'g')} | "
        f"{num(r['median_final_gap'], '.2e')} | {num(r['median_final_y'], '.4g')} | {num(r['median_decay_r2'], '.3f')} | "
        f"{r['below_reference']} |\n"
        for r in table.to_dict("records"))
    return head + body


#: Panels per row of a trace study's figure with one panel key (several keys: one column per value of the last).
MAX_COLUMNS = 3


def draw(df, table, study, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(df, study)
    last = P.keys(study)[-1] if len(P.keys(study)) > 1 else None  # several keys: one column per value of the last
    ncols = df[last].astype(str).nunique() if last else min(len(panels), MAX_COLUMNS)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 4.4 * nrows), dpi=120, squeeze=False, sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = sorted(df[study.group_by].astype(str).unique())
    for ax, panel in zip(axes.ravel(), panels):
        sub = _select(df, study, panel)
        for i, group in enumerate(groups):
            g = sub[sub[study.group_by].astype(str) == group]
            c = colors[i % len(colors)]
            for k, run in enumerate(g.to_dict("records")):
                tr = pd.read_parquet(Path(run["_path"]) / "trace.parquet")
                if study.y not in tr:
                    raise KeyError(f"study.y: {study.y!r} is not a column of the trace of {run['_path']} "
                                   f"(its columns: {', '.join(tr.columns)})")
                # drawn from 6 significant digits, like the run table (pipeline.studies.table.significant)
                x, y = (np.array([float(f"{v:.6g}") for v in tr[c].to_numpy(float)]) for c in (study.x, study.y))
                log_y = study.get("y_scale", "log") == "log"
                pos = np.isfinite(y) & ((y > 0) if log_y else True)
                label = None
                if k == 0:
                    row = table[(table.panel == (panel if panel is not None else ""))
                                & (table.group.astype(str) == group)].iloc[0]
                    label = f"{study.get('group_label', '{}').format(group)} ({row['runs']} runs"
                    if row["below_reference"]:
                        label += f"; {row['below_reference']} ended below L*"
                    label += ")"
                ax.plot(x[pos], y[pos], color=c, lw=1.1, alpha=0.75, label=label)
                if log_y and pos.any() and not pos[-1]:  # reached 0 or went below L*: mark where the curve leaves the axis
                    j = np.flatnonzero(pos)[-1]
                    ax.plot(x[j], y[j], marker="v", color=c, ms=5)
        lo, hi = ax.get_xlim()
        for j, ref in enumerate(study.get("references") or []):  # coef·x^slope: slope 0 is a level (γ/γ* = 1)
            xs = np.linspace(max(lo, 1e-12 if ref.slope < 0 else lo), hi, 200)
            ax.plot(xs, ref.coef * np.power(xs, ref.slope), color="black", lw=1.0, ls=(0, (4, 2 + 2 * j)),
                    label=ref.label, zorder=1)
        ax.set_xlim(lo, hi)
        ax.set_yscale(study.get("y_scale", "log"))
        if study.x == "time_s":
            ax.set_xscale("log")
        ax.set_xlabel(study.x_label or study.x)
        ax.set_title(P.title(study, panel or "", sub), fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7, loc="best")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(study.y_label or study.y)
    if study.get("note"):
        style.caption(fig, study.note)
    fig.suptitle(study.title or study.name, fontsize=11)
    style.save(fig, path)
