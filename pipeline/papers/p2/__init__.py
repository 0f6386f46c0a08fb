"""P2 — Yichuan Deng, Zhihang Li, Sridhar Mahadevan, Zhao Song, *Zero-th Order Algorithm for Softmax
Attention Optimization*, arXiv 2307.08352.

ZO-SGD with the n-SPSA gradient estimate on the (finite-sum) softmax loss: the estimate's bias and
moments, the per-step decrease, the constants and the noise assumption (C2.1–C2.6, ``lemmas``), and
the iteration-complexity laws judged on the zo_* studies (C2.7–C2.11, ``e2``); their figures in
``figures``; the sizes of the checks per profile in ``sizes``. The mathematics, the claims and their
checks are written up in docs/theory/p2.md.
"""
from pipeline.papers.p2.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("P2", title="Zero-th Order Algorithm for Softmax Attention Optimization",
              authors="Yichuan Deng, Zhihang Li, Sridhar Mahadevan, Zhao Song", arxiv="2307.08352",
              notes="docs/theory/p2.md", sizes=Sizes, profiles=PROFILES, module=__name__)

from pipeline.papers.p2 import e2, figures, lemmas  # noqa: E402,F401  (register the claims and figures)
