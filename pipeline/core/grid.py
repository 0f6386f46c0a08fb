"""A sweep's grid from Hydra overrides: the fixed overrides and {key: [values]} of the swept ones."""
from __future__ import annotations

from typing import Optional


def sweep_grid(overrides: list[str], sweeper_params: Optional[dict]) -> tuple[list[str], dict[str, list[str]]]:
    """Split overrides into fixed ones and a grid {key: [values]}; ``sweeper_params`` (a study's
    ``hydra.sweeper.params``) gives the grid's defaults, which the command line overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    grid: dict[str, list[str]] = {}
    for key, value in (sweeper_params or {}).items():
        for o in parser.parse_overrides([f"{key}={value}"]):
            grid[o.get_key_element()] = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
    fixed = []
    for o in parser.parse_overrides(overrides):
        if o.is_sweep_override():
            grid[o.get_key_element()] = list(o.sweep_string_iterator())
        else:
            grid.pop(o.get_key_element(), None)
            fixed.append(o.input_line)
    return fixed, grid


def is_sweep(override: str) -> bool:
    """Whether one command-line override sweeps (``a=1,2``, ``range(...)``, ...)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides([override])[0].is_sweep_override()
