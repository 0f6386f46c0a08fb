"""One band per law: the timing claims and the timing studies that show the same law agree on its band,
its fit floor and (in the quick profile) the sizes they time."""
from __future__ import annotations

import yaml

from pipeline.papers.p1 import cost as p1_cost
from pipeline.papers.p1.sizes import PROFILES as P1_SIZES
from pipeline.papers.p3 import cost as p3_cost
from pipeline.papers.p3.sizes import PROFILES as P3_SIZES
from tests.conftest import PROJECT


def study(name: str) -> dict:
    return yaml.safe_load((PROJECT / "conf" / "study" / f"{name}.yaml").read_text())["study"]


def law(name: str) -> tuple[float, float]:
    (only,) = study(name)["laws"]
    return tuple(only["band"])


def test_claim_and_study_share_each_band_and_fit_floor():
    assert law("p1_nnz") == p1_cost.BAND and study("p1_nnz")["fit_x_min"] == 2 * 20**3
    assert law("p3_cost") == p3_cost.N_BAND and study("p3_cost")["fit_x_min"] == p3_cost.N_FIT_MIN
    assert law("p3_cost_d") == p3_cost.D_BAND and study("p3_cost_d")["fit_x_min"] == p3_cost.D_FIT_MIN


def test_quick_timing_fits_have_at_least_five_sizes_above_their_floor():
    q1, q3 = P1_SIZES["quick"], P3_SIZES["quick"]
    nnz = [n * 20 * rho for n in q1["cost_ns"] for rho in q1["cost_densities"]]
    assert sum(v > 2 * 20**3 for v in nnz) >= 5
    assert sum(n >= p3_cost.N_FIT_MIN for n in q3["p3_cost_ns"]) >= 5
    assert sum(d >= p3_cost.D_FIT_MIN for d in q3["p3_cost_ds"]) >= 5
    grid = yaml.safe_load((PROJECT / "conf" / "study" / "p1_nnz.yaml").read_text())["study"]["grid"]["quick"]
    assert [float(v) for v in grid["density"].split(",")] == q1["cost_densities"]



def test_quick_p3_studies_fit_at_least_five_sizes_above_the_claims_floor():
    grid = lambda name, key: [int(v) for v in study(name)["grid"]["quick"][key].split(",")]  # noqa: E731
    assert sum(n >= p3_cost.N_FIT_MIN for n in grid("p3_cost", "n")) >= 5
    assert sum(d >= p3_cost.D_FIT_MIN for d in grid("p3_cost_d", "d")) >= 5
