"""Helpers of the papers' tests: a check's context with one paper's sizes for a profile."""
from __future__ import annotations

import importlib

from omegaconf import OmegaConf

from pipeline.papers import Context


def paper_context(paper: str, profile: str = "ci", seed: int = 0) -> Context:
    """A :class:`Context` whose sizes are those of ``paper`` (e.g. ``"p1"``) for ``profile``."""
    sizes = importlib.import_module(f"pipeline.papers.{paper}.sizes")
    values = OmegaConf.structured(sizes.Sizes(**sizes.PROFILES.get(profile, {})))
    return Context(sizes=values, seed=seed)


def run_claim(claim_id: str, profile: str = "ci", **sizes):
    """The verdict of ``claim_id`` on its paper's sizes for ``profile`` (with ``sizes`` changed)."""
    from pipeline import papers

    papers.load()
    ctx = paper_context(papers.CLAIMS[claim_id].paper.lower(), profile)
    for key, value in sizes.items():
        setattr(ctx.sizes, key, value)
    return papers.CLAIMS[claim_id].run(ctx)


def check_record(v, tmp_path) -> None:
    """Regime and control in a verdict's details, and its figure drawn from the verdict record alone."""
    from pipeline import papers

    assert v.details["regime"] and v.details["control"]
    path = tmp_path / f"{v.claim}.png"
    papers.figure_of(v.claim)(v.as_dict(), path)
    assert path.is_file() and path.stat().st_size > 10_000


def check_registration(paper_id: str, claims: tuple[str, ...], arxiv: str) -> None:
    """A related paper's claims are registered in order with their figures, none a timing or study claim; the
    paper names its arXiv id and its notes page, which has an anchor per claim."""
    from pipeline import papers
    from tests.conftest import PROJECT

    papers.load()
    assert [c.id for c in papers.claims() if c.paper == paper_id] == list(claims)
    assert all(papers.figure_of(c) is not None for c in claims)
    assert not any(papers.CLAIMS[c].timing or papers.CLAIMS[c].studies for c in claims)
    p = papers.PAPERS[paper_id]
    notes = f"docs/theory/{paper_id.lower()}.md"
    assert p.arxiv == arxiv and p.related and p.notes == notes
    text = (PROJECT / notes).read_text()
    for c in claims:
        assert f'<a id="{papers.anchor(c)}"></a>' in text, c
