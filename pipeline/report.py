"""``python -m pipeline.report``: the theorem ledger, ``reports/theorems.md`` and ``.html``.

Reads only result files: ``results/verify/verdicts.json`` (one row per claim)
and, for every study in ``conf/study/`` (and in the config folders of papers outside the lab), its
``fit.csv`` and figure; the papers' titles, authors, arXiv ids and notes come from the registry
(:mod:`pipeline.papers`). Writes a
Markdown ledger and a self-contained HTML page (inline style, figures embedded
as data URIs; links only to arXiv and to the notes in docs/theory/). Both are byte-stable: no
timestamps, no absolute paths, no MLflow run ids (those differ on every rerun); each claim instead
carries a ledger key, the tag ``ledger_key`` of its MLflow run in the ``verify`` experiment. Each
claim's row shows the measured value beside its pass criterion, the verdict and the slack (at least
1 exactly when the claim passes), and links to the claim's write-up in docs/theory/.
"""
from __future__ import annotations

import base64
import html
import json
import sys
from pathlib import Path

from omegaconf import DictConfig

from pipeline import papers
from pipeline.cli import main as front_door
from pipeline.core.errors import ConfigError
from pipeline.core.paths import CONF_DIR
from pipeline.core.records import ledger_key
from pipeline.studies import catalogue


def fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def studies(results: Path) -> list[dict]:
    """Every study of conf/study and of the papers outside the lab, with its fit table and figure (if its
    results exist)."""
    return catalogue([CONF_DIR / "study", *papers.study_dirs()], results)


def _regimes(fit) -> list[str]:
    """The instance regimes of a study's fit table ('' for a study without them)."""
    if "regime" not in fit.columns:
        return [""]
    return sorted(set(fit["regime"].astype(object).fillna("").astype(str)), key=lambda r: (r != "", r != "regulariser", r))


def summary_rows(verdicts: list[dict], study_list: list[dict]) -> list[dict]:
    """Passed / failed / paper-bound-unknown counts per paper and instance regime (claims and study laws);
    regime '' gathers the checks on their own instances."""
    rows: dict[tuple[str, str], dict] = {}

    def row(paper: str, regime: str) -> dict:
        return rows.setdefault((paper, regime), {"paper": paper, "regime": regime, "passed": 0, "failed": 0,
                                                 "unknown": 0, "laws": ""})

    for v in verdicts:
        p = row(v["paper"], v.get("regime") or "")
        p["passed" if v["passed"] else "failed"] += 1
        p["unknown"] += v["bound"] is None
    for s in study_list:
        if s["fit"] is None:
            continue
        for regime in _regimes(s["fit"]):
            fit = s["fit"] if regime == "" else s["fit"][s["fit"]["regime"].astype(object).fillna("").astype(str) == regime]
            if s["kind"] == "trace":
                text = f"{s['name']}: convergence curves, summary per start and solver"
            else:
                judged = fit[fit.verdict.isin(["pass", "fail"])]
                ok = int((judged.verdict == "pass").sum())
                text = (f"{s['name']}: {ok}/{len(judged)} slopes in band" if len(judged)
                        else f"{s['name']}: no law stated, fits reported")
            p = row(s["paper"], regime)
            p["laws"] = (p["laws"] + "; " if p["laws"] else "") + text
    order = {"": 0, "regulariser": 1, "softmax": 2}
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], order.get(k[1], 3), k[1]))]


def claim_figure(v: dict, study_list: list[dict], results: Path) -> tuple[str, Path | None]:
    """The verdict's own figure (results/figures/<claim>[_<regime>].png), else that of a study that lists
    its claim."""
    name = papers.slug(v)
    for own in (results / "figures" / f"{name}.png", results / "figures" / f"{name}_timing.png"):
        if own.is_file():
            return name, own
    for s in study_list:
        if v["claim"] in s["claims"] and s["figure"] is not None:
            return s["name"], s["figure"]
    return "", None


