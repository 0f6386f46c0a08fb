"""Hydra's basic sweeper without its second composition of every job before the launch.

Hydra's basic sweeper composes each job of a batch once to validate it, then the launcher composes it again to
run it. softmax-lab's front door (pipeline/cli/precheck.py) has already composed and validated every job of the
sweep against the schema before Hydra starts (up to its cap of combinations; beyond it, a bad job still fails
when the launcher composes it), so the sweeper's pass is skipped: composition costs about a quarter of a second
per job here, which is a large part of a quick study. Chosen by ``hydra/sweeper: lab`` (conf/config.yaml);
``hydra/sweeper=basic`` restores Hydra's own.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore


@dataclass
class LabSweeperConf:
    _target_: str = "hydra_plugins.softmax_lab_sweeper.LabSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="lab", node=LabSweeperConf, provider="softmax-lab")


class LabSweeper(BasicSweeper):
    """The basic sweeper (same grid, order, batches and sweep folder), minus the validation pass."""

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Nothing to do: the front door validated every job before the sweep began."""
