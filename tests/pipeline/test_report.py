"""The plot stage's claim figures and the theorem ledger: complete, self-contained, byte-stable."""
from __future__ import annotations

import json
import re

import pytest

from pipeline import papers

from pipeline.cli import main
from pipeline.plot import plot
from pipeline.report import report
from pipeline.core.records import ledger_key, write_json


def verdict(cid, bound, passed, details):
    return {"claim": cid, "paper": "P1", "statement": f"statement of {cid}", "criterion": f"criterion of {cid}",
            "measured": 0.5, "measured_label": "m", "bound": bound, "bound_label": "paper constant unknown"
            if bound is None else "threshold", "tight": 0.25, "passed": passed, "slack": None if bound is None else 2.0,
            "verdict": "pass" if passed else "fail", "details": details}


@pytest.fixture
def results(lab_root):
    res = lab_root / "results"
    rows = [
        verdict("C1.1", 1e-6, True, {}),
        verdict("C1.3", None, True, {"l1_by_n": {"2": 0.2404, "5": 0.2404}, "l2_by_n": {"2": 0.3125, "5": 0.3125}}),
        verdict("C1.4", 1.0, False, {"min_lambda_by_case": {"R=1,b=e_k": 0.9}, "control_min_lambda": -0.24}),
        verdict("C1.5", None, True, {"M_hat": {"R=1,n=20": 0.01, "R=2,n=20": 0.1, "R=1,n=200": 0.001,
                                               "R=2,n=200": 0.01}}),
    ]
    write_json(res / "verify" / "verdicts.json", rows)
    return res


def test_claim_figures_and_ledger(lab_root, results):
    assert main(plot, argv=["tracking=off"], extra_check=None) == 0
    for cid in ("C1.3", "C1.4", "C1.5"):
        assert (results / "figures" / f"{cid}.png").read_bytes()[:4] == b"\x89PNG"
    assert not (results / "figures" / "C1.1.png").exists()

    assert main(report, argv=["tracking=off"], extra_check=None) == 0
    md = (lab_root / "reports" / "theorems.md").read_text()
    page = (lab_root / "reports" / "theorems.html").read_text()
    rows = json.loads((results / "verify" / "verdicts.json").read_text())
    for r in rows:
        claim = f"[{r['claim']}](../docs/theory/p1.md#{papers.anchor(r['claim'])})"
        assert f"| {claim} | P1 |" in md and ledger_key(r) in md and ledger_key(r) in page
    assert "| P1 | own instances | 3 | 1 | 2 |" in md  # regime, passed, failed, paper bound unknown
    assert "unknown (paper constant unknown)" in md
    assert "](../results/figures/C1.5.png)" in md
    assert page.count("data:image/png;base64,") == 3 and "src='http" not in page and 'src="http' not in page
    links = set(re.findall(r"href='([^']*)'", page))
    assert {u for u in links if u.startswith("http")} == {p.link for p in papers.papers() if p.link}  # arXiv only
    assert str(lab_root) not in md and str(lab_root) not in page

    before = [(lab_root / "reports" / f).read_bytes() for f in ("theorems.md", "theorems.html")]
    figs = [(results / "figures" / f"{c}.png").read_bytes() for c in ("C1.3", "C1.4", "C1.5")]
    assert main(plot, argv=["tracking=off"], extra_check=None) == 0
    assert main(report, argv=["tracking=off"], extra_check=None) == 0
    assert [(lab_root / "reports" / f).read_bytes() for f in ("theorems.md", "theorems.html")] == before
    assert [(results / "figures" / f"{c}.png").read_bytes() for c in ("C1.3", "C1.4", "C1.5")] == figs


def test_report_without_verdicts_is_a_usage_error(lab_root, capsys):
    assert main(report, argv=["tracking=off"], extra_check=None) == 2
    assert capsys.readouterr().err.startswith("error: results_dir:")


