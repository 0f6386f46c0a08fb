"""The verify stage: verdict files, MLflow mirror with ledger keys, unknown claims refused."""
from __future__ import annotations

import json
import shutil

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


def test_verdicts_do_not_depend_on_the_number_of_worker_processes(lab_root, store_uri):
    """jobs=2 runs the checks in two spawned workers (C1.4 per case, C3.5 on its own instances) and writes
    the same verdict files, byte for byte, as jobs=1; every claim still has its FINISHED child run."""
    out = lab_root / "results" / "verify"
    files = {}
    for jobs in (1, 2):
        shutil.rmtree(out, ignore_errors=True)  # each run writes a fresh set (a second one would merge)
        assert main(verify, argv=["profile=ci", "claims=[C1.1,C1.4,C2.1,C3.5]", f"jobs={jobs}"], extra_check=select) == 0
        files[jobs] = {f: (out / f).read_bytes() for f in ("verdicts.json", "verdicts.md", "metrics.json")}
    assert files[1] == files[2]
    from mlflow.tracking import MlflowClient

    c = MlflowClient(store_uri)
    runs = c.search_runs([c.get_experiment_by_name("verify").experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.tags["claims"] for r in children) == sorted(["C1.1", "C1.4", "C2.1", "C3.5"] * 2)
    assert all(r.info.status == "FINISHED" for r in runs)


def test_unknown_claim_is_refused(lab_root, capsys):
    assert main(verify, argv=["claims=[C9.9]", "tracking=off"], extra_check=select) == 2
    assert capsys.readouterr().err.startswith("error: claims: unknown claim 'C9.9'")


def test_wall_clock_claims_go_to_the_timing_files(lab_root, monkeypatch):
    from pipeline.papers.p1 import cost

    monkeypatch.setattr(cost, "median_times", lambda fn, repeats: (1e-3, 1e-3))
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


def full_set(timing: bool) -> list[dict]:
    """A complete verdict set as an earlier full run left it: one row per registered claim and regime."""
    from pipeline import papers

    return [{"claim": c.id, "paper": c.paper, "statement": c.statement, "criterion": c.criterion, "measured": 0.123,
             "measured_label": "earlier", "bound": None, "bound_label": "b", "tight": None, "passed": False,
             "slack": 0.5, "details": {}, "regime": r, "verdict": "fail"}
            for c in papers.claims() if c.timing == timing for r in c.regimes or ("",)]


def test_a_partial_run_merges_into_the_full_set(lab_root, capsys):
    """verify claims=[C1.1] replaces C1.1's row and keeps every other verdict, in the registry's order
    (it used to overwrite the set with C1.1 alone)."""
    from pipeline.core.records import write_json

    out = lab_root / "results" / "verify"
    before, timed = full_set(False), full_set(True)
    write_json(out / "verdicts.json", before)
    write_json(out / "timing_verdicts.json", timed)
    assert main(verify, argv=["profile=ci", "claims=[C1.1]", "tracking=off"], extra_check=select) == 0
    after = json.loads((out / "verdicts.json").read_text())
    assert [(r["claim"], r["regime"]) for r in after] == [(r["claim"], r["regime"]) for r in before]
    fresh = next(r for r in after if r["claim"] == "C1.1")
    assert fresh["passed"] and fresh["measured"] != 0.123 and fresh["slack"] >= 1
    assert [r for r in after if r["claim"] != "C1.1"] == [r for r in before if r["claim"] != "C1.1"]
    assert json.loads((out / "timing_verdicts.json").read_text()) == timed  # no wall-clock claim ran
    said = capsys.readouterr().out
    assert f"updated C1.1; kept the other {len(before) - 1} verdicts" in said
    md = (out / "verdicts.md").read_text()
    assert all(md.count(f"\n| {r['claim']} | {r['paper']} | {r['regime'] or '—'} |") == 1 for r in before)
    assert "ci profile for C1.1" in md
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics) == len(before) and metrics["C1.1"]["pass"] == 1 and metrics["C2.7 [softmax]"]["pass"] == 0


