"""``python -m pipeline.verify [claims=[C1.1,C1.4]] [profile=full]``: run the claims' checks.

Writes ``<results_dir>/verify/verdicts.json``, ``verdicts.csv`` and ``verdicts.md`` (the ledger's
rows in the registry's order; byte-stable) and, for the wall-clock claims (registered with
``timing=True``), ``timing_verdicts.json/.csv/.md``; mirrors each verdict to the tracking sink as a
child run of one ``verify`` run. A failed claim is a finding, not an error: the exit status is 0
whenever every check ran.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from pipeline import papers, tracking
from pipeline.cli import main as front_door
from pipeline.core.errors import ConfigError
from pipeline.core.records import flatten, ledger_key, round_floats, study_tags, write_json
from pipeline.core.sink import Run, Sink


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


def ledger_md(rows: list[dict]) -> str:
    head = ("| claim | paper | regime | statement | measured | paper bound | tight reference | verdict | slack |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['claim']} | {r['paper']} | {r.get('regime') or '—'} | {r['statement']} | "
        f"{fmt(r['measured'])} ({r['measured_label']}) | "
        f"{fmt(r['bound']) if r['bound'] is not None else r['bound_label']} | {fmt(r['tight'])} | "
        f"**{r['verdict']}** | {fmt(r['slack'])} |\n" for r in rows)
    return head + body


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


def check_all(cfg: DictConfig, ids: list[str], sink: Sink, parent: Run) -> list[dict]:
    """Run each claim's check; its rounded verdict record, with the seconds it took and its run id."""
    ctx = papers.Context(sizes=cfg.profile.verify, seed=int(cfg.seed), dtype=getattr(torch, cfg.dtype),
                         device=torch.device(cfg.device), results_dir=Path(cfg.results_dir))
    rows = []
    for cid in ids:
        claim = papers.CLAIMS[cid]
        for regime in claim.regimes or (None,):
            t0 = time.perf_counter()
            v = claim.run(dataclasses.replace(ctx, regime=regime))
            row = round_floats(v.as_dict())
            row["seconds"] = time.perf_counter() - t0
            row["mlflow_run_id"] = mirror(sink, parent, cfg, row)
            rows.append(row)
            print(f"{papers.label(row):6s} {row['verdict']:4s}  measured {fmt(v.measured)} ({v.measured_label}); "
                  f"bound {fmt(v.bound) if v.bound is not None else v.bound_label}; tight {fmt(v.tight)} "
                  f"[{row['seconds']:.1f} s]")
    return rows


def write_verdicts(rows: list[dict], out_dir: Path, profile: str) -> None:
    """The verdict files: main and wall-clock ones apart; a set left untouched when this run has none
    of its claims and its files exist. ``timing_verify.json``: seconds and run id per claim."""
    import pandas as pd

    clean = [{k: r[k] for k in r if k not in ("seconds", "mlflow_run_id")} for r in rows]
    for prefix, part in (("", [r for r in clean if not papers.CLAIMS[r["claim"]].timing]),
                         ("timing_", [r for r in clean if papers.CLAIMS[r["claim"]].timing])):
        if part or not (out_dir / f"{prefix}verdicts.json").exists():
            write_json(out_dir / f"{prefix}verdicts.json", part)
            pd.DataFrame([{k: v for k, v in r.items() if k != "details"} for r in part]).to_csv(
                out_dir / f"{prefix}verdicts.csv", index=False, float_format="%.6g")
            title = "Wall-clock verdicts" if prefix else "Verdicts"
            (out_dir / f"{prefix}verdicts.md").write_text(f"# {title} ({profile} profile)\n\n{ledger_md(part)}")
    write_json(out_dir / "timing_verify.json", {papers.label(r): {"seconds": r["seconds"], "mlflow_run_id": r["mlflow_run_id"]}
                                               for r in rows})


def verify(cfg: DictConfig) -> list[dict]:
    ids = select(cfg)
    out_dir = Path(cfg.results_dir) / "verify"
    sink = tracking.sink(cfg.tracking)
    sink.open()
    tags = dict(study_tags(cfg), kind="verify", claims=",".join(ids))
    with sink.run(f"verify {cfg.profile.name}", tags, experiment="verify") as parent:
        rows = check_all(cfg, ids, sink, parent)
        write_verdicts(rows, out_dir, cfg.profile.name)
        parent.metrics({"passed": sum(r["passed"] for r in rows), "failed": sum(not r["passed"] for r in rows)})
        parent.artifacts([out_dir / "verdicts.json", out_dir / "verdicts.md"])
        parent.tags({"status": "finished"})
        parent.end("FINISHED")
    print(f"verdicts: {out_dir / 'verdicts.md'}")
    return rows


def main() -> None:
    sys.exit(front_door(verify, extra_check=lambda cfg: select(cfg)))


if __name__ == "__main__":
    main()
