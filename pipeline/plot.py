"""``python -m pipeline.plot +study=NAME``: the study's table, power-law fits and figure.

Without a study (``python -m pipeline.plot``) it draws the claims' figures from
``results/verify/verdicts.json`` (see pipeline/plot_claims.py).

Reads only the files of record (``summary.json`` under the study's run folder)
and writes, under ``<results_dir>/<study>/``: ``table.csv`` (one row per run),
``fit.csv`` and ``fit.md`` (fitted slope per solver against the predicted law
and its band), and ``<results_dir>/figures/<study>.png``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from pipeline.errors import ConfigError
from pipeline.fits import fit_power_law
from pipeline.results import summaries_frame


def study_paths(cfg: DictConfig) -> dict[str, Path]:
    root = Path(cfg.results_dir)
    name = cfg.study.name
    t = "_timing" if cfg.study.get("timing") else ""  # wall-clock outputs are named *timing* (not byte-stable)
    return {"runs": root / name / "runs", "table": root / name / f"table{t}.csv", "fit_csv": root / name / f"fit{t}.csv",
            "fit_md": root / name / f"fit{t}.md", "figure": root / "figures" / f"{name}{t}.png"}


def current_grid_only(df):
    """Keep the runs whose swept values all lie in the study's current grid (stale job folders of an
    earlier grid or profile are left out)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from pipeline.cli import sweep_grid

    node = HydraConfig.get().sweeper.get("params") if HydraConfig.initialized() else None
    grid = sweep_grid([], OmegaConf.to_container(node, resolve=True))[1] if node is not None else {}
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


def law_for(study, group: str):
    for law in study.laws:
        if group in law.solvers:
            return law
    return None


def fitted(sub, study):
    """The rows a fit uses: those with x ≥ ``study.fit_x_min`` (all rows when it is unset)."""
    lo = study.get("fit_x_min")
    return sub if lo is None else sub[sub[study.x].astype(float) >= float(lo)]


