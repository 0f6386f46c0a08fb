"""dvc.yaml declares every study once, with the axes of its table for ``dvc plots`` and its metrics."""
from __future__ import annotations

import yaml

from tests.conftest import PROJECT

DVC = yaml.safe_load((PROJECT / "dvc.yaml").read_text())


def declared() -> dict[str, dict]:
    """{study name: its entry} over both lists of dvc.yaml's vars."""
    out = {}
    for block in DVC["vars"]:
        for name in ("studies", "timing_studies"):
            out.update(block.get(name, {}))
    return out


def test_every_study_yaml_is_a_dvc_stage_and_nothing_else():
    on_disk = {p.stem for p in (PROJECT / "conf" / "study").glob("*.yaml")}
    assert set(declared()) == on_disk


def test_the_plot_axes_are_the_study_axes():
    for name, entry in declared().items():
        study = yaml.safe_load((PROJECT / "conf" / "study" / f"{name}.yaml").read_text())["study"]
        if study.get("kind") == "trace":  # one curve per run: the table is drawn as gradient norm against iterations
            assert (entry["x"], entry["y"]) == ("iterations", "final_grad_norm")
        else:
            assert (entry["x"], entry["y"]) == (study["x"], study["y"]), name
        assert (PROJECT / ".dvc" / "plots" / f"{entry['template']}.json").is_file()


def test_metrics_and_plots_are_in_git_not_in_the_cache():
    """dvc metrics/plots diff against a commit read the committed files: none may live only in the DVC cache."""
    for stage in DVC["stages"].values():
        body = stage.get("do", stage)
        for kind in ("metrics", "plots"):
            for entry in body.get(kind, []):
                (path, opts), = entry.items()
                assert opts.get("cache") is False, (kind, path)
    verify = DVC["stages"]["verify"]["metrics"]
    assert {next(iter(e)) for e in verify} == {"results/verify/metrics.json", "results/verify/timing_metrics.json"}
