"""A scaling study (``study.kind: scaling``): one point per run, power-law fits per group against the
study's predicted laws and bands, the fit table and the log-log figure. With ``panel_by`` (e.g. the
instance regime), every panel is fitted and judged on its own and drawn side by side."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.core.errors import ConfigError
from pipeline.core.fits import fit_power_law
from pipeline.studies import panels as P


def law_for(study, group: str):
    for law in study.laws:
        if group in law.solvers:
            return law
    return None


def fitted(sub, study):
    """The rows a fit uses: those with x ≥ ``study.fit_x_min`` (all rows when it is unset)."""
    lo = study.get("fit_x_min")
    return sub if lo is None else sub[sub[study.x].astype(float) >= float(lo)]


def _groups(df, study):
    return sorted(df.groupby(study.group_by), key=lambda kv: str(kv[0]))


def fit_table(df, study):
    """One row per (panel, group): the fitted slope with its 95% CI, the law's slope and band, the verdict."""
    import pandas as pd

    rows = []
    where = P.labels(df, study)
    for panel in P.ordered(df, study):
        rows += _panel_rows(df[where == panel], study, panel)
    return pd.DataFrame(rows)


def _panel_rows(df, study, panel: str) -> list[dict]:
    rows = []
    for group, sub in _groups(df, study):
        fit = fit_power_law(fitted(sub, study)[study.x], fitted(sub, study)[study.y])
        law = law_for(study, group)
        missing = int(sub[study.y].isna().sum())
        row = {"panel": panel, "regime": P.regime_of(sub), "softmax_share": P.share_range(sub).replace("softmax share ", ""),
               "group": group, "runs": len(sub), "not_reached": missing,
               "slope": fit.slope if fit else np.nan, "ci_low": fit.ci_low if fit else np.nan,
               "ci_high": fit.ci_high if fit else np.nan,
               "theory_slope": law.slope if law else np.nan,
               "band_low": law.band[0] if law else np.nan, "band_high": law.band[1] if law else np.nan}
        if law is None or fit is None:
            row["verdict"] = "no law" if law is None else "no fit"
        else:
            ok = law.band[0] <= fit.slope <= law.band[1] and missing == 0
            row["verdict"] = "pass" if ok else "fail"
        rows.append(row)
    return rows


def _group_label(study, fit, row, name: str) -> str:
    label = f"{name}: slope {fit.slope:.2f}" if fit else name
    if row.verdict in ("pass", "fail"):
        label += f" (theory {row.theory_slope:g}, band [{row.band_low:g}, {row.band_high:g}]: {row.verdict})"
    if row.not_reached:
        label += f"; {row.not_reached}/{row.runs} runs never reached it"
    return label


def _draw_fit(ax, used, fit, study, group, c, xgrid) -> None:
    ok = np.isfinite(used[study.y].to_numpy(float))
    xs = used[study.x].to_numpy(float)[ok]
    own = np.geomspace(xs.min() / 1.1, xs.max() * 1.1, 30)  # the fit is drawn where it has data
    ax.plot(own, fit.predict(own), color=c, lw=1.2, zorder=2)
    law = law_for(study, group)
    if law is not None:
        x0 = float(np.exp(np.mean(np.log(xs))))
        y0 = float(np.exp(np.mean(np.log(used[study.y].to_numpy(float)[ok]))))
        ax.plot(xgrid, y0 * (xgrid / x0) ** law.slope, color=c, lw=1.0, ls="--", alpha=0.7, zorder=1)


def _draw_group(ax, sub, fits, study, group, c, m, xgrid, panel: str = ""):
    """One group's points, fit and theory line; a (x, color, marker, label) to draw on the floor instead
    when no y is positive (a log axis cannot show 0), else None."""
    used = fitted(sub, study)
    fit = fit_power_law(used[study.x], used[study.y])
    row = fits[(fits.group == group) & (fits.panel == panel)].iloc[0]
    name = study.get("group_label", "{}").format(group)
    label = _group_label(study, fit, row, name)
    yv = used[study.y].to_numpy(float)
    if len(used) and not np.isfinite(yv).any():  # nothing to draw: the legend says why
        ax.scatter([], [], color=c, marker=m, s=22, label=f"{name}: no run reached it ({len(used)} runs)")
        return None
    if len(used) and not (yv > 0).any():  # a log axis cannot show 0: drawn on the floor, said in the legend
        return (used[study.x], c, m, f"{name}: {study.y} = 0 for every run (drawn at the bottom edge)")
    ax.scatter(used[study.x], used[study.y], color=c, marker=m, s=22, alpha=0.8, label=label, zorder=3)
    left_out = sub.drop(index=used.index)
    if len(left_out):
        ax.scatter(left_out[study.x], left_out[study.y], facecolors="none", edgecolors=c, marker=m, s=22, zorder=3)
    if fit:
        _draw_fit(ax, used, fit, study, group, c, xgrid)
    return None


