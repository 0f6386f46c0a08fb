"""Claims of the papers, one module per paper; importing this package registers them all."""
from pipeline.claims.base import CLAIMS, Claim, Context, Verdict, claim
from pipeline.claims import p1  # noqa: F401  (registers C1.1–C1.5)
from pipeline.claims import p1_newton  # noqa: F401  (registers C1.6–C1.8, C1.10)
from pipeline.claims import p1_cost  # noqa: F401  (registers C1.9, a wall-clock claim)
from pipeline.claims import p2  # noqa: F401  (registers C2.1–C2.6)
from pipeline.claims import p2_e2  # noqa: F401  (registers C2.7–C2.11, judged on the zo_* studies)
from pipeline.claims import p3  # noqa: F401  (registers C3.1–C3.8)
from pipeline.claims import p3_newton  # noqa: F401  (registers C3.9, C3.10)
from pipeline.claims import p3_cost  # noqa: F401  (registers C3.11, a wall-clock claim)

__all__ = ["CLAIMS", "Claim", "Context", "Verdict", "claim"]
