"""``python -m pipeline.quickstart [overrides]``: the default study end to end.

synthesize + solve (the ``p1_kappa`` sweep, one MLflow parent run with a child
per job) -> verify (the registered claims) -> plot (figure and fit table).
Overrides given here (e.g. ``profile=full``, ``tracking.uri=...``) are passed to
every stage. Each stage is its own process, exactly as a user would run it.
"""
from __future__ import annotations

import subprocess
import sys

STUDY = "p1_kappa"


def stages(overrides: list[str]) -> list[list[str]]:
    py = [sys.executable, "-m"]
    return [
        py + ["pipeline", "-m", f"+study={STUDY}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *overrides],
        py + ["pipeline.verify", *overrides],
        py + ["pipeline.plot", f"+study={STUDY}", *overrides],
    ]


def main() -> int:
    overrides = sys.argv[1:]
    for cmd in stages(overrides):
        print("$ " + " ".join(cmd[1:]), flush=True)
        code = subprocess.call(cmd)
        if code != 0:
            return code
    print("\nDone. Browse the runs with:  mlflow ui --backend-store-uri sqlite:///$PWD/mlflow.db")
    return 0


if __name__ == "__main__":
    sys.exit(main())
