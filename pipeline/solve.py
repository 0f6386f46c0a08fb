"""``python -m pipeline.solve [overrides]``: the same job as ``python -m pipeline``.

Synthesizes (or loads from the cache or a file) the instance, solves it and
writes ``summary.json``, ``solution.npz`` and ``trace.parquet``.
"""
from pipeline.cli import run_pipeline

if __name__ == "__main__":
    run_pipeline()