def _draw_references(ax, study, xgrid) -> None:
    for k, ref in enumerate(study.get("references", [])):
        ax.plot(xgrid, ref.coef * xgrid**ref.slope, color="black", lw=1.0, ls=(0, (4, 2 + 2 * k)), label=ref.label)
    if study.get("fit_x_min") is not None:
        ax.axvline(float(study.fit_x_min), color="gray", lw=0.8, ls=":")
        ax.scatter([], [], facecolors="none", edgecolors="gray", s=22,
                   label=f"hollow: left out of the fit (x < {float(study.fit_x_min):g})")


def _x_ticks(ax, xs_all) -> None:
    import matplotlib

    distinct = np.unique(xs_all[np.isfinite(xs_all)])
    tick = "{:g}"
    if len(distinct) > 8:  # measured x (e.g. κ per seed) clusters around the grid: one tick per cluster
        cuts = np.flatnonzero(distinct[1:] / distinct[:-1] >= 1.1)
        distinct, tick = np.array([np.median(c) for c in np.split(distinct, cuts + 1)]), "{:.3g}"
    if len(distinct) <= 8 and (len(distinct) < 2 or np.min(distinct[1:] / distinct[:-1]) >= 1.3):
        ax.set_xticks(distinct, [tick.format(v) for v in distinct])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _finish(ax, study, floors, xs_all, title: str = "", ys=None) -> None:
    ys = np.asarray(ys if ys is not None else [1.0], dtype=float)
    if not (np.isfinite(ys) & (ys > 0)).any():  # nothing a log axis can show: an empty panel that says so
        ax.set_ylim(1.0, 10.0)
        ax.set_xlim(np.nanmin(xs_all) / 1.2, np.nanmax(xs_all) * 1.2)
        ax.text(0.5, 0.5, f"no run has a positive, finite {study.y}", transform=ax.transAxes, ha="center",
                fontsize=9, color="#a11")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if floors:
        lo = ax.get_ylim()[0]
        for xs, c, m, label in floors:
            ax.scatter(xs, np.full(len(xs), lo), color=c, marker=m, s=26, clip_on=False, label=label, zorder=4)
        ax.set_ylim(bottom=lo)
    ax.set_xlabel(study.x_label or study.x)
    ax.set_ylabel(study.y_label or study.y)
    ax.set_title(title or study.title or study.name, fontsize=10 if title else 11)
    ax.grid(True, which="both", alpha=0.25)
    ax.plot([], [], color="gray", lw=1.2, label="solid: least-squares fit in log-log")
    if len(study.laws):
        ax.plot([], [], color="gray", lw=1.0, ls="--", label="dashed: theory slope through the data's centre")
    _x_ticks(ax, xs_all)
    ax.legend(fontsize=7, loc="best", frameon=True)


def draw(df, fits, study, path: Path) -> None:
    """The study's figure: points per group, log-log fits, theory slopes, reference curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = P.ordered(df, study)
    fig, axes = plt.subplots(1, len(panels), figsize=(7.2 * len(panels), 4.8 + 0.4 * (len(panels) > 1)), dpi=120,
                             squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^vP*X"
    groups = [g for g, _ in _groups(df, study)]
    where = P.labels(df, study)
    for ax, panel in zip(axes[0], panels):
        part = df[where == panel]
        xs_all = part[study.x].to_numpy(float)
        xgrid = np.geomspace(np.nanmin(xs_all) / 1.2, np.nanmax(xs_all) * 1.2, 50)
        floors = []
        for group, sub in _groups(part, study):
            i = groups.index(group)  # one colour and marker per group across the panels
            floor = _draw_group(ax, sub, fits, study, group, colors[i % len(colors)], markers[i % len(markers)],
                                xgrid, panel)
            if floor is not None:
                floors.append(floor)
        _draw_references(ax, study, xgrid)
        _finish(ax, study, floors, xs_all, P.title(study, panel, part) if len(panels) > 1 or panel else "",
                part[study.y].to_numpy(float))
    if len(panels) > 1 or panels[0]:
        fig.suptitle(study.title or study.name, fontsize=11)
    if study.get("note"):
        style.caption(fig, study.note)
    style.save(fig, path)


def fmt_md(fits, group: str = "solver") -> str:
    head = (f"| panel | softmax share | {group} | runs | not reached | fitted slope | 95% CI | theory | band | verdict |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r.panel or '—'} | {r.softmax_share or '—'} | {r.group} | {r.runs} | {r.not_reached} | {r.slope:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
        f"{'' if np.isnan(r.theory_slope) else f'{r.theory_slope:g}'} | "
        f"{'' if np.isnan(r.band_low) else f'[{r.band_low:g}, {r.band_high:g}]'} | {r.verdict} |\n"
        for r in fits.itertuples())
    return head + body


def check_axes(df, study) -> None:
    """Both axes of the study are columns of the run table."""
    for col in (study.x, study.y):
        if col not in df.columns:
            raise ConfigError("study.x" if col == study.x else "study.y", f"column {col!r} not found in the run summaries")
