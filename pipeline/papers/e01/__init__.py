"""E01 — Yang Cao, Yingyu Liang, Zhenmei Shi, Zhao Song, *Exploring the Frontiers of Softmax: Provable
Optimization, Applications in Diffusion Model, and Beyond*, arXiv 2405.03251.

A two-layer network whose hidden layer is one softmax over m neurons, F(W, x, a)_l = κ_m⟨a_l, softmax(Wᵀx)⟩,
trained by gradient descent in the neural-tangent-kernel regime: the empirical NTK at initialisation against
its infinite-width limit K_ij = (x_i·x_j)exp(σ²x_i·x_j), linear convergence of gradient descent with the
weights barely moving (lazy training), the comparison with ReLU and exp networks, and score estimation for
diffusion as regression of x0 on x_t. Claims E01.C1 (``kernel``), E01.C2 (``training``) and E01.C3
(``comparison``); their figures in ``figures``; the sizes of the checks per profile in ``sizes``; the shared
instances and gradient-descent runs in ``instances``. The problem is pipeline/problems/softmax_network.py and
the study conf/study/e01_width.yaml. The mathematics, the claims and their checks are written up in
docs/theory/e01.md.
"""
from pipeline.papers.e01.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E01", title="Exploring the Frontiers of Softmax: Provable Optimization, Applications in Diffusion Model, "
              "and Beyond", authors="Yang Cao, Yingyu Liang, Zhenmei Shi, Zhao Song", arxiv="2405.03251",
              notes="docs/theory/e01.md", sizes=Sizes, profiles=PROFILES, module=__name__, related=True)

from pipeline.papers.e01 import comparison, figures, kernel, training  # noqa: E402,F401  (register the claims and figures)
