"""P1 — Yichuan Deng, Zhihang Li, Zhao Song, *Attention Scheme Inspired Softmax Regression*, arXiv 2304.10411.

Regularised softmax regression: the gradient and Hessian formulas, the PD lemma, the Hessian's
Lipschitz constant, and approximate Newton with a leverage-score sparsified Hessian. Claims
C1.1–C1.5 (``lemmas``), C1.6–C1.8 and C1.10 (``newton``), C1.9 (``cost``, wall clock); their
figures in ``figures``; the sizes of the checks per profile in ``sizes``. The mathematics, the claims
and their checks are written up in docs/theory/p1.md.
"""
from pipeline.papers.p1.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("P1", title="Attention Scheme Inspired Softmax Regression",
              authors="Yichuan Deng, Zhihang Li, Zhao Song", arxiv="2304.10411",
              venue="ICLR 2025 workshop DeLTa", notes="docs/theory/p1.md",
              sizes=Sizes, profiles=PROFILES, module=__name__)

from pipeline.papers.p1 import cost, figures, lemmas, newton  # noqa: E402,F401  (register the claims and figures)