def evidence_table(v: dict):
    """A claim's own table of evidence (``details["table"]``: a list of rows; columns in the order of
    ``details["table_columns"]`` if given), as (columns, rows), or None."""
    details = v.get("details") or {}
    rows = details.get("table")
    if not rows or not isinstance(rows, list) or not isinstance(rows[0], dict):
        return None
    return list(details.get("table_columns") or rows[0]), rows


def figure_rel(fig: Path | None, out_dir: Path) -> str:
    if fig is None:
        return ""
    return Path("..", fig.relative_to(out_dir.parent)).as_posix() if fig.is_relative_to(out_dir.parent) else fig.name


# --------------------------------------------------------------------------- Markdown
INTRO = ("A paper's constant that is not known is reported as unknown, next to the tight value measured here. "
         "The MLflow run of a claim is the run of experiment `verify` whose tag `ledger_key` is the key shown. "
         "Each claim links to its write-up in docs/theory/: the formulas, what the check does and why.")
SLACK_NOTE = ("Slack: how far the measurement sits inside its pass criterion, tolerances included: the smallest "
              "margin over the criterion's conditions (limit/measured or measured/limit for a bound, half the "
              "band's width over the distance from its centre for a band, 0 for a failed control). A claim passes "
              "exactly when its slack is at least 1; slacks are rounded toward zero, so a failure never reads 1.")
OWN = "own instances"
REGIME_NOTE = ("Instance regime: `regulariser` is the construction of the papers' notes in docs/theory/ (large "
               "weights: the curvature at x* is the regulariser's); `softmax` lowers the weights and spreads the "
               "logits so that the softmax term carries it (the measured softmax share is in each study's table "
               "and figure); see docs/theory/regimes.md. "
               f"`{OWN}`: checks of lemmas on instances of their own, described in their criteria.")
#: Where the project's files are seen from the report folder (reports/ sits beside docs/ and results/).
ROOT = "../"


def cell(text) -> str:
    """Text for a Markdown table cell (a ``|`` in a criterion would end the cell)."""
    return str(text).replace("|", "\\|")


def text_or_dash(v) -> str:
    """A text cell, '—' when empty or missing (NaN after a CSV round trip)."""
    return "—" if v is None or v != v or str(v) == "" else str(v)


TIMING_NOTE = ("Wall-clock claims and timing studies change from run to run, so they are kept out of this "
               "byte-reproducible page: their verdicts are in the timing ledger, theorems_timing.md / .html.")


def timed_items(timed_claims, timed_studies) -> list[str]:
    return ([f"**{c['claim']}** ({c['paper']}): {c['statement']}" for c in timed_claims]
            + [f"study **{s['name']}** ({s['paper']}): {s['title']}" for s in timed_studies])


def timed_pointers(timed_claims, timed_studies) -> list[str]:
    """Markdown lines that point from the main ledger to the timing ledger."""
    items = ["- " + t for t in timed_items(timed_claims, timed_studies)]
    return (["", "## Wall-clock claims and studies", "", TIMING_NOTE + " See [theorems_timing.md](theorems_timing.md).",
             ""] + items) if items else []


def paper_rows(ids) -> list:
    """The registered papers among ``ids`` (every registered paper when ``ids`` is None), in ledger order."""
    return [p for p in papers.papers() if ids is None or p.id in ids]


def papers_md(ids=None) -> list[str]:
    """The papers the ledger checks: id, title, authors, venue, arXiv id and link, and their notes."""
    lines = ["## Papers", "", "| paper | title | authors | venue | arXiv | notes |", "|---|---|---|---|---|---|"]
    for p in paper_rows(ids):
        arxiv = f"[{p.arxiv}]({p.link})" if p.link else (p.arxiv or "unknown")
        notes = f"[{p.notes}]({ROOT}{p.notes})" if p.notes else "—"
        lines.append(f"| {p.id} | {p.title} | {p.authors} | {p.venue or 'not known'} | {arxiv} | {notes} |")
    return lines + [""]


