"""The papers' figures: each is registered from its paper's ``figures`` module and draws from its
verdict record alone (the committed ledger rows, those judged on the zo_* studies included), as a
PNG of the same size as the committed figure."""
from __future__ import annotations

import importlib
import json
import struct
from pathlib import Path

import pytest

from pipeline import papers
from tests.conftest import PROJECT

EXPECTED = {"p1": ["C1.3", "C1.4", "C1.5", "C1.6", "C1.7", "C1.9"],
            "p2": ["C2.1", "C2.2", "C2.3", "C2.4", "C2.5", "C2.6", "C2.7", "C2.8", "C2.11"],
            "p3": ["C3.5", "C3.6", "C3.7", "C3.9", "C3.10", "C3.11"],
            "e03": ["E03.C1", "E03.C2", "E03.C3", "E03.C4"],
            "e04": ["E04.C1", "E04.C2", "E04.C3"],
            "e07": ["E07.C1", "E07.C2", "E07.C3", "E07.C3.time"],
            "e10": ["E10.C1", "E10.C2", "E10.C3"],
            "e02": ["E02.C1", "E02.C2", "E02.C3"],
            "e06": ["E06.C1", "E06.C2", "E06.C3"],
            "e09": ["E09.C1", "E09.C2", "E09.C3"],
            "e05": ["E05.C1", "E05.C2", "E05.C3"],
            "e01": ["E01.C1", "E01.C2", "E01.C3"],
            "e08": ["E08.C1", "E08.C2", "E08.C3"]}


def committed_rows() -> dict[str, list[dict]]:
    """The committed verdict rows per claim: one row, or one per instance regime."""
    rows: dict[str, list[dict]] = {}
    for name in ("verdicts.json", "timing_verdicts.json"):
        for v in json.loads((PROJECT / "results" / "verify" / name).read_text()):
            rows.setdefault(v["claim"], []).append(v)
    return rows


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("paper", sorted(EXPECTED))
def test_a_papers_figures_are_registered_from_its_figures_module(paper):
    papers.load()
    module = importlib.import_module(f"pipeline.papers.{paper}.figures")
    mine = sorted(c for c in papers.FIGURES if papers.CLAIMS[c].paper == paper.upper())
    assert mine == sorted(EXPECTED[paper])
    assert all(papers.FIGURES[c].__module__ == module.__name__ for c in mine)


@pytest.mark.parametrize("cid", [c for ids in EXPECTED.values() for c in ids])
def test_each_figure_is_drawn_from_its_verdict(tmp_path, cid):
    """Every verdict row of the claim (one per regime for a claim judged per regime) draws its figure,
    named as the verify stage names it, at the size of the committed one."""
    papers.load()
    suffix = "_timing" if papers.CLAIMS[cid].timing else ""
    for row in committed_rows()[cid]:
        name = f"{papers.slug(row)}{suffix}.png"
        drawn = tmp_path / "figures" / name
        papers.figure_of(cid)(row, drawn)
        assert drawn.is_file() and png_size(drawn) == png_size(PROJECT / "results" / "figures" / name), name
