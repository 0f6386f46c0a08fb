"""E03 — arXiv 2404.02690, two versions: v1 Yichuan Deng, Zhao Song, Chiwun Yang, *Attention is Naturally
Sparse with Gaussian Distributed Input*; v2 (retitled) Yichuan Deng, Zhao Song, Jing Xiong, Chiwun Yang,
*How Sparse Attention Approximates Exact Attention? Your Attention is Naturally n^C-Sparse*.

Top-k truncated attention under Gaussian logits: the tail outside the top n^C against n (E03.C1), the
output error bound 2τ max‖v‖ (E03.C2), the adaptive window α n^C against a fixed k (E03.C3) and the
collapse of self-attention onto the diagonal (E03.C4) in ``sparsity`` and ``collapse``; their figures
in ``figures``; the sizes of the checks per profile in ``sizes``. The kernel is
:mod:`kernels.sparse_attention`. The mathematics, the claims and their checks are written up in
docs/theory/e03.md.
"""
from pipeline.papers.e03.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E03", title="How Sparse Attention Approximates Exact Attention? Your Attention is Naturally n^C-Sparse",
              authors="Yichuan Deng, Zhao Song, Jing Xiong, Chiwun Yang", arxiv="2404.02690",
              notes="docs/theory/e03.md", sizes=Sizes, profiles=PROFILES, module=__name__, related=True)

from pipeline.papers.e03 import collapse, figures, sparsity  # noqa: E402,F401  (register the claims and figures)