def fit_table(df, study):
    import pandas as pd

    rows = []
    for group, sub in sorted(df.groupby(study.group_by), key=lambda kv: str(kv[0])):
        fit = fit_power_law(fitted(sub, study)[study.x], fitted(sub, study)[study.y])
        law = law_for(study, group)
        missing = int(sub[study.y].isna().sum())
        row = {"group": group, "runs": len(sub), "not_reached": missing,
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
    return pd.DataFrame(rows)


def draw(df, fits, study, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.8), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^vP*X"
    xs_all = df[study.x].to_numpy(float)
    xgrid = np.geomspace(np.nanmin(xs_all) / 1.2, np.nanmax(xs_all) * 1.2, 50)
    floors = []
    for i, (group, sub) in enumerate(sorted(df.groupby(study.group_by), key=lambda kv: str(kv[0]))):
        c, m = colors[i % len(colors)], markers[i % len(markers)]
        used = fitted(sub, study)
        fit = fit_power_law(used[study.x], used[study.y])
        row = fits[fits.group == group].iloc[0]
        name = study.get("group_label", "{}").format(group)
        label = f"{name}: slope {fit.slope:.2f}" if fit else name
        if row.verdict in ("pass", "fail"):
            label += f" (theory {row.theory_slope:g}, band [{row.band_low:g}, {row.band_high:g}]: {row.verdict})"
        if row.not_reached:
            label += f"; {row.not_reached}/{row.runs} runs never reached it"
        yv = used[study.y].to_numpy(float)
        if len(used) and not np.isfinite(yv).any():  # nothing to draw: the legend says why
            ax.scatter([], [], color=c, marker=m, s=22, label=f"{name}: no run reached it ({len(used)} runs)")
            continue
        if len(used) and not (yv > 0).any():  # a log axis cannot show 0: drawn on the floor, said in the legend
            label = f"{name}: {study.y} = 0 for every run (drawn at the bottom edge)"
            floors.append((used[study.x], c, m, label))
            continue
        ax.scatter(used[study.x], used[study.y], color=c, marker=m, s=22, alpha=0.8, label=label, zorder=3)
        left_out = sub.drop(index=used.index)
        if len(left_out):
            ax.scatter(left_out[study.x], left_out[study.y], facecolors="none", edgecolors=c, marker=m, s=22, zorder=3)
        if fit:
            ok = np.isfinite(used[study.y].to_numpy(float))
            xs = used[study.x].to_numpy(float)[ok]
            own = np.geomspace(xs.min() / 1.1, xs.max() * 1.1, 30)  # the fit is drawn where it has data
            ax.plot(own, fit.predict(own), color=c, lw=1.2, zorder=2)
            law = law_for(study, group)
            if law is not None:
                x0 = float(np.exp(np.mean(np.log(xs))))
                y0 = float(np.exp(np.mean(np.log(used[study.y].to_numpy(float)[ok]))))
                ax.plot(xgrid, y0 * (xgrid / x0) ** law.slope, color=c, lw=1.0, ls="--", alpha=0.7, zorder=1)
    for k, ref in enumerate(study.get("references", [])):
        ax.plot(xgrid, ref.coef * xgrid**ref.slope, color="black", lw=1.0, ls=(0, (4, 2 + 2 * k)), label=ref.label)
    if study.get("fit_x_min") is not None:
        ax.axvline(float(study.fit_x_min), color="gray", lw=0.8, ls=":")
        ax.scatter([], [], facecolors="none", edgecolors="gray", s=22,
                   label=f"hollow: left out of the fit (x < {float(study.fit_x_min):g})")
    if study.get("note"):
        ax.text(0.02, 0.98, study.note, transform=ax.transAxes, fontsize=7.5, va="top")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if floors:
        lo = ax.get_ylim()[0]
        for xs, c, m, label in floors:
            ax.scatter(xs, np.full(len(xs), lo), color=c, marker=m, s=26, clip_on=False, label=label, zorder=4)
        ax.set_ylim(bottom=lo)
    ax.set_xlabel(study.x_label or study.x)
    ax.set_ylabel(study.y_label or study.y)
    ax.set_title(study.title or study.name, fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    ax.plot([], [], color="gray", lw=1.2, label="solid: least-squares fit in log-log")
    if len(study.laws):
        ax.plot([], [], color="gray", lw=1.0, ls="--", label="dashed: theory slope through the data's centre")
    distinct = np.unique(xs_all[np.isfinite(xs_all)])
    tick = "{:g}"
    if len(distinct) > 8:  # measured x (e.g. κ per seed) clusters around the grid: one tick per cluster
        cuts = np.flatnonzero(distinct[1:] / distinct[:-1] >= 1.1)
        distinct, tick = np.array([np.median(c) for c in np.split(distinct, cuts + 1)]), "{:.3g}"
    if len(distinct) <= 8 and (len(distinct) < 2 or np.min(distinct[1:] / distinct[:-1]) >= 1.3):
        ax.set_xticks(distinct, [tick.format(v) for v in distinct])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.legend(fontsize=7, loc="best", frameon=True)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def fmt_md(fits, group: str = "solver") -> str:
    head = f"| {group} | runs | not reached | fitted slope | 95% CI | theory | band | verdict |\n|---|---|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r.group} | {r.runs} | {r.not_reached} | {r.slope:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
        f"{'' if np.isnan(r.theory_slope) else f'{r.theory_slope:g}'} | "
        f"{'' if np.isnan(r.band_low) else f'[{r.band_low:g}, {r.band_high:g}]'} | {r.verdict} |\n"
        for r in fits.itertuples())
    return head + body


def plot_claims(cfg: DictConfig) -> dict:
    """Figures of the claims' evidence from results/verify/verdicts.json."""
    import json

    from pipeline.plot_claims import draw_claims

    path = Path(cfg.results_dir) / "verify" / "verdicts.json"
    if not path.is_file():
        raise ConfigError("results_dir", f"no verdicts at {path}; run python -m pipeline.verify first")
    figs = draw_claims(json.loads(path.read_text()), Path(cfg.results_dir) / "figures")
    timed = path.with_name("timing_verdicts.json")
    if timed.is_file():
        figs += draw_claims(json.loads(timed.read_text()), Path(cfg.results_dir) / "figures", suffix="_timing")
    for f in figs:
        print(f"figure: {f}")
    return {"figures": [str(f) for f in figs]}


def plot(cfg: DictConfig) -> dict:
    """With ``+study=NAME``: the study's table, fits and figure; without: the claims' figures."""
    return plot_study(cfg) if cfg.get("study") is not None else plot_claims(cfg)


#: Significant digits of the run table; the fits and the figure use the same rounded values.
TABLE_DIGITS = 6


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


def plot_study(cfg: DictConfig) -> dict:
    study = cfg.study
    paths = study_paths(cfg)
    df = summaries_frame(paths["runs"])
    if df.empty:
        raise ConfigError("study", f"no run summaries under {paths['runs']}; run the study first: "
                                   f"python -m pipeline -m +study={study.name}")
    for col in (study.group_by,):
        if col not in df.columns:
            raise ConfigError("study.x" if col == study.x else "study.y" if col == study.y else "study.group_by",
                              f"column {col!r} not found in the run summaries")
    df = current_grid_only(df).drop_duplicates("config_hash", keep="first").reset_index(drop=True)
    if df.empty:
        raise ConfigError("study", f"no run summaries under {paths['runs']} match the study's current grid; "
                                   f"run it first: python -m pipeline -m +study={study.name}")
    import pandas as pd

    df = add_derived(df, study)
    if study.get("kind") == "trace":
        return _plot_trace_study(cfg, df, paths)
    for col in (study.x, study.y):
        if col not in df.columns:
            raise ConfigError("study.x" if col == study.x else "study.y", f"column {col!r} not found in the run summaries")

    df[study.x] = pd.to_numeric(df[study.x], errors="coerce")
    df[study.y] = df[study.y].astype(float)
    df = significant(df.sort_values([study.group_by, "seed", study.x]).reset_index(drop=True))
    keep = record_columns(df, study)
    paths["table"].parent.mkdir(parents=True, exist_ok=True)
    df[keep].to_csv(paths["table"], index=False, float_format="%.6g")
    fits = fit_table(df, study)
    fits.to_csv(paths["fit_csv"], index=False, float_format="%.6g")
    paths["fit_md"].write_text(f"# {study.title or study.name}\n\n{fmt_md(fits, study.group_by)}")
    draw(df, fits, study, paths["figure"])
    _mirror(cfg, paths)
    print(fmt_md(fits, study.group_by))
    print(f"figure: {paths['figure']}")
    return {"figure": str(paths["figure"]), "fits": fits.to_dict("records")}


def _plot_trace_study(cfg: DictConfig, df, paths: dict[str, Path]) -> dict:
    """A trace study (pipeline/plot_traces.py): run table, per-panel summary and curves."""
    from pipeline import plot_traces

    study = cfg.study
    df = significant(df.sort_values([study.group_by, "seed"] + ([study.panel_by] if study.get("panel_by") else []))
                     .reset_index(drop=True))
    keep = record_columns(df, study)
    paths["table"].parent.mkdir(parents=True, exist_ok=True)
    df[keep].to_csv(paths["table"], index=False, float_format="%.6g")
    table = plot_traces.summary_table(df, study)
    table.to_csv(paths["fit_csv"], index=False, float_format="%.6g")
    md = plot_traces.fmt_md(table, study)
    paths["fit_md"].write_text(f"# {study.title or study.name}\n\n{md}")
    plot_traces.draw(df, table, study, paths["figure"])
    _mirror(cfg, paths)
    print(md)
    print(f"figure: {paths['figure']}")
    return {"figure": str(paths["figure"]), "summary": table.to_dict("records")}


def _mirror(cfg: DictConfig, paths: dict[str, Path]) -> None:
    """Attach the figure and fit table to the sweep's parent MLflow run, if there is one."""
    from pipeline import tracking

    parent = tracking.parent_of(str(paths["runs"]))
    if parent and cfg.tracking.backend != "off":
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=cfg.tracking.uri)
        for p in (paths["figure"], paths["fit_csv"], paths["fit_md"], paths["table"]):
            client.log_artifact(parent, str(p))


def main() -> None:
    from pipeline.cli import main as cli_main

    sys.exit(cli_main(plot, extra_check=None))


if __name__ == "__main__":
    main()
