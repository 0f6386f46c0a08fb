"""``python -m pipeline.verify [claims=[C1.1,C1.4]] [profile=full] [jobs=2]``: run the claims' checks.

``jobs`` > 1 runs the checks that are not wall-clock in that many worker processes (the wall-clock ones
then run alone); every check runs on ``threads`` threads, so the verdicts are the same for any ``jobs``.

Writes ``<results_dir>/verify/verdicts.json``, ``verdicts.csv`` and ``verdicts.md`` (the ledger's
rows in the registry's order, each with its pass criterion, verdict and slack; byte-stable),
``metrics.json`` (per verdict its measured value, pass as 1 or 0 and slack, numbers only, for DVC's
``metrics diff``) and, for the wall-clock claims (registered with ``timing=True``), the same files
prefixed ``timing_``; mirrors each verdict to the tracking sink as a child run of one ``verify`` run.

Without ``claims`` the run writes the whole set afresh. With ``claims`` it is partial: the named
claims' rows replace theirs in the set already on disk and every other row is kept, in the registry's
order; it says which claims it updated and how many verdicts it kept. A failed claim is a finding, not
an error: the exit status is 0 whenever every check ran.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from pipeline import job, papers, tracking
from pipeline.cli import main as front_door
from pipeline.core.errors import ConfigError
from pipeline.core.records import VERDICT_DIGITS, flatten, ledger_key, round_floats, study_tags, write_json
from pipeline.core.sink import Run, Sink

#: Significant digits of the numbers in metrics.json (slacks rounded toward zero, so that ≥ 1 ⇔ pass).
METRIC_DIGITS = 6


def select(cfg: DictConfig) -> list[str]:
    """The claims to check: ``claims`` if given, else every registered claim whose studies have results
    (a claim judged on studies is left out, with a note, until its studies have run)."""
    registered = [c.id for c in papers.claims()]
    if cfg.claims:
        wanted = list(cfg.claims)
        unknown = [c for c in wanted if c not in registered]
        if unknown:
            raise ConfigError("claims", f"unknown claim {unknown[0]!r}; registered: {', '.join(registered)}")
        return wanted
    wanted = []
    for c in papers.claims():
        missing = [s for s in c.studies if not (Path(cfg.results_dir) / s / "table.csv").is_file()]
        if missing:
            print(f"note: {c.id} left out: it is judged on study {missing[0]}, which has no results yet "
                  f"(python -m pipeline -m +study={missing[0]})", file=sys.stderr)
            continue
        wanted.append(c.id)
    return wanted


def fmt(v) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def cell(text) -> str:
    """Text for a Markdown table cell (a ``|`` in a criterion would end the cell)."""
    return str(text).replace("|", "\\|")


def ledger_md(rows: list[dict]) -> str:
    """The verdicts as a Markdown table: the measured value beside the pass criterion (tolerances
    included), the verdict and the slack (at least 1 exactly when the claim passes)."""
    head = ("| claim | paper | regime | statement | measured | pass criterion | verdict | slack | paper bound | "
            "tight reference |\n|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['claim']} | {r['paper']} | {r.get('regime') or '—'} | {cell(r['statement'])} | "
        f"{fmt(r['measured'])} ({cell(r['measured_label'])}) | {cell(r['criterion'])} | **{r['verdict']}** | "
        f"{papers.slack_text(r['slack'])} | {fmt(r['bound']) if r['bound'] is not None else cell(r['bound_label'])} | "
        f"{fmt(r['tight'])} |\n" for r in rows)
    return head + body


SLACK_NOTE = ("Slack: the smallest margin of the pass criterion's conditions, tolerances included (for a "
              "bound, limit/measured or measured/limit; for a band, its half-width over the distance from its "
              "centre; 0 for a failed control): at least 1 exactly when the claim passes, rounded toward zero.")


def position(row: dict) -> tuple:
    """A verdict's place in the ledger: the registry's order of claims, then the claim's order of regimes;
    rows of claims no longer registered come last."""
    c = papers.CLAIMS.get(row["claim"])
    if c is None:
        return (1,)
    regime = row.get("regime") or ""
    return (0, papers.order(c.id), c.regimes.index(regime) if regime in c.regimes else -1)


def merge(previous: list[dict], fresh: list[dict], ids: list[str]) -> tuple[list[dict], int]:
    """The verdict set after a partial run of the claims ``ids``: their fresh rows replace all their
    previous rows (every regime), every other previous row is kept; in ledger order. Also the number
    of rows kept."""
    kept = [r for r in previous if r["claim"] not in set(ids)]
    return sorted(kept + fresh, key=position), len(kept)


def metrics(rows: list[dict]) -> dict[str, dict[str, float]]:
    """``metrics.json``: per verdict (``C1.4``, ``C2.7 [softmax]``) its measured value, pass (1 or 0) and
    slack, numbers only, to METRIC_DIGITS significant digits (a value or slack that is not a finite
    number is left out)."""
    out = {}
    for r in rows:
        m: dict[str, float] = {"pass": int(bool(r["passed"]))}
        if isinstance(r["measured"], (int, float)) and math.isfinite(r["measured"]):
            m["value"] = round_floats(float(r["measured"]), METRIC_DIGITS)
        if isinstance(r["slack"], (int, float)) and math.isfinite(r["slack"]):
            m["slack"] = papers.round_down(float(r["slack"]), METRIC_DIGITS)
        out[papers.label(r)] = m
    return out


def mirror(sink: Sink, parent: Run, cfg: DictConfig, row: dict) -> str | None:
    """One claim's verdict as a child run of the verify run (tag ``ledger_key``, as in the report)."""
    tags = dict(study_tags(cfg), claims=row["claim"], paper=row["paper"], verdict=row["verdict"], kind="claim",
                ledger_key=ledger_key(row), regime=row.get("regime") or "")
    with sink.run(papers.label(row), tags, parent.run_id, experiment="verify") as run:
        run.params({"statement": row["statement"], "criterion": row["criterion"], "bound_label": row["bound_label"],
                    "measured_label": row["measured_label"],
                    **{f"sizes.{k}": v for k, v in flatten(OmegaConf.to_container(cfg.profile.verify)).items()}})
        run.metrics({"measured": row["measured"], "bound": row["bound"], "tight": row["tight"],
                     "slack": row["slack"] if row["slack"] not in (None, float("inf")) else None,
                     "passed": float(row["passed"]), "seconds": row["seconds"]})
        run.tags({"status": "finished"})
        run.end("FINISHED")
        return run.run_id


