"""A paper outside the lab: the example package under examples/, installed into a folder of its own and
put on the path, adds its claim, figure and study to verify, plot and the report without any edit here."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT

EXAMPLE = PROJECT / "examples" / "softmax_lab_example"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """The example package installed with pip (offline, no dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                        "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert list(target.glob("softmax_lab_example-*.dist-info/entry_points.txt"))
    return target


def lab(args, root, site=None):
    env = dict(os.environ, SOFTMAX_LAB_ROOT=str(root), MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(site) if site else ""
    return subprocess.run([sys.executable, "-m", *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)


def test_without_the_package_its_claim_is_unknown(lab_root):
    r = lab(["pipeline.verify", "claims=[X1.C1]", "tracking=off"], lab_root)
    assert r.returncode == 2 and "error: claims: unknown claim 'X1.C1'" in r.stderr


def test_an_installed_paper_is_verified_plotted_swept_and_reported(plugin_site, lab_root):
    r = lab(["pipeline.verify", "claims=[X1.C1]", "profile=ci", "tracking=off"], lab_root, plugin_site)
    assert r.returncode == 0, r.stderr
    rows = json.loads((lab_root / "results" / "verify" / "verdicts.json").read_text())
    assert [(v["claim"], v["paper"], v["verdict"]) for v in rows] == [("X1.C1", "X1", "pass")]
    assert 0.49 <= rows[0]["measured"] <= 0.5 and rows[0]["details"]["control_max"] > 0.5

    assert lab(["pipeline.plot", "profile=ci", "tracking=off"], lab_root, plugin_site).returncode == 0
    assert (lab_root / "results" / "figures" / "X1.C1.png").stat().st_size > 10_000

    r = lab(["pipeline", "-m", "+study=x1_newton_n", "profile=ci", "tracking=off"], lab_root, plugin_site)
    assert r.returncode == 0, r.stderr
    r = lab(["pipeline.plot", "+study=x1_newton_n", "profile=ci", "tracking=off"], lab_root, plugin_site)
    assert r.returncode == 0, r.stderr
    fit = (lab_root / "results" / "x1_newton_n" / "fit.md").read_text()
    assert "| newton | 6 | 0 |" in fit and "pass" in fit

    r = lab(["pipeline.report", "profile=ci", "tracking=off"], lab_root, plugin_site)
    assert r.returncode == 0, r.stderr
    ledger = (lab_root / "reports" / "theorems.md").read_text()
    assert "| X1.C1 | X1 |" in ledger and "### x1_newton_n" in ledger and "figures/X1.C1.png" in ledger


def test_the_example_claim_fails_on_a_wrong_jacobian(plugin_site, lab_root):
    """X1.C1 can fail: with the Jacobian's mean term dropped (diag(f) alone) the norm reaches 1 > 1/2."""
    code = ("import softmax_lab_example as ex\n"
            "from omegaconf import OmegaConf\n"
            "from pipeline import papers\n"
            "right = ex.jacobian_norm\n"
            "ctx = papers.Context(sizes=OmegaConf.structured(ex.Sizes(x1_points=200)))\n"
            "print(papers.CLAIMS['X1.C1'].run(ctx).verdict)\n"
            "ex.jacobian_norm = lambda u, wrong=False: right(u, wrong=True)\n"
            "v = papers.CLAIMS['X1.C1'].run(ctx)\n"
            "print(v.verdict, v.measured > 0.9)\n")
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=lab_root, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, SOFTMAX_LAB_ROOT=str(lab_root), PYTHONPATH=str(plugin_site)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["pass", "fail", "True"]
