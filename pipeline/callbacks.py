"""Hydra callbacks: one MLflow parent run per multirun, created before any worker starts."""
from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pipeline import tracking
from pipeline.paths import project_root

#: Parent runs opened in this process: {run_id: uri}. Closed at the end of the sweep,
#: or by the command line's cleanup if the sweep broke off.
OPEN_PARENTS: dict[str, str] = {}


class TrackingCallback(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_id = tracking.start_parent(config, config.hydra.sweep.dir, project_root())
        if run_id:
            OPEN_PARENTS[run_id] = config.tracking.uri

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        close_open_parents(failed=False)


def close_open_parents(failed: bool, killed: bool = False) -> None:
    while OPEN_PARENTS:
        run_id, uri = OPEN_PARENTS.popitem()
        tracking.end_parent(uri, run_id, failed=failed, killed=killed)
