"""``python -m pipeline.verify [claims=[C1.1,C1.4]] [profile=full]``: run the claims' checks.

Writes ``<results_dir>/verify/verdicts.json``, ``verdicts.csv`` and
``verdicts.md`` (the ledger's rows; byte-stable) and, for the wall-clock claims
(registered with ``timing=True``), ``timing_verdicts.json/.csv/.md``; mirrors
each verdict to MLflow as a child run of one ``verify`` run. A failed claim is a finding, not an error:
the exit status is 0 whenever every check ran.
"""
from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from pipeline.claims import CLAIMS, Context, Verdict
from pipeline.errors import ConfigError
from pipeline.paths import project_root
from pipeline.results import ledger_key, round_floats, write_json


def select(cfg: DictConfig) -> list[str]:
    """The claims to check: ``claims`` if given, else every registered claim whose studies have results
    (a claim judged on studies is left out, with a note, until its studies have run)."""
    if cfg.claims:
        wanted = list(cfg.claims)
        unknown = [c for c in wanted if c not in CLAIMS]
        if unknown:
            raise ConfigError("claims", f"unknown claim {unknown[0]!r}; registered: {', '.join(sorted(CLAIMS, key=_order))}")
        return wanted
    wanted = []
    for cid in sorted(CLAIMS, key=_order):
        missing = [s for s in CLAIMS[cid].studies if not (Path(cfg.results_dir) / s / "table.csv").is_file()]
        if missing:
            print(f"note: {cid} left out: it is judged on study {missing[0]}, which has no results yet "
                  f"(python -m pipeline -m +study={missing[0]})", file=sys.stderr)
            continue
        wanted.append(cid)
    return wanted


def _order(cid: str):
    head, _, num = cid.partition(".")
    return (head, int(num) if num.isdigit() else num)


def fmt(v) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def ledger_md(rows: list[dict]) -> str:
    head = ("| claim | paper | statement | measured | paper bound | tight reference | verdict | slack |\n"
            "|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['claim']} | {r['paper']} | {r['statement']} | {fmt(r['measured'])} ({r['measured_label']}) | "
        f"{fmt(r['bound']) if r['bound'] is not None else r['bound_label']} | {fmt(r['tight'])} | "
        f"**{r['verdict']}** | {fmt(r['slack'])} |\n" for r in rows)
    return head + body


def verify(cfg: DictConfig) -> list[dict]:
    ids = select(cfg)
    ctx = Context(sizes=cfg.profile.verify, seed=int(cfg.seed), dtype=getattr(torch, cfg.dtype),
                  device=torch.device(cfg.device), results_dir=Path(cfg.results_dir))
    out_dir = Path(cfg.results_dir) / "verify"
    logger_parent = None
    if cfg.tracking.backend != "off":
        from pipeline import tracking

        tracking.ensure_store(cfg.tracking.uri)
        tags = dict(tracking.base_tags(cfg, project_root()), kind="verify", claims=",".join(ids))
        logger_parent = tracking.RunLogger(cfg.tracking.uri, "verify", cfg.tracking.artifact_root,
                                           f"verify {cfg.profile.name}", tags)
    rows = []
    with logger_parent if logger_parent is not None else contextlib.nullcontext():
        for cid in ids:
            c = CLAIMS[cid]
            t0 = time.perf_counter()
            v: Verdict = c.check(ctx)
            row = round_floats(v.as_dict())
            row["seconds"] = time.perf_counter() - t0
            row["mlflow_run_id"] = _mirror(cfg, logger_parent, row) if logger_parent else None
            rows.append(row)
            print(f"{cid:6s} {row['verdict']:4s}  measured {fmt(v.measured)} ({v.measured_label}); "
                  f"bound {fmt(v.bound) if v.bound is not None else v.bound_label}; tight {fmt(v.tight)} "
                  f"[{row['seconds']:.1f} s]")
        clean = [{k: r[k] for k in r if k not in ("seconds", "mlflow_run_id")} for r in rows]
        for prefix, part in (("", [r for r in clean if not CLAIMS[r["claim"]].timing]),
                             ("timing_", [r for r in clean if CLAIMS[r["claim"]].timing])):
            if part or not (out_dir / f"{prefix}verdicts.json").exists():
                write_json(out_dir / f"{prefix}verdicts.json", part)
                _csv(out_dir / f"{prefix}verdicts.csv", part)
                title = "Wall-clock verdicts" if prefix else "Verdicts"
                (out_dir / f"{prefix}verdicts.md").write_text(f"# {title} ({cfg.profile.name} profile)\n\n{ledger_md(part)}")
        write_json(out_dir / "timing_verify.json", {r["claim"]: {"seconds": r["seconds"], "mlflow_run_id": r["mlflow_run_id"]}
                                                   for r in rows})
        if logger_parent is not None:
            logger_parent.metrics({"passed": sum(r["passed"] for r in rows), "failed": sum(not r["passed"] for r in rows)})
            logger_parent.artifacts([out_dir / "verdicts.json", out_dir / "verdicts.md"])
            logger_parent.set_tags({"status": "finished"})
            logger_parent.end("FINISHED")
    print(f"verdicts: {out_dir / 'verdicts.md'}")
    return rows


def _csv(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    flat = [{k: v for k, v in r.items() if k != "details"} for r in rows]
    pd.DataFrame(flat).to_csv(path, index=False, float_format="%.6g")


def _mirror(cfg: DictConfig, parent, row: dict) -> str:
    from pipeline import tracking

    tags = dict(tracking.base_tags(cfg, project_root()), claims=row["claim"], paper=row["paper"],
                verdict=row["verdict"], kind="claim", ledger_key=ledger_key(row))
    with tracking.RunLogger(cfg.tracking.uri, "verify", cfg.tracking.artifact_root, row["claim"], tags,
                            parent.run_id) as log:
        log.log_params({"statement": row["statement"], "criterion": row["criterion"],
                        "bound_label": row["bound_label"], "measured_label": row["measured_label"],
                        **{f"sizes.{k}": v for k, v in tracking.flatten(OmegaConf.to_container(cfg.profile.verify)).items()}})
        log.metrics({"measured": row["measured"], "bound": row["bound"], "tight": row["tight"],
                     "slack": row["slack"] if row["slack"] not in (None, float("inf")) else None,
                     "passed": float(row["passed"]), "seconds": row["seconds"]})
        log.set_tags({"status": "finished"})
        log.end("FINISHED")
        return log.run_id


def main() -> None:
    from pipeline.cli import main as cli_main

    sys.exit(cli_main(verify, extra_check=lambda cfg: select(cfg)))


if __name__ == "__main__":
    main()