def test_a_partial_run_of_a_claim_judged_per_regime_replaces_all_its_rows(lab_root):
    from pipeline.verify import merge

    before = full_set(False)
    fresh = [dict(r, measured=1.0) for r in before if r["claim"] == "C2.9"][::-1]  # order restored by the merge
    rows, kept = merge(before, fresh, ["C2.9"])
    assert kept == len(before) - 2 and [(r["claim"], r["regime"]) for r in rows] == \
        [(r["claim"], r["regime"]) for r in before]
    assert [r["measured"] for r in rows if r["claim"] == "C2.9"] == [1.0, 1.0]
    gone = dict(before[0], claim="X9.C1")  # a claim no longer registered: kept, at the end
    assert merge([gone] + before, fresh, ["C2.9"])[0][-1] == gone


def test_wall_clock_verdicts_merge_the_same_way(lab_root, monkeypatch):
    from pipeline import papers
    from pipeline.core.records import write_json
    from pipeline.papers.p1 import cost

    monkeypatch.setattr(cost, "median_times", lambda fn, repeats: (1e-3, 1e-3))
    out = lab_root / "results" / "verify"
    timed = full_set(True)
    write_json(out / "timing_verdicts.json", timed)
    assert main(verify, argv=["profile=ci", "claims=[C1.9]", "tracking=off", "profile.verify.cost_ns=[500]",
                              "profile.verify.cost_densities=[0.5]"], extra_check=select) == 0
    after = json.loads((out / "timing_verdicts.json").read_text())
    wall_clock = [c.id for c in papers.claims() if c.timing]
    assert [r["claim"] for r in after] == [r["claim"] for r in timed] == wall_clock and wall_clock[:2] == ["C1.9", "C3.11"]
    assert after[0]["measured_label"] != "earlier" and after[1:] == timed[1:]
    assert set(json.loads((out / "timing_metrics.json").read_text())) == set(wall_clock)
    assert set(json.loads((out / "timing_verify.json").read_text())) == {"C1.9"}


def metrics_are_numbers(metrics: dict) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for m in metrics.values() for v in m.values())


def test_the_metrics_for_dvc_are_numbers_rounded_and_stable(lab_root):
    from pipeline.verify import metrics

    rows = [{"claim": "C1.1", "regime": "", "measured": 5.2077876e-10, "passed": True, "slack": 1920.2012},
            {"claim": "C2.7", "regime": "softmax", "measured": 0.47347777, "passed": False, "slack": 0.99999999},
            {"claim": "C3.2", "regime": "", "measured": 0.0, "passed": True, "slack": float("inf")}]
    m = metrics(rows)
    assert m == {"C1.1": {"pass": 1, "value": 5.20779e-10, "slack": 1920.2},
                 "C2.7 [softmax]": {"pass": 0, "value": 0.473478, "slack": 0.999999},
                 "C3.2": {"pass": 1, "value": 0.0}}  # an infinite slack is no number for DVC
    assert metrics_are_numbers(m) and json.dumps(metrics(rows)) == json.dumps(m)


def slack_agrees(row: dict) -> bool:
    s = row["slack"]
    return s is None or (float(s) >= 1) == row["passed"]


def test_every_verdict_of_a_run_passes_exactly_when_its_slack_is_at_least_one(lab_root):
    """The ledger reads true: on the verdicts of a run (and on the committed ones of the quick profile),
    pass ⇔ slack ≥ 1 wherever a slack is given — tolerances are part of the slack."""
    from tests.conftest import PROJECT

    assert main(verify, argv=["profile=ci", "claims=[C1.1,C1.2,C3.1,C3.5,C3.8]", "tracking=off"],
                extra_check=select) == 0
    files = [lab_root / "results" / "verify" / "verdicts.json"]
    files += [f for f in (PROJECT / "results" / "verify").glob("*verdicts.json")]
    for f in files:
        rows = json.loads(f.read_text())
        assert rows and all(slack_agrees(r) for r in rows), [(r["claim"], r["slack"], r["passed"]) for r in rows
                                                            if not slack_agrees(r)]
        metrics = json.loads(f.with_name(f.name.replace("verdicts", "metrics")).read_text())
        assert metrics_are_numbers(metrics) and all(("slack" not in m) or (m["slack"] >= 1) == m["pass"]
                                                    for m in metrics.values())
