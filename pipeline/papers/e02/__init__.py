"""E02 — Zhihang Li, Zhao Song, Weixin Wang, Junze Yin, Zheng Yu, *How to Inverting the Leverage Score
Distribution?*, arXiv 2404.13785, with its companion C. Li, Z. Song, Z. Xu, J. Yin, *Inverting the Leverage Score
Gradient: An Efficient Approximate Newton Method*, arXiv 2408.11267.

Recover x from a target distribution of leverage scores: σ_*(x), the leverage scores of diag(Ax − b)⁻¹A, its
derivatives and the exact Hessian, Newton's and gradient descent's rates, approximate Gauss–Newton with
leverage-sampled rows of the Gauss–Newton factor, and the basin and conditioning of the optimum. Claims E02.C1
(``derivatives``), E02.C2 (``rates``) and E02.C3 (``basin``); their figures in ``figures``; the sizes of the
checks per profile in ``sizes``. The mathematics, the claims and their checks are written up in docs/theory/e02.md.
"""
from pipeline.papers.e02.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E02", title="How to Inverting the Leverage Score Distribution?",
              authors="Zhihang Li, Zhao Song, Weixin Wang, Junze Yin, Zheng Yu", arxiv="2404.13785",
              notes="docs/theory/e02.md", sizes=Sizes, profiles=PROFILES, module=__name__, related=True)

from pipeline.papers.e02 import basin, derivatives, figures, rates  # noqa: E402,F401  (register the claims and figures)
