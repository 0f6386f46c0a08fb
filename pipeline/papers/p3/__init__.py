"""P3 — Gao, Song, Wang, Yin, *A Fast Optimization View: Reformulating Single Layer Attention in LLM
Based on Tensor and SVM Trick, and Solving It in Matrix Multiplication Time*, arXiv 2309.07418.

One-layer attention regression through the tensor trick: the block identity, the loss, the gradient
and Kronecker-form Hessian in x = vec_r(X), the PD and Lipschitz lemmas and the exact Y-step
(C3.1–C3.8, ``lemmas``), local Newton and the alternating method's rate (C3.9, C3.10, ``newton``)
and the cost of an iteration (C3.11, ``cost``, wall clock); their figures in ``figures``; the sizes
of the checks per profile in ``sizes``.
"""
from pipeline.papers.p3.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("P3", title="A Fast Optimization View: Reformulating Single Layer Attention in LLM Based on Tensor "
                          "and SVM Trick, and Solving It in Matrix Multiplication Time",
              authors="Gao, Song, Wang, Yin", arxiv="2309.07418", sizes=Sizes, profiles=PROFILES, module=__name__)

from pipeline.papers.p3 import cost, figures, lemmas, newton  # noqa: E402,F401  (register the claims and figures)