def context(cfg: DictConfig) -> papers.Context:
    """The checks' context: the profile's sizes, seed, dtype, device and where the study tables are."""
    return papers.Context(sizes=cfg.profile.verify, seed=int(cfg.seed), dtype=getattr(torch, cfg.dtype),
                          device=torch.device(cfg.device), results_dir=Path(cfg.results_dir))


def judge(ctx: papers.Context, cid: str, regime: str | None) -> dict:
    """One verdict of a claim (one regime of a claim judged per regime): its rounded record with the seconds
    it took."""
    t0 = time.perf_counter()
    v = papers.CLAIMS[cid].run(dataclasses.replace(ctx, regime=regime))
    row = round_floats(v.as_dict())
    row["slack"] = papers.round_down(v.slack, VERDICT_DIGITS)  # toward zero: still ≥ 1 exactly on a pass
    row["seconds"] = time.perf_counter() - t0
    return row


def _worker(container: dict, threads: int, cid: str, regime: str | None) -> dict:
    """A verdict computed in a worker process (``jobs`` > 1): the same context, rebuilt from the config."""
    job.limit_threads(threads)
    papers.load()
    return judge(context(OmegaConf.create(container)), cid, regime)


def check_all(cfg: DictConfig, ids: list[str], sink: Sink, parent: Run) -> list[dict]:
    """Run each claim's check; its rounded verdict record, with the seconds it took and its run id.

    Every check runs on ``threads`` torch/BLAS threads, so that a verdict does not depend on ``jobs``.
    With ``jobs`` > 1 the checks that are not wall-clock run in that many worker processes, the longest
    first (by the seconds of the previous run, ``timing_verify.json``); the wall-clock checks then run
    one at a time in this process, with the machine to themselves. The rows come back in ledger order."""
    job.limit_threads(int(cfg.threads))
    ctx = context(cfg)
    tasks = [(cid, regime) for cid in ids for regime in papers.CLAIMS[cid].regimes or (None,)]
    rows: dict[tuple, dict] = {}

    def done(key: tuple, row: dict) -> None:
        row["mlflow_run_id"] = mirror(sink, parent, cfg, row)
        rows[key] = row
        print(f"{papers.label(row):6s} {row['verdict']:4s}  measured {fmt(row['measured'])} ({row['measured_label']}); "
              f"bound {fmt(row['bound']) if row['bound'] is not None else row['bound_label']}; tight {fmt(row['tight'])} "
              f"[{row['seconds']:.1f} s]", flush=True)

    pooled = [t for t in tasks if not papers.CLAIMS[t[0]].timing] if int(cfg.jobs) > 1 else []
    if len(pooled) > 1:
        import concurrent.futures
        import multiprocessing

        before = previous_seconds(Path(cfg.results_dir) / "verify")
        pooled.sort(key=lambda t: -before.get(papers.label({"claim": t[0], "regime": t[1]}), math.inf))
        container = OmegaConf.to_container(cfg, resolve=True)
        with concurrent.futures.ProcessPoolExecutor(int(cfg.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_worker, container, int(cfg.threads), *t): t for t in pooled}
            for f in concurrent.futures.as_completed(futures):
                done(futures[f], f.result())
    for t in tasks:
        if t not in rows:
            done(t, judge(ctx, *t))
    return [rows[t] for t in tasks]


