"""``python -m pipeline.plot +study=NAME``: the study's table, power-law fits and figure.

Without a study (``python -m pipeline.plot``) it draws the claims' figures from
``results/verify/verdicts.json`` (and ``timing_verdicts.json``), each with the function its paper
registered for it.

Reads only the files of record (``summary.json`` under the study's run folder) and writes, under
``<results_dir>/<study>/``: ``table.csv`` (one row per run), ``fit.csv`` and ``fit.md`` (fitted
slope per solver against the predicted law and its band), and ``<results_dir>/figures/<study>.png``;
they are attached to the study's latest sweep parent run through the tracking sink, with the fitted
slopes and their confidence intervals as its metrics ``slope.<group>[.<panel>]``, ``slope_ci_low...``
and ``slope_ci_high...`` (a trace study: the median last value of its plotted column per group,
``final.<y>.<group>[.<panel>]``). Each claim figure is attached to its claim's run (experiment ``verify``, the
latest run with the verdict's ``ledger_key``).

Like verify and report it runs without a Hydra run folder (the front door adds
:func:`pipeline.core.paths.no_run_dir` for these stages): it writes
into ``results_dir`` only.
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipeline import papers, studies, tracking
from pipeline.cli import main as front_door
from pipeline.core.errors import ConfigError
from pipeline.core.grid import sweep_grid
from pipeline.core.records import ledger_key
from pipeline.core.sink import Sink

#: The experiment of the verify stage's claim runs (pipeline/verify.py).
VERIFY_EXPERIMENT = "verify"
#: The fit table's columns logged as the parent run's metrics, under these names.
SLOPE_METRICS = {"slope": "slope", "ci_low": "slope_ci_low", "ci_high": "slope_ci_high"}


def current_grid() -> dict[str, list[str]]:
    """The swept values of this command's study (its ``hydra.sweeper.params`` for the profile)."""
    from hydra.core.hydra_config import HydraConfig

    node = HydraConfig.get().sweeper.get("params") if HydraConfig.initialized() else None
    return sweep_grid([], OmegaConf.to_container(node, resolve=True))[1] if node is not None else {}


def metric_key(*parts) -> str:
    """A metric name of dotted parts, each reduced to the characters MLflow accepts (``a · b`` -> ``a_b``)."""
    clean = [re.sub(r"[^\w\-]+", "_", str(p)).strip("_") for p in parts]
    return ".".join(c for c in clean if c)


def slope_metrics(fits) -> dict[str, float]:
    """``slope.<group>[.<panel>]`` and its CI bounds for every row of a scaling study's fit table (a trace
    study's summary has no slopes: nothing)."""
    out = {}
    for row in fits.to_dict("records"):
        panel = row.get("panel")
        panel = "" if panel is None or (isinstance(panel, float) and math.isnan(panel)) else panel
        for col, name in SLOPE_METRICS.items():
            v = row.get(col)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out[metric_key(name, row["group"], panel)] = float(v)
    return out


def final_metrics(summary, y: str) -> dict[str, float]:
    """``final.<y>.<group>[.<panel>]``: the median last value of the plotted trace column per row of a trace
    study's summary (e.g. γ/γ* at the end of training per regulariser and weight decay)."""
    out = {}
    for row in summary.to_dict("records"):
        v = row.get("median_final_y")
        if isinstance(v, (int, float)) and math.isfinite(v):
            out[metric_key("final", y, row["group"], row.get("panel") or "")] = float(v)
    return out


def plot_study(cfg: DictConfig) -> dict:
    out, md, fits = studies.build(cfg.study, Path(cfg.results_dir), current_grid())
    files = [out["figure"], out["fit_csv"], out["fit_md"], out["table"]]
    sink = tracking.sink(cfg.tracking)
    parent = sink.find({"kind": "sweep", "study": cfg.study.name})
    sink.attach(parent, files)
    trace = cfg.study.get("kind") == "trace"
    sink.attach_metrics(parent, final_metrics(fits, cfg.study.y) if trace else slope_metrics(fits))
    print(md)
    print(f"figure: {out['figure']}")
    key = "summary" if trace else "fits"
    return {"figure": str(out["figure"]), key: fits.to_dict("records")}


def draw_claims(verdicts: list[dict], figures_dir: Path, sink: Sink, suffix: str = "") -> list[Path]:
    """Each verdict's figure as ``<claim>[_<regime>]<suffix>.png`` (suffix ``_timing`` for the wall-clock claims),
    attached to the verdict's claim run when the store has one."""
    out = []
    for v in verdicts:
        fn = papers.figure_of(v["claim"])
        if fn is not None:
            path = figures_dir / f"{papers.slug(v)}{suffix}.png"
            fn(v, path)
            sink.attach(sink.find({"kind": "claim", "ledger_key": ledger_key(v)}, experiment=VERIFY_EXPERIMENT), [path])
            out.append(path)
    return out


def plot_claims(cfg: DictConfig) -> dict:
    """Figures of the claims' evidence from results/verify/verdicts.json."""
    path = Path(cfg.results_dir) / "verify" / "verdicts.json"
    if not path.is_file():
        raise ConfigError("results_dir", f"no verdicts at {path}; run python -m pipeline.verify first")
    sink = tracking.sink(cfg.tracking)
    figs = draw_claims(json.loads(path.read_text()), Path(cfg.results_dir) / "figures", sink)
    timed = path.with_name("timing_verdicts.json")
    if timed.is_file():
        figs += draw_claims(json.loads(timed.read_text()), Path(cfg.results_dir) / "figures", sink, suffix="_timing")
    for f in figs:
        print(f"figure: {f}")
    return {"figures": [str(f) for f in figs]}


def plot(cfg: DictConfig) -> dict:
    """With ``+study=NAME``: the study's table, fits and figure; without: the claims' figures."""
    return plot_study(cfg) if cfg.get("study") is not None else plot_claims(cfg)


def main() -> None:
    sys.exit(front_door(plot, extra_check=None))


if __name__ == "__main__":
    main()
