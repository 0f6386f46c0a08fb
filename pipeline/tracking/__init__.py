"""The tracking sink: MLflow (``tracking=sqlite`` or ``server``) or nothing (``tracking=off``).

:func:`sink` (:mod:`pipeline.tracking.store`) decides by ``tracking.backend``; everything above gets a
:class:`~pipeline.core.sink.Sink` and mirrors what it writes to it. Sweeps' parent runs and their
table of outcomes (:mod:`pipeline.tracking.sweeps`), orphan reaping and resume from a run of the same
config and code version (:mod:`pipeline.tracking.lifecycle`, :func:`pipeline.tracking.client.code_version`)
and the check that a tracking server answers (:func:`check_reachable`) live here too.
"""
from __future__ import annotations

import functools
from typing import Optional

from omegaconf import DictConfig

from pipeline.core.errors import ConfigError
from pipeline.tracking.store import sink
from pipeline.tracking.sweeps import close_open_parents, parent_of


@functools.lru_cache(maxsize=None)
def _server_problem(uri: str) -> Optional[str]:
    """None if an mlflow server answers ``GET <uri>/health`` within a few seconds, else why not."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as r:
            return None if r.status == 200 else f"GET /health answered HTTP {r.status}"
    except urllib.error.HTTPError as exc:
        return f"GET /health answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"no answer ({getattr(exc, 'reason', exc)})"


def check_reachable(tracking: Optional[DictConfig]) -> None:
    """With ``tracking=server``, refuse to start when no server answers at the URI (once per URI):
    MLflow's own client would retry for minutes and then fail inside the first job."""
    if tracking is None or tracking.get("backend") != "server":
        return
    why = _server_problem(str(tracking.uri))
    if why:
        raise ConfigError("tracking.uri", f"no mlflow server at {tracking.uri}: {why}; start one (mlflow server "
                                          "--backend-store-uri ... --host ... --port ...) or choose tracking=sqlite")


__all__ = ["check_reachable", "close_open_parents", "parent_of", "sink"]