def previous_seconds(out_dir: Path) -> dict[str, float]:
    """Seconds per verdict label of the previous run (``timing_verify.json``; empty when there is none)."""
    path = out_dir / "timing_verify.json"
    try:
        return {k: float(v["seconds"]) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write_set(out_dir: Path, prefix: str, rows: list[dict], title: str) -> None:
    """One verdict set: ``<prefix>verdicts.json/.csv/.md`` and ``<prefix>metrics.json``."""
    import pandas as pd

    write_json(out_dir / f"{prefix}verdicts.json", rows)
    pd.DataFrame([{k: v for k, v in r.items() if k != "details"} for r in rows]).to_csv(
        out_dir / f"{prefix}verdicts.csv", index=False, float_format="%.6g")
    (out_dir / f"{prefix}verdicts.md").write_text(f"# {title}\n\n{SLACK_NOTE}\n\n{ledger_md(rows)}")
    write_json(out_dir / f"{prefix}metrics.json", metrics(rows))


def write_verdicts(rows: list[dict], out_dir: Path, profile: str, ids: list[str] | None = None) -> list[str]:
    """The verdict files: main and wall-clock ones apart. A full run (``ids`` None) writes each set afresh,
    and leaves a set untouched when it has none of its claims and its files exist; a partial run merges
    its rows into each set on disk (:func:`merge`). ``timing_verify.json``: seconds and run id per
    verdict. Returns what it did, one line per set."""
    clean = [{k: r[k] for k in r if k not in ("seconds", "mlflow_run_id")} for r in rows]
    said = []
    for prefix, timing in (("", False), ("timing_", True)):
        part = [r for r in clean if papers.CLAIMS[r["claim"]].timing == timing]
        path, name = out_dir / f"{prefix}verdicts.json", "Wall-clock verdicts" if timing else "Verdicts"
        if ids is not None and path.is_file():
            if not part:
                continue
            updated = ", ".join(dict.fromkeys(r["claim"] for r in part))
            part, kept = merge(json.loads(path.read_text()), part, ids)
            write_set(out_dir, prefix, part, f"{name} ({profile} profile for {updated}; the other {kept} kept "
                                             f"from an earlier run)")
            said.append(f"{path}: updated {updated}; kept the other {kept} verdicts")
        elif part or not path.is_file():
            write_set(out_dir, prefix, part, f"{name} ({profile} profile)")
            said.append(f"{path}: {len(part)} verdicts")
    timing = {papers.label(r): {"seconds": r["seconds"], "mlflow_run_id": r["mlflow_run_id"]} for r in rows}
    previous = out_dir / "timing_verify.json"
    if ids is not None and previous.is_file():
        timing = {k: v for k, v in json.loads(previous.read_text()).items()
                  if k.split(" ")[0] not in set(ids)} | timing
    write_json(previous, timing)
    return said


def verify(cfg: DictConfig) -> list[dict]:
    ids = select(cfg)
    out_dir = Path(cfg.results_dir) / "verify"
    sink = tracking.sink(cfg.tracking)
    sink.open()
    tags = dict(study_tags(cfg), kind="verify", claims=",".join(ids))
    with sink.run(f"verify {cfg.profile.name}", tags, experiment="verify") as parent:
        rows = check_all(cfg, ids, sink, parent)
        said = write_verdicts(rows, out_dir, cfg.profile.name, ids if cfg.claims else None)
        parent.metrics({"passed": sum(r["passed"] for r in rows), "failed": sum(not r["passed"] for r in rows)})
        parent.artifacts([out_dir / "verdicts.json", out_dir / "verdicts.md"])
        parent.tags({"status": "finished"})
        parent.end("FINISHED")
    print("\n".join(f"verdicts: {line}" for line in said))
    return rows


def main() -> None:
    sys.exit(front_door(verify, extra_check=lambda cfg: select(cfg)))


if __name__ == "__main__":
    main()
