"""The verify stage: verdict files, MLflow mirror with ledger keys, unknown claims refused."""
from __future__ import annotations

import json

from pipeline.cli import main
from pipeline.core.records import ledger_key
from pipeline.verify import main as _  # noqa: F401  (the module's entry point imports cleanly)
from pipeline.verify import select, verify


def test_verify_writes_verdicts_and_mirrors_them(lab_root, store_uri):
    assert main(verify, argv=["profile=ci", "claims=[C1.1,C1.2]"], extra_check=select) == 0
    out = lab_root / "results" / "verify"
    rows = json.loads((out / "verdicts.json").read_text())
    assert [r["claim"] for r in rows] == ["C1.1", "C1.2"] and all(r["passed"] for r in rows)
    assert "| C1.1 |" in (out / "verdicts.md").read_text()
    assert (out / "verdicts.csv").read_text().startswith("claim,")
    from mlflow.tracking import MlflowClient

    c = MlflowClient(store_uri)
    runs = c.search_runs([c.get_experiment_by_name("verify").experiment_id])
    children = {r.data.tags["claims"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert set(children) == {"C1.1", "C1.2"}
    assert all(r.info.status == "FINISHED" for r in runs)
    for row in rows:
        assert children[row["claim"]].data.tags["ledger_key"] == ledger_key(row)
        assert children[row["claim"]].data.metrics["passed"] == 1.0


def test_unknown_claim_is_refused(lab_root, capsys):
    assert main(verify, argv=["claims=[C9.9]", "tracking=off"], extra_check=select) == 2
    assert capsys.readouterr().err.startswith("error: claims: unknown claim 'C9.9'")


def test_wall_clock_claims_go_to_the_timing_files(lab_root, monkeypatch):
    from pipeline.papers.p1 import cost

    monkeypatch.setattr(cost, "median_time", lambda fn, repeats: 1e-3)
    assert main(verify, argv=["profile=ci", "claims=[C1.1,C1.9]", "tracking=off", "profile.verify.cost_ns=[500]",
                              "profile.verify.cost_densities=[0.5]"], extra_check=select) == 0
    out = lab_root / "results" / "verify"
    assert [r["claim"] for r in json.loads((out / "verdicts.json").read_text())] == ["C1.1"]
    timed = json.loads((out / "timing_verdicts.json").read_text())
    assert [r["claim"] for r in timed] == ["C1.9"] and not timed[0]["passed"]  # one point: no slope, no pass
    assert "| C1.9 |" in (out / "timing_verdicts.md").read_text()


def test_verdict_floats_are_rounded_to_fixed_significant_digits():
    """Last-bit BLAS differences (threading, alignment) must not reach verdicts.json: two values
    that differ in the 14th digit round to the same record, non-finite values and ints pass through."""
    from pipeline.core.records import VERDICT_DIGITS, round_floats

    a = {"quad_se": 48.02573315184113, "cells": [{"x": 1.0 / 3.0}], "n": 7, "ok": True, "inf": float("inf")}
    b = {"quad_se": 48.02573315184126, "cells": [{"x": 1.0 / 3.0 + 1e-15}], "n": 7, "ok": True, "inf": float("inf")}
    ra, rb = round_floats(a), round_floats(b)
    assert ra == rb and json.dumps(ra) == json.dumps(rb)
    assert ra["quad_se"] == float(f"{48.02573315184113:.{VERDICT_DIGITS}g}") != a["quad_se"]
    assert ra["n"] == 7 and ra["ok"] is True and ra["inf"] == float("inf")
