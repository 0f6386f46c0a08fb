"""``python -m pipeline [overrides]``: synthesize -> solve for one config, or a sweep with ``-m``."""
from pipeline.cli import run_pipeline

if __name__ == "__main__":
    run_pipeline()
