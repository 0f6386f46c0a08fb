"""E04 — Jerry Yao-Chieh Hu, Thomas Lin, Zhao Song, Han Liu, *On Computational Limits of Modern Hopfield
Models: A Fine-Grained Complexity Analysis*, arXiv 2402.04520 (ICML 2024).

Modern Hopfield retrieval Z = Ξ softmax_columns(β ΞᵀX) and its low-rank (polynomial) approximation:
the rank phase transition in B²/ln τ (E04.C1) and the tension between retrieval accuracy and
efficiency as βR² grows (E04.C2) in ``retrieval``, the wall clock of exact against low-rank retrieval
(E04.C3) in ``cost``; their figures in ``figures``; the sizes of the checks per profile in ``sizes``.
The kernels are :mod:`kernels.hopfield` (on :mod:`kernels.polynomial`). The mathematics, the claims
and their checks are written up in docs/theory/e04.md.
"""
from pipeline.papers.e04.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E04", title="On Computational Limits of Modern Hopfield Models: A Fine-Grained Complexity Analysis",
              authors="Jerry Yao-Chieh Hu, Thomas Lin, Zhao Song, Han Liu", arxiv="2402.04520",
              venue="ICML 2024", notes="docs/theory/e04.md", sizes=Sizes, profiles=PROFILES, module=__name__,
              related=True)

from pipeline.papers.e04 import cost, figures, retrieval  # noqa: E402,F401  (register the claims and figures)
