"""Trace studies (pipeline/studies/traces.py): any column of the runs' traces as y (a monitored quantity
such as a normalised margin, present only at the observed iterations), a linear y axis for a quantity that
changes sign, and numeric groups."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from pipeline.core.errors import ConfigError
from pipeline.core.schema import StudyConfig
from pipeline.studies import traces


def runs(tmp_path, decays=(1e-4, 1e-5), seeds=(0, 1)) -> pd.DataFrame:
    """A run table of runs whose traces carry a monitored ``margin_ratio`` at a few iterations (NaN
    elsewhere) that starts negative and rises towards 1."""
    rows = []
    for lam in decays:
        for seed in seeds:
            path = tmp_path / f"run_{lam}_{seed}"
            path.mkdir()
            it = np.arange(200)
            margin = np.full(200, np.nan)
            observed = np.array([0, 1, 2, 5, 10, 20, 50, 100, 199])
            margin[observed] = 1.0 - 2.0 * np.exp(-observed / (30.0 + 1e5 * lam + seed))
            pd.DataFrame({"iteration": it, "loss": np.exp(-it / 50.0), "grad_norm": np.exp(-it / 40.0),
                          "relative_gap": np.nan, "margin_ratio": margin}).to_parquet(path / "trace.parquet")
            rows.append({"_path": str(path), "config.problem.weight_decay": lam, "final_relative_gap": np.nan})
    return pd.DataFrame(rows)


def study(**over):
    base = {"name": "toy", "paper": "E05", "kind": "trace", "x": "iteration", "y": "margin_ratio",
            "y_label": "γ/γ*", "group_by": "config.problem.weight_decay", "y_scale": "linear"}
    return OmegaConf.merge(OmegaConf.structured(StudyConfig), base | over)


def test_a_monitored_column_on_a_linear_axis_with_numeric_groups(tmp_path):
    import matplotlib.image as mpimg

    df, st = runs(tmp_path), study()
    table = traces.summary_table(df, st)
    assert sorted(table.group) == [1e-5, 1e-4] and list(table.runs) == [2, 2]
    out = tmp_path / "toy.png"
    traces.draw(df, table, st, out)
    assert out.stat().st_size > 10_000 and mpimg.imread(out).shape[0] > 100


def test_the_axis_follows_y_scale(tmp_path, monkeypatch):
    import matplotlib.axes

    scales = []
    monkeypatch.setattr(matplotlib.axes.Axes, "set_yscale", lambda self, v, **kw: scales.append(v))
    df = runs(tmp_path)
    for scale in ("linear", "log"):
        scales.clear()
        st = study(y_scale=scale)
        traces.draw(df, traces.summary_table(df, st), st, tmp_path / f"{scale}.png")
        assert scales and set(scales) == {scale}


def test_a_y_missing_from_the_traces_is_named(tmp_path):
    df, st = runs(tmp_path), study(y="margin")
    with pytest.raises(KeyError, match="study.y: 'margin' is not a column .*margin_ratio"):
        traces.draw(df, traces.summary_table(df, st), st, tmp_path / "x.png")


@pytest.mark.parametrize("y", ["loss", "iteration", "not a name"])
def test_a_trace_y_that_is_no_curve_is_refused(y):
    with pytest.raises(ConfigError, match="study.y"):
        StudyConfig.check(study(y=y), "study")


def test_the_summary_holds_the_median_last_value_of_the_plotted_column(tmp_path):
    """γ/γ* at the end of training per group (the last finite margin_ratio of each run, median over seeds),
    in the summary and as the parent run's ``final.*`` metrics."""
    from pipeline.plot import final_metrics

    df, st = runs(tmp_path), study()
    table = traces.summary_table(df, st).set_index("group")
    for lam in (1e-4, 1e-5):
        ends = [1.0 - 2.0 * np.exp(-199 / (30.0 + 1e5 * lam + seed)) for seed in (0, 1)]
        assert table.loc[lam, "median_final_y"] == pytest.approx(float(np.median(ends)), rel=1e-5)
    assert "median final margin_ratio" in traces.fmt_md(traces.summary_table(df, st), st)
    metrics = final_metrics(traces.summary_table(df, st), "margin_ratio")
    assert set(metrics) == {"final.margin_ratio.0_0001", "final.margin_ratio.1e-05"}
