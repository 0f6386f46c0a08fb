"""P3 — Yeqi Gao, Zhao Song, Weixin Wang, Junze Yin, *A Fast Optimization View: Reformulating Single
Layer Attention in LLM Based on Tensor and SVM Trick, and Solving It in Matrix Multiplication Time*,
arXiv 2309.07418.

One-layer attention regression through the tensor trick: the block identity, the loss, the gradient
and Kronecker-form Hessian in x = vec_r(X), the PD and Lipschitz lemmas and the exact Y-step
(C3.1–C3.8, ``lemmas``), local Newton and the alternating method's rate (C3.9, C3.10, ``newton``)
and the cost of an iteration (C3.11, ``cost``, wall clock); their figures in ``figures``; the sizes
of the checks per profile in ``sizes``. The mathematics, the claims and their checks are written up
in docs/theory/p3.md.
"""
from pipeline.papers.p3.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("P3", title="A Fast Optimization View: Reformulating Single Layer Attention in LLM Based on Tensor "
                          "and SVM Trick, and Solving It in Matrix Multiplication Time",
              authors="Yeqi Gao, Zhao Song, Weixin Wang, Junze Yin", arxiv="2309.07418",
              venue="UAI 2025, PMLR 286:1381–1452", notes="docs/theory/p3.md",
              sizes=Sizes, profiles=PROFILES, module=__name__)

from pipeline.papers.p3 import cost, figures, lemmas, newton  # noqa: E402,F401  (register the claims and figures)