def test_wall_clock_claims_are_in_the_timing_ledger_only(lab_root, results):
    timed = verdict("C1.9", None, True, {"points": [{"n": 10, "density": 0.1, "nnz": n, "approx_s": 1e-6 * n,
                                                     "exact_s": 2e-6 * n} for n in (100, 1000, 10000)],
                                         "fit_nnz_min": 100})
    timed["measured"] = 1.0
    write_json(results / "verify" / "timing_verdicts.json", [timed])
    assert main(plot, argv=["tracking=off"], extra_check=None) == 0
    assert (results / "figures" / "C1.9_timing.png").read_bytes()[:4] == b"\x89PNG"
    assert main(report, argv=["tracking=off"], extra_check=None) == 0
    md = (lab_root / "reports" / "theorems.md").read_text()
    timing_md = (lab_root / "reports" / "theorems_timing.md").read_text()
    timing_page = (lab_root / "reports" / "theorems_timing.html").read_text()
    # the main ledger points to C1.9 (from the claim registry) but carries none of its numbers
    assert "## Wall-clock claims and studies" in md and "**C1.9** (P1)" in md and "| C1.9 |" not in md
    assert "theorems_timing.md" in md and "C1.9_timing.png" not in md
    assert "# Timing ledger" in timing_md and "| [C1.9](../docs/theory/p1.md#c1-9) | P1 |" in timing_md
    assert ledger_key(timed) in timing_md and "| P1 | Attention Scheme Inspired Softmax Regression |" in timing_md
    assert "](../results/figures/C1.9_timing.png)" in timing_md
    assert timing_page.count("data:image/png;base64,") == 1


def test_a_verdicts_evidence_table_is_in_both_ledgers(lab_root, results):
    rows = json.loads((results / "verify" / "verdicts.json").read_text())
    table = [{"coefficient": "b_kappa", "fitted": 1.07, "verdict": "pass"},
             {"coefficient": "b_d", "fitted": 0.31, "verdict": "fail"}]
    rows.append(verdict("C2.8", 1.0, False, {"table": table}))
    write_json(results / "verify" / "verdicts.json", rows)
    assert main(report, argv=["tracking=off"], extra_check=None) == 0
    md = (lab_root / "reports" / "theorems.md").read_text()
    assert "### C2.8" in md and "| coefficient | fitted | verdict |" in md and "| b_d | 0.31 | fail |" in md
    html = (lab_root / "reports" / "theorems.html").read_text()
    assert "<th>coefficient</th>" in html and "<td>b_d</td><td>0.31</td><td>fail</td>" in html
    assert "<td class=pass>" in html  # the summary table is still whole


def test_the_ledger_names_the_papers_and_shows_each_criterion_beside_its_measurement(lab_root, results):
    assert main(plot, argv=["tracking=off"], extra_check=None) == 0
    assert main(report, argv=["tracking=off"], extra_check=None) == 0
    md = (lab_root / "reports" / "theorems.md").read_text()
    page = (lab_root / "reports" / "theorems.html").read_text()
    for p in papers.papers():
        row = f"| {p.id} | {p.title} | {p.authors} | {p.venue or 'not known'} | [{p.arxiv}]({p.link}) | " \
              f"[{p.notes}](../{p.notes}) |"
        assert row in md and f"<a href='{p.link}'>arXiv:{p.arxiv}</a>" in page and p.authors in page
    # measured value, then the criterion with its tolerance, then the verdict and the slack
    assert "| claim | paper | statement | measured | pass criterion | verdict | slack |" in md
    assert "| 0.5 (m) | criterion of C1.4 | **fail** | 2 |" in md
    assert "<td>criterion of C1.4</td><td class=fail>fail</td><td>2</td>" in page
    assert "| [C1.4](../docs/theory/p1.md#c1-4) | P1 |" in md and "href='../docs/theory/p1.md#c1-4'" in page
    assert "What is checked, and why: [docs/theory/p1.md#c1-4](../docs/theory/p1.md#c1-4)." in md
    assert "exactly when its slack is at least 1" in md and "exactly when its slack is at least 1" in page


def test_a_pipe_in_a_criterion_stays_inside_its_cell(lab_root, results):
    rows = json.loads((results / "verify" / "verdicts.json").read_text())
    rows[0]["criterion"] = "max|eig − 1| ≤ ε0"
    write_json(results / "verify" / "verdicts.json", rows)
    assert main(report, argv=["tracking=off"], extra_check=None) == 0
    md = (lab_root / "reports" / "theorems.md").read_text()
    assert "| max\\|eig − 1\\| ≤ ε0 |" in md
