"""``python -m pipeline [overrides]``: synthesize -> solve for one config, or a sweep with ``-m``."""
from pipeline.solve import main

if __name__ == "__main__":
    main()
