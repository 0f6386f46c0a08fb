"""Where a job, the verify stage and the plot stage mirror what they write: the tracking sink.

A :class:`Sink` opens runs, finds the latest run with some tags and adds files or metrics to an
existing run; a :class:`Run` takes params, metrics (buffered by the sink), tags, artifacts and the
instance it ran on (a dataset input), and ends FINISHED, or FAILED/KILLED when the block it guards raises. The files of record
are written by the stages whatever the sink; the sink only mirrors them. :class:`NullSink` is the
sink of ``tracking=off``: every call does nothing, so no code outside the tracking layer asks
whether tracking is on. The MLflow sink is in :mod:`pipeline.tracking`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Protocol


class Run(Protocol):
    """One run of the store (a job, a sweep's parent, the verify stage or one claim)."""

    run_id: Optional[str]

    def __enter__(self) -> "Run": ...
    def __exit__(self, exc_type, exc, tb) -> bool: ...
    def params(self, values: Mapping[str, Any]) -> None: ...
    def metrics(self, values: Mapping[str, Optional[float]], step: int = 0) -> None: ...
    def tags(self, values: Mapping[str, str]) -> None: ...
    def artifacts(self, paths: Iterable[Path]) -> None: ...
    def dataset(self, name: str, digest: str, source: str, profile: Mapping[str, Any]) -> None:
        """The instance the run solved, as a dataset input named ``name`` whose digest is its content hash."""
    def end(self, status: str = "FINISHED") -> None: ...


class Sink(Protocol):
    """Opens runs in one store; a sweep's parent run is opened by the tracking layer itself."""

    def open(self) -> None:
        """Make the store ready before a single run (schema, runs orphaned by dead processes)."""

    def run(self, name: str, tags: Mapping[str, str], parent: Optional[str] = None,
            experiment: Optional[str] = None) -> Run:
        """A new run (a child of ``parent`` when given; in ``experiment`` instead of the configured one)."""

    def resume(self, config_hash: str, output_dir: Path, files: Iterable[str]) -> Optional[str]:
        """The id of a FINISHED run with this config hash whose ``files`` were restored into
        ``output_dir``, or None (then the job runs)."""

    def attach(self, run_id: Optional[str], paths: Iterable[Path]) -> None:
        """Add files to an existing run (a study's table and figure to its sweep's parent)."""

    def attach_metrics(self, run_id: Optional[str], values: Mapping[str, Optional[float]]) -> None:
        """Add metrics to an existing run (a study's fitted slopes to its sweep's parent); None values are skipped."""

    def find(self, tags: Mapping[str, str], experiment: Optional[str] = None) -> Optional[str]:
        """The id of the latest run with these tags (in ``experiment`` instead of the configured one), or None."""


class NullRun:
    """A run that records nothing (``tracking=off``)."""

    run_id: Optional[str] = None

    def __enter__(self) -> "NullRun":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        return False

    def params(self, values: Mapping[str, Any]) -> None:
        pass

    def metrics(self, values: Mapping[str, Optional[float]], step: int = 0) -> None:
        pass

    def tags(self, values: Mapping[str, str]) -> None:
        pass

    def artifacts(self, paths: Iterable[Path]) -> None:
        pass

    def dataset(self, name: str, digest: str, source: str, profile: Mapping[str, Any]) -> None:
        pass

    def end(self, status: str = "FINISHED") -> None:
        pass


class NullSink:
    """The sink of ``tracking=off``: files of record only."""

    def open(self) -> None:
        pass

    def run(self, name: str, tags: Mapping[str, str], parent: Optional[str] = None,
            experiment: Optional[str] = None) -> NullRun:
        return NullRun()

    def resume(self, config_hash: str, output_dir: Path, files: Iterable[str]) -> Optional[str]:
        return None

    def attach(self, run_id: Optional[str], paths: Iterable[Path]) -> None:
        pass

    def attach_metrics(self, run_id: Optional[str], values: Mapping[str, Optional[float]]) -> None:
        pass

    def find(self, tags: Mapping[str, str], experiment: Optional[str] = None) -> Optional[str]:
        return None
