"""E09 — Zhihang Li, Zhao Song, Zifan Wang, Junze Yin, *Local Convergence of Approximate Newton Method for Two Layer
Nonlinear Regression*, arXiv 2311.15390.

Two-layer regression whose first layer is a softmax unit: the derivatives of the regularised loss for each
activation and both readings of the two layers, the local convergence of exact and approximate Newton (the
Gauss–Newton factor sketched by leverage-score row sampling) measured against the framework's one-step
bound, and the conditioning of the minimiser against κ(C) and the softmax's peakedness. Claims E09.C1
(``derivatives``), E09.C2 (``convergence``) and E09.C3 (``conditioning``); their figures in ``figures``; the
sizes of the checks per profile in ``sizes``; the shared instances and runs in ``instances``. The mathematics,
the claims and their checks are written up in docs/theory/e09.md.
"""
from pipeline.papers.e09.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E09", title="Local Convergence of Approximate Newton Method for Two Layer Nonlinear Regression",
              authors="Zhihang Li, Zhao Song, Zifan Wang, Junze Yin", arxiv="2311.15390",
              notes="docs/theory/e09.md", sizes=Sizes, profiles=PROFILES, module=__name__, related=True)

from pipeline.papers.e09 import conditioning, convergence, derivatives, figures  # noqa: E402,F401  (register the claims and figures)
