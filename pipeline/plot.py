"""``python -m pipeline.plot +study=NAME``: the study's table, power-law fits and figure.

Without a study (``python -m pipeline.plot``) it draws the claims' figures from
``results/verify/verdicts.json`` (and ``timing_verdicts.json``), each with the function its paper
registered for it.

Reads only the files of record (``summary.json`` under the study's run folder) and writes, under
``<results_dir>/<study>/``: ``table.csv`` (one row per run), ``fit.csv`` and ``fit.md`` (fitted
slope per solver against the predicted law and its band), and ``<results_dir>/figures/<study>.png``;
they are attached to the sweep's parent run through the tracking sink.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipeline import papers, studies, tracking
from pipeline.cli import main as front_door
from pipeline.core.errors import ConfigError
from pipeline.core.grid import sweep_grid


def current_grid() -> dict[str, list[str]]:
    """The swept values of this command's study (its ``hydra.sweeper.params`` for the profile)."""
    from hydra.core.hydra_config import HydraConfig

    node = HydraConfig.get().sweeper.get("params") if HydraConfig.initialized() else None
    return sweep_grid([], OmegaConf.to_container(node, resolve=True))[1] if node is not None else {}


def plot_study(cfg: DictConfig) -> dict:
    out, md, fits = studies.build(cfg.study, Path(cfg.results_dir), current_grid())
    files = [out["figure"], out["fit_csv"], out["fit_md"], out["table"]]
    tracking.sink(cfg.tracking).attach(tracking.parent_of(out["runs"]), files)
    print(md)
    print(f"figure: {out['figure']}")
    key = "summary" if cfg.study.get("kind") == "trace" else "fits"
    return {"figure": str(out["figure"]), key: fits.to_dict("records")}


def draw_claims(verdicts: list[dict], figures_dir: Path, suffix: str = "") -> list[Path]:
    """Each verdict's figure as ``<claim>[_<regime>]<suffix>.png`` (suffix ``_timing`` for the wall-clock claims)."""
    out = []
    for v in verdicts:
        fn = papers.figure_of(v["claim"])
        if fn is not None:
            path = figures_dir / f"{papers.slug(v)}{suffix}.png"
            fn(v, path)
            out.append(path)
    return out


def plot_claims(cfg: DictConfig) -> dict:
    """Figures of the claims' evidence from results/verify/verdicts.json."""
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


def main() -> None:
    sys.exit(front_door(plot, extra_check=None))


if __name__ == "__main__":
    main()
