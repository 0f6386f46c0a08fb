"""E08 — Yichuan Deng, Zhao Song, Chiwun Yang, *Enhancing Stochastic Gradient Descent: A Unified Framework and Novel
Acceleration Methods for Faster Convergence*, arXiv 2402.01515.

Every first-order step read as x_{t+1} = x_t − η g_t with g_t = ∇f_t + 2|⟨v_t,∇f_t⟩|/‖v_t‖² v_t: the geometry of
accelerating and decelerating steps, the main bound min_t E‖∇f(x_t)‖² ≤ √(T+8kB)/(T+2ku_a−2lu_b)·√(2ΔLσ²)
evaluated on mini-batch runs of SGD, SGD with momentum and Adam with and without Reject Accelerating and Random
Vector Accelerating, and the bound's batch-size law. Claims E08.C1 (``identities``), E08.C2 (``bound``) and
E08.C3 (``batch``); their figures in ``figures``; the sizes of the checks per profile in ``sizes``; the shared
instance and runs in ``instances``. The solver is pipeline/solvers/framework.py (framework_sgd), the optimizers
pipeline/solvers/accelerating.py, the kernels kernels/framework.py, the study conf/study/e08_batch.yaml. The
mathematics, the claims and their checks are written up in docs/theory/e08.md.
"""
from pipeline.papers.e08.sizes import PROFILES, Sizes
from pipeline.papers import paper

PAPER = paper("E08", title="Enhancing Stochastic Gradient Descent: A Unified Framework and Novel Acceleration Methods "
                           "for Faster Convergence",
              authors="Yichuan Deng, Zhao Song, Chiwun Yang", arxiv="2402.01515", notes="docs/theory/e08.md",
              sizes=Sizes, profiles=PROFILES, module=__name__, related=True)

from pipeline.papers.e08 import batch, bound, figures, identities  # noqa: E402,F401  (register the claims and figures)
