"""E06 — Yeqi Gao, Zhao Song, Ruizhe Zhang, *Quantum Speedup for Spectral Approximation of Kronecker Products*,
arXiv 2402.07027: the classical counterpart (nothing quantum is run).

Leverage-score sampling of 𝖠 = A1 ⊗ A2 without forming it (the product rule τ_(i,j) = τ_i(A1)τ_j(A2), pairs
drawn per factor), the repeated-halving skeleton of the paper's method, Kronecker least squares from a sketch,
and the count of rows read classically against the paper's quantum query bound. Claims E06.C1 (``sampling``),
E06.C2 (``least_squares``) and E06.C3 (``rows``); their figures in ``figures``; the sizes of the checks per
profile in ``sizes``; the coherent factors of the checks in ``instances``. The problem is
pipeline/problems/kronecker_least_squares.py and the study conf/study/e06_sketch.yaml. The mathematics, the
claims and their checks are written up in docs/theory/e06.md.
"""
from pipeline.papers.e06.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E06", title="Quantum Speedup for Spectral Approximation of Kronecker Products",
              authors="Yeqi Gao, Zhao Song, Ruizhe Zhang", arxiv="2402.07027", notes="docs/theory/e06.md",
              sizes=Sizes, profiles=PROFILES, module=__name__, related=True)

from pipeline.papers.e06 import figures, least_squares, rows, sampling  # noqa: E402,F401  (register the claims and figures)
