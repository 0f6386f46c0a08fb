"""E07 — Josh Alman, Zhao Song, *The Fine-Grained Complexity of Gradient Computation for Training Large Language
Models*, arXiv 2402.04497 (NeurIPS 2024), with the forward algorithm of Alman & Song, *Fast Attention Requires
Bounded Entries*, arXiv 2302.13214 (NeurIPS 2023).

The gradient of the attention loss L(X) exactly and by the polynomial method's low-rank chain, where
that method pays (entry bound B against √ln n) and where it stops, and gradient descent with the
inexact gradient. Claims E07.C1 (``exactness``), E07.C2 (``threshold``), E07.C3 (``optimisation``,
judged on study e07_gd) and E07.C3.time (``cost``, wall clock); their figures in ``figures``; the sizes
of the checks per profile in ``sizes``. The mathematics, the claims and their checks are written up in
docs/theory/e07.md.
"""
from pipeline.papers.e07.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E07", title="The Fine-Grained Complexity of Gradient Computation for Training Large Language Models",
              authors="Josh Alman, Zhao Song", arxiv="2402.04497", venue="NeurIPS 2024", notes="docs/theory/e07.md",
              sizes=Sizes, profiles=PROFILES, module=__name__, related=True)

from pipeline.papers.e07 import cost, exactness, figures, optimisation, threshold  # noqa: E402,F401  (register the claims and figures)
