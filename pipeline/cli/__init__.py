"""The front door shared by every stage: the lab's ``--help`` (:mod:`pipeline.cli.usage`), configs
registered, every job validated first (:mod:`pipeline.cli.precheck`), then Hydra; exit statuses;
interruption; cleanup.

Exit statuses (DESIGN.md §3): 0 success (a diverged run or a failed claim is a result), 2 invalid
configuration or data (one line ``error: <key>: <what is wrong>``, nothing written), 1 any other
failure, 128 + the signal on Ctrl-C or SIGTERM (open runs end KILLED).
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Any, Callable, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

import hydra_plugins.softmax_lab_sweeper  # noqa: F401  (hydra/sweeper=lab in the ConfigStore for every compose)

from pipeline import data, papers, problems, solvers
from pipeline.cli import precheck, usage
from pipeline.core import schema
from pipeline.core.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError
from pipeline.core.paths import CONF_DIR, no_run_dir, register_resolvers
from pipeline.tracking import close_open_parents

#: stages that write results/ and reports/ only: they run without a Hydra run folder (no outputs/<date>/<time>/)
RESULT_STAGES = ("plot", "verify", "report")

JOBS_ENV = "SOFTMAX_LAB_SWEEP_JOBS"


def register_configs() -> None:
    """Register every schema in Hydra's ConfigStore: the run's own (core), each seam's (problems, data,
    solvers) and the profile with every registered paper's sizes (group ``sizes``: one option per profile)."""
    cs = ConfigStore.instance()
    schema.store(cs)
    problems.store_schemas(cs)
    data.store_schemas(cs)
    solvers.store_schemas(cs)
    sizes = papers.sizes_schema()
    cs.store(group="profile", name="profile_schema", node=schema.profile_schema(sizes))
    for name in schema.PROFILES:
        cs.store(group="sizes", name=name, node=papers.profile_sizes(sizes, name))


def search_path(argv: list[str]) -> list[str]:
    """The override that adds the config folders of papers outside the lab to Hydra's search path (their
    studies), unless the command line sets ``hydra.searchpath`` itself."""
    dirs = [p.config_dir for p in papers.papers() if p.config_dir is not None]
    if not dirs or any(a.lstrip("+").startswith("hydra.searchpath=") for a in argv):
        return []
    return ["hydra.searchpath=[" + ",".join(f"'file://{d}'" for d in dirs) + "]"]


def compose(overrides=(), config_name: str = "config") -> DictConfig:
    """The composed config of some overrides (Hydra's compose API, with the lab's schemas and papers)."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    register_configs()
    overrides = list(overrides)
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name, overrides=overrides + search_path(overrides))


def main(task: Callable[[DictConfig], Any], config_name: str = "config", argv: Optional[list[str]] = None,
         extra_check: Optional[Callable[[DictConfig], None]] = precheck.check_data_file) -> int:
    """Validate, then run ``task`` under ``@hydra.main``; return the exit status."""
    import hydra

    register_resolvers()
    argv = list(sys.argv[1:] if argv is None else argv)
    if precheck.hydra_args(argv).help:  # the lab's own help (Hydra's stays at --hydra-help)
        print(usage.lab_help(usage.stage_of(task)), end="")
        return EXIT_OK
    if usage.stage_of(task) in RESULT_STAGES:  # they write results/ and reports/ only: no outputs/<date>/<time>/
        argv = no_run_dir(argv)
    try:
        register_configs()
        argv += search_path(argv)
        jobs = precheck.precheck(config_name, argv, extra_check)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    os.environ[JOBS_ENV] = str(jobs)  # read by the jobs to show the sweep's progress
    argv = argv + _worker_env(argv, jobs)

    @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
    def _app(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None

    saved = sys.argv
    sys.argv = [saved[0]] + argv
    code = EXIT_OK
    restore = _interrupt_on_sigterm()
    try:
        _app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    except KeyboardInterrupt as exc:
        code = 128 + getattr(exc, "signum", signal.SIGINT)
    finally:
        sys.argv = saved
        restore()
        close_open_parents(failed=code != EXIT_OK, killed=code > 128)
    return code


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's cancel or preemption), raised like Ctrl-C: open runs end KILLED."""

    signum = signal.SIGTERM


def _interrupt_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into :class:`Terminated` while the command runs (main thread, default handler
    only: a launcher's own handler is left alone); returns the function that restores the old one."""
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return lambda: None

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_env(argv: list[str], jobs: int) -> list[str]:
    """For a sweep, Hydra settings that set the sweep's job count and project root in each job's
    environment: a launcher's workers (a Ray cluster, a SLURM node) do not inherit this process's."""
    if not precheck.hydra_args(argv).multirun:
        return []
    env = {JOBS_ENV: str(jobs)}
    if os.environ.get("SOFTMAX_LAB_ROOT"):
        env["SOFTMAX_LAB_ROOT"] = os.environ["SOFTMAX_LAB_ROOT"]
    quoted = {k: "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for k, v in env.items()}  # a path may hold , = or spaces
    return [f"++hydra.job.env_set.{k}={v}" for k, v in quoted.items()]


__all__ = ["JOBS_ENV", "compose", "main", "register_configs", "search_path"]
