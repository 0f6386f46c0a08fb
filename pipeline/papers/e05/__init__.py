"""E05 — Chenyang Li, Yingyu Liang, Zhenmei Shi, Zhao Song, Tianyi Zhou, *Fourier Circuits in Neural Networks and
Transformers: A Case Study of Modular Arithmetic with Multiple Inputs*, arXiv 2402.09469 (AISTATS 2025).

A network of m neurons with activation (·)^k learns (a_1 + … + a_k) mod p; at width 2^{2k−2}(p−1) its largest
normalised margin is γ* = 2·k!/((2k+2)^{(k+1)/2}(p−1)p^{(k−1)/2}), reached by neurons that each use one Fourier
frequency, all frequencies present. Claims E05.C1 (``construction``: an explicit network reaches γ*),
E05.C2 (``features``: training finds the Fourier circuit) and E05.C3 (``width``: below that width it falls
short); their figures in ``figures``; shared training runs in ``training``; the sizes per profile in ``sizes``.
The kernels are kernels/modular.py, the problem pipeline/problems/modular_addition.py, the study
conf/study/e05_train.yaml. The mathematics, the claims and their checks are written up in docs/theory/e05.md.
"""
from pipeline.papers.e05.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E05", title="Fourier Circuits in Neural Networks and Transformers: A Case Study of Modular Arithmetic "
                           "with Multiple Inputs",
              authors="Chenyang Li, Yingyu Liang, Zhenmei Shi, Zhao Song, Tianyi Zhou", arxiv="2402.09469",
              venue="AISTATS 2025", notes="docs/theory/e05.md", sizes=Sizes, profiles=PROFILES, module=__name__,
              related=True)

from pipeline.papers.e05 import construction, features, figures, width  # noqa: E402,F401  (register the claims and figures)
