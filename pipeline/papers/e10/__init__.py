"""E10 — Raghav Addanki, Chenyang Li, Zhao Song, Chiwun Yang, *One Pass Streaming Algorithm for Super Long
Token Attention Approximation in Sublinear Space*, arXiv 2311.14652.

Attention over n tokens approximated in one pass and o(n) memory: the polynomial features of K, V are
summed into M_kv and z, the output rows are added into a CountSketch, and each output column is decoded
by ℓ2/ℓ2 k-sparse recovery (:mod:`kernels.streaming`). Claims E10.C1 (memory against n, ``memory``),
E10.C2 (the recovery guarantee, ``guarantee``) and E10.C3 (the additive error against n at fixed
sketch size, ``error``); their figures in ``figures``; the sizes per profile in ``sizes``. The
mathematics, the claims and their checks are written up in docs/theory/e10.md.
"""
from pipeline.papers.e10.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E10", title="One Pass Streaming Algorithm for Super Long Token Attention Approximation in Sublinear Space",
              authors="Raghav Addanki, Chenyang Li, Zhao Song, Chiwun Yang", arxiv="2311.14652",
              notes="docs/theory/e10.md", sizes=Sizes, profiles=PROFILES, module=__name__, related=True)

from pipeline.papers.e10 import error, figures, guarantee, memory  # noqa: E402,F401  (register the claims and figures)