def claim_md(v: dict) -> str:
    """A verdict's name in the ledger, linked to its claim's write-up when its paper has notes."""
    link = papers.notes_link(v, ROOT)
    return f"[{papers.label(v)}]({link})" if link else papers.label(v)


def claims_md(verdicts, study_list, out_dir: Path, results: Path) -> list[str]:
    """The claims table: the measured value beside its pass criterion, the verdict and its slack."""
    lines = ["## Claims", "", SLACK_NOTE, "",
             "| claim | paper | statement | measured | pass criterion | verdict | slack | paper's bound | "
             "tight reference | figure | MLflow ledger key |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in verdicts:
        name, path = claim_figure(v, study_list, results)
        fig = f"[{name}]({figure_rel(path, out_dir)})" if path else "—"
        bound = f"{fmt(v['bound'])} ({v['bound_label']})" if v["bound"] is not None else f"unknown ({v['bound_label']})"
        lines.append(f"| {claim_md(v)} | {v['paper']} | {cell(v['statement'])} | {fmt(v['measured'])} "
                     f"({cell(v['measured_label'])}) | {cell(v['criterion'])} | **{v['verdict']}** | "
                     f"{papers.slack_text(v['slack'])} | {cell(bound)} "
                     f"| {fmt(v['tight'])} | {fig} | `{ledger_key(v)}` |")
    return lines


def evidence_md(verdicts, out_dir: Path, results: Path) -> list[str]:
    """Each claim's own figure and table of evidence, under a heading that links to its write-up."""
    own = [(v, p) for v in verdicts for n, p in [claim_figure(v, [], results)] if p or evidence_table(v)]
    lines = ["", "## Evidence of the claims", ""] if own else []
    for v, p in own:
        link = papers.notes_link(v, ROOT)
        lines += [f"### {papers.label(v)}", ""] + ([f"What is checked, and why: [{link[len(ROOT):]}]({link}).", ""]
                                                    if link else [])
        if p:
            lines += [f"![{papers.label(v)}]({figure_rel(p, out_dir)})", ""]
        cols, rows = evidence_table(v) or ((), ())
        if rows:
            lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
            lines.append("")
    return lines


def study_md(s, out_dir: Path) -> list[str]:
    """One study: its figure, the notes of its paper, and its fit table (or trace summary)."""
    lines = [f"### {s['name']} — {s['title']}", ""]
    if s["fit"] is None:
        return lines + ["No results yet.", ""]
    p = papers.PAPERS.get(s["paper"])
    lines += [f"![{s['name']}]({figure_rel(s['figure'], out_dir)})", ""]
    lines += [f"Paper {p.id}: [{p.notes}]({ROOT}{p.notes}).", ""] if p is not None and p.notes else []
    if s["kind"] == "trace":  # the per-panel, per-group summary of pipeline/plot_traces.py
        cols = list(s["fit"].columns)
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in s["fit"].itertuples(index=False)]
        return lines + [""]
    lines += [f"| panel | softmax share | {s['group_by']} | runs | not reached | fitted slope | 95% CI | theory | band | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in s["fit"].itertuples():
        band = f"[{fmt(r.band_low)}, {fmt(r.band_high)}]" if r.band_low == r.band_low else "—"
        lines.append(f"| {text_or_dash(getattr(r, 'panel', ''))} | {text_or_dash(getattr(r, 'softmax_share', ''))} "
                     f"| {r.group} | {r.runs} | {r.not_reached} | {fmt(r.slope, 3)} | [{fmt(r.ci_low, 3)}, "
                     f"{fmt(r.ci_high, 3)}] | {fmt(r.theory_slope)} | {band} | {r.verdict} |")
    return lines + [""]


def render_md(verdicts, study_list, profile: str, out_dir: Path, results: Path, timed_claims=(), timed_studies=(),
              title: str = "Theorem ledger") -> str:
    lines = [f"# {title}", "",
             f"Every registered claim, checked numerically ({profile} profile). " + INTRO if title == "Theorem ledger"
             else f"The wall-clock claims and timing studies ({profile} profile), measured on this machine. " + INTRO,
             ""] + papers_md(None if title == "Theorem ledger"
                             else {v["paper"] for v in verdicts} | {s["paper"] for s in study_list})
    lines += ["## Summary", "", REGIME_NOTE, "",
              "| paper | instance regime | passed | failed | paper bound unknown | study laws |", "|---|---|---|---|---|---|"]
    for r in summary_rows(verdicts, study_list):
        lines.append(f"| {r['paper']} | {r['regime'] or OWN} | {r['passed']} | {r['failed']} | {r['unknown']} | "
                     f"{r['laws'] or '—'} |")
    lines += timed_pointers(timed_claims, timed_studies)
    lines += [""] + claims_md(verdicts, study_list, out_dir, results)
    lines += evidence_md(verdicts, out_dir, results)
    lines += ["", "## Studies", ""]
    for s in study_list:
        lines += study_md(s, out_dir)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#1d2330;line-height:1.45;padding:0 1rem}h1{margin-bottom:.2rem}table{border-collapse:collapse;width:100%;
margin:.8rem 0 1.6rem;font-size:.9rem}th,td{border:1px solid #d5d9e0;padding:.35rem .5rem;vertical-align:top;
text-align:left}th{background:#f1f3f7}.pass{color:#116b2e;font-weight:600}.fail{color:#a11;font-weight:600}
.unknown{color:#7a5b00}code{font-size:.85em;background:#f4f4f6;padding:0 .2em}.gallery img{max-width:100%;
border:1px solid #d5d9e0}.muted{color:#5b6475;font-size:.9rem}"""


def _data_uri(path: Path | None) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode() if path else ""


def _html_summary(verdicts, study_list, timed_claims, timed_studies) -> tuple[str, str]:
    """The summary table's rows and the pointers to the timing ledger."""
    e = html.escape
    items = timed_items(timed_claims, timed_studies)
    pointers = ("<h2>Wall-clock claims and studies</h2><p>" + e(TIMING_NOTE) + " See <a href='theorems_timing.html'>"
                "theorems_timing.html</a>.</p><ul>" + "".join(
                    "<li>" + e(t).replace("**", "") + "</li>" for t in items) + "</ul>") if items else ""
    rows = []
    for r in summary_rows(verdicts, study_list):
        rows.append(f"<tr><td>{e(r['paper'])}</td><td>{e(r['regime'] or OWN)}</td><td class=pass>{r['passed']}</td><td class=fail>{r['failed']}</td>"
                    f"<td class=unknown>{r['unknown']}</td><td>{e(r['laws'] or '—')}</td></tr>")
    return "".join(rows), pointers


def _html_papers(ids=None) -> str:
    """The papers table, with links to arXiv and to the project's notes."""
    e = html.escape
    rows = []
    for p in paper_rows(ids):
        arxiv = f"<a href='{e(p.link)}'>arXiv:{e(p.arxiv)}</a>" if p.link else e(p.arxiv or "unknown")
        notes = f"<a href='{e(ROOT + p.notes)}'>{e(p.notes)}</a>" if p.notes else "—"
        rows.append(f"<tr><td><b>{e(p.id)}</b></td><td>{e(p.title)}</td><td>{e(p.authors)}</td>"
                    f"<td>{e(p.venue or 'not known')}</td><td>{arxiv}</td><td>{notes}</td></tr>")
    return ("<h2>Papers</h2><table><tr><th>paper</th><th>title</th><th>authors</th><th>venue</th><th>arXiv</th>"
            f"<th>notes</th></tr>{''.join(rows)}</table>")


def _html_claim_name(v: dict) -> str:
    e = html.escape
    link = papers.notes_link(v, ROOT)
    return f"<a href='{e(link)}'><b>{e(papers.label(v))}</b></a>" if link else f"<b>{e(papers.label(v))}</b>"


def _html_claims(verdicts, study_list, results: Path) -> str:
    """The claims table: one row per verdict, its measured value beside its pass criterion."""
    e = html.escape
    claims = []
    for v in verdicts:
        name, path = claim_figure(v, study_list, results)
        fig = f"<a href='#fig-{e(name)}'>{e(name)}</a>" if path else "—"
        bound = (f"{e(fmt(v['bound']))}<div class=muted>{e(v['bound_label'])}</div>" if v["bound"] is not None
                 else f"<span class=unknown>unknown</span><div class=muted>{e(v['bound_label'])}</div>")
        claims.append(
            f"<tr><td>{_html_claim_name(v)}</td><td>{e(v['paper'])}</td><td>{e(v['statement'])}</td>"
            f"<td>{e(fmt(v['measured']))}<div class=muted>{e(v['measured_label'])}</div></td>"
            f"<td>{e(v['criterion'])}</td><td class={v['verdict']}>{v['verdict']}</td>"
            f"<td>{e(papers.slack_text(v['slack']))}</td><td>{bound}</td><td>{e(fmt(v['tight']))}</td><td>{fig}</td>"
            f"<td><code>{ledger_key(v)}</code></td></tr>")
    return "".join(claims)


def _html_evidence(verdicts, results: Path) -> list[str]:
    """Each claim's own figure and table of evidence, under a heading that links to its write-up."""
    e = html.escape
    gallery = []
    for v in verdicts:
        _, p = claim_figure(v, [], results)
        table = evidence_table(v)
        link = papers.notes_link(v, ROOT)
        if p or table:
            gallery.append(f"<h3 id='fig-{e(papers.slug(v))}'>{e(papers.label(v))} — {e(v['statement'])}</h3>")
            gallery += [f"<p class=muted>What is checked, and why: <a href='{e(link)}'>{e(link[len(ROOT):])}</a></p>"
                        ] if link else []
        if p:
            gallery.append(f"<div class=gallery><img alt='{e(papers.label(v))}' src='{_data_uri(p)}'></div>")
        if table:
            cols, trows = table
            gallery.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{e(fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in trows) + "</table>")
    return gallery


def _html_study(s) -> str:
    """One study's figure and its fit table (or trace summary)."""
    e = html.escape
    head = f"<h3 id='fig-{e(s['name'])}'>{e(s['name'])} — {e(s['title'])}</h3>"
    if s["fit"] is None:
        return head + "<p>No results yet.</p>"
    p = papers.PAPERS.get(s["paper"])
    img = f"<div class=gallery><img alt='{e(s['name'])}' src='{_data_uri(s['figure'])}'></div>" + (
        f"<p class=muted>Paper {e(p.id)}: <a href='{e(ROOT + p.notes)}'>{e(p.notes)}</a></p>"
        if p is not None and p.notes else "")
    if s["kind"] == "trace":
        cols = list(s["fit"].columns)
        body = "".join("<tr>" + "".join(f"<td>{e(fmt(v))}</td>" for v in r) + "</tr>"
                       for r in s["fit"].itertuples(index=False))
        return head + img + "<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + f"</tr>{body}</table>"
    fits = "".join(
        f"<tr><td>{e(text_or_dash(getattr(r, 'panel', '')))}</td><td>{e(text_or_dash(getattr(r, 'softmax_share', '')))}</td>"
        f"<td>{e(str(r.group))}</td><td>{r.runs}</td><td>{r.not_reached}</td><td>{fmt(r.slope, 3)}</td>"
        f"<td>[{fmt(r.ci_low, 3)}, {fmt(r.ci_high, 3)}]</td><td>{fmt(r.theory_slope)}</td>"
        f"<td>{'[' + fmt(r.band_low) + ', ' + fmt(r.band_high) + ']' if r.band_low == r.band_low else '—'}</td>"
        f"<td class={r.verdict if r.verdict in ('pass', 'fail') else 'muted'}>{e(r.verdict)}</td></tr>"
        for r in s["fit"].itertuples())
    return (head + img + f"<table><tr><th>panel</th><th>softmax share</th><th>{e(s['group_by'])}</th><th>runs</th><th>not reached</th><th>fitted slope</th>"
            f"<th>95% CI</th><th>theory</th><th>band</th><th>verdict</th></tr>{fits}</table>")


def render_html(verdicts, study_list, profile: str, results: Path, timed_claims=(), timed_studies=(),
                title: str = "Theorem ledger") -> str:
    e = html.escape
    rows, pointers = _html_summary(verdicts, study_list, timed_claims, timed_studies)
    gallery = _html_evidence(verdicts, results) + ["<h2>Studies</h2>"] + [_html_study(s) for s in study_list]
    ids = None if title == "Theorem ledger" else {v["paper"] for v in verdicts} | {s["paper"] for s in study_list}
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>softmax-lab: {e(title.lower())}</title>"
        f"<style>{CSS}</style></head><body><h1>{e(title)}</h1>"
        f"<p class=muted>softmax-lab, {e(profile)} profile. {e(INTRO).replace('`', '')}</p>{_html_papers(ids)}"
        "<h2>Summary</h2><table><tr><th>paper</th><th>instance regime</th><th>passed</th><th>failed</th><th>paper bound unknown</th>"
        f"<th>study laws</th></tr>{rows}</table>{pointers}"
        f"<h2>Claims</h2><p class=muted>{e(SLACK_NOTE)}</p><table><tr><th>claim</th><th>paper</th><th>statement</th>"
        "<th>measured</th><th>pass criterion</th><th>verdict</th><th>slack</th><th>paper's bound</th>"
        "<th>tight reference</th><th>figure</th>"
        f"<th>MLflow ledger key</th></tr>{_html_claims(verdicts, study_list, results)}</table>"
        f"<h2>Evidence of the claims</h2>{''.join(gallery)}</body></html>\n")


def report(cfg: DictConfig) -> dict:
    results = Path(cfg.results_dir)
    verdict_file = results / "verify" / "verdicts.json"
    if not verdict_file.is_file():
        raise ConfigError("results_dir", f"no verdicts at {verdict_file}; run python -m pipeline.verify first")
    verdicts = json.loads(verdict_file.read_text())
    every = studies(results)
    study_list = [s for s in every if not s["timing"]]
    timed_studies = [s for s in every if s["timing"]]
    timed_claims = [{"claim": c.id, "paper": c.paper, "statement": c.statement} for c in papers.claims() if c.timing]
    out_dir = Path(cfg.reports_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = cfg.profile.name
    (out_dir / "theorems.md").write_text(render_md(verdicts, study_list, name, out_dir, results, timed_claims, timed_studies))
    (out_dir / "theorems.html").write_text(render_html(verdicts, study_list, name, results, timed_claims, timed_studies))
    timing_file = results / "verify" / "timing_verdicts.json"
    timed = json.loads(timing_file.read_text()) if timing_file.is_file() else []
    title = "Timing ledger"
    (out_dir / "theorems_timing.md").write_text(render_md(timed, timed_studies, name, out_dir, results, title=title))
    (out_dir / "theorems_timing.html").write_text(render_html(timed, timed_studies, name, results, title=title))
    print(f"report: {out_dir / 'theorems.md'} and theorems.html ({len(verdicts)} claims, "
          f"{sum(s['fit'] is not None for s in study_list)} studies)")
    return {"claims": len(verdicts)}


def main() -> None:
    sys.exit(front_door(report, extra_check=None))


if __name__ == "__main__":
    main()
