"""Command-line front door shared by every stage: validation first, exit statuses, cleanup.

Before Hydra starts any job, :func:`precheck` checks the config of every job of
the sweep (command-line sweeps and the study's ``hydra.sweeper.params``):
types, ranges, cross-field rules and data files. It refuses
bad input with exit status 2 and a one-line message naming the key. Nothing is
written and no MLflow run is created before that check passes.
"""
from __future__ import annotations

import functools
import itertools
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from omegaconf import DictConfig, OmegaConf

from pipeline.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ConfigError, UsageError
from pipeline.paths import CONF_DIR, register_resolvers

MAX_CHECKED_COMBINATIONS = 2000
JOBS_ENV = "SOFTMAX_LAB_SWEEP_JOBS"


def _hydra_args(argv: list[str]):
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(argv)


def _short(exc: BaseException) -> str:
    """The message of a Hydra/OmegaConf error without its traceback or object dump."""
    lines = [ln.rstrip() for ln in str(exc).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.strip().startswith(("object_type=", "reference_type=", "child_node="))]
    return " | ".join(keep[:6]) or type(exc).__name__


def sweep_grid(overrides: list[str], sweeper_params: Optional[dict]) -> tuple[list[str], dict[str, list[str]]]:
    """Split overrides into fixed ones and a grid {key: [values]} (command line wins)."""
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


def precheck(config_name: str, argv: list[str], extra_check: Optional[Callable[[DictConfig], None]] = None) -> int:
    """Compose and validate every job of this command; return the number of jobs checked."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    from pipeline.schema import register_configs, validate

    args = _hydra_args(argv)
    register_configs()  # also for --cfg/--info, which compose the config too
    if args.help or args.hydra_help or args.info or args.cfg or args.shell_completion:
        return 0
    name = args.config_name or config_name
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            if args.multirun:
                base = compose(name, overrides=[o for o in args.overrides if _is_fixed(o)],
                               return_hydra_config=True)
                node = base.hydra.sweeper.get("params")
                params = OmegaConf.to_container(node, resolve=True) if node is not None else {}
                fixed, grid = sweep_grid(args.overrides, params)
            else:
                fixed, grid = list(args.overrides), {}
            return _check_grid(name, fixed, grid, validate, extra_check)
    except UsageError:
        raise
    except MissingConfigException as exc:
        raise _missing_option(exc) from None
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        cause = exc.__cause__ or exc.__context__
        detail = _short(cause) if isinstance(cause, OmegaConfBaseException) else ""
        msg = _short(exc) + (f": {detail}" if detail and detail not in _short(exc) else "")
        raise ConfigError(_key_of(exc), msg) from None
    finally:
        GlobalHydra.instance().clear()


def _is_group(key: str) -> bool:
    """Whether an override key selects a config group option (e.g. solver, +study, hydra/launcher)."""
    k = key.lstrip("+~")
    return "/" in k or (CONF_DIR / k).is_dir()


def _check_grid(name: str, fixed: list[str], grid: dict[str, list[str]], validate, extra_check) -> int:
    """Validate every job of the grid.

    Hydra composition is slow (about 0.2 s here), so it runs once per combination
    of group choices; the plain value overrides of each job are then applied to a
    copy with ``OmegaConf.update``, which type-checks them against the schema just
    as composition would. Anything unusual (appends, deletions, containers) is
    composed in full.
    """
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    grid = {k: v for k, v in grid.items() if not k.startswith("hydra.")}  # Hydra's own settings
    group_keys = [k for k in grid if _is_group(k)]
    value_keys = [k for k in grid if k not in group_keys]
    simple = all(not k.startswith(("+", "~")) for k in value_keys)
    checked = 0
    for groups in itertools.product(*(grid[k] for k in group_keys)):
        base_ovr = fixed + [f"{k}={v}" for k, v in zip(group_keys, groups)]
        base = compose(name, overrides=base_ovr) if simple else None
        for values in itertools.product(*(grid[k] for k in value_keys)):
            if checked >= MAX_CHECKED_COMBINATIONS:
                return checked
            if base is None:
                cfg = compose(name, overrides=base_ovr + [f"{k}={v}" for k, v in zip(value_keys, values)])
            else:
                cfg = base  # every job sets every value key, so the base is updated in place
                for k, v in zip(value_keys, values):
                    value = parser.parse_override(f"{k}={v}").value()
                    if isinstance(value, (dict, list)):
                        cfg = compose(name, overrides=base_ovr + [f"{k}={v}" for k, v in zip(value_keys, values)])
                        break
                    try:
                        OmegaConf.update(cfg, k, value, merge=False)
                    except Exception as exc:  # the same error composition would raise, with its key
                        raise ConfigError(k, f"Error merging override {k}={v}: {_short(exc)}") from None
            validate(cfg)
            check_tracking_server(cfg)
            if extra_check is not None:
                extra_check(cfg)
            checked += 1
    return max(1, checked)


def _is_fixed(o: str) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return not OverridesParser.create().parse_overrides([o])[0].is_sweep_override()


def _missing_option(exc) -> ConfigError:
    """'solver=foo' -> "solver: unknown option 'foo'; available: gd, newton, ..." (schemas hidden)."""
    missing = str(getattr(exc, "missing_cfg_file", "") or "")
    group, _, option = missing.rpartition("/")
    options = [o for o in (getattr(exc, "options", None) or []) if not o.endswith("_schema")]
    if group and options is not None:
        return ConfigError(group.replace("/", "."), f"unknown option {option!r}; available: {', '.join(options)}")
    return ConfigError("config", _short(exc))


def _key_of(exc: BaseException) -> str:
    key = getattr(exc, "full_key", None)
    if key:
        return str(key)
    cause = exc.__cause__ or exc.__context__
    key = getattr(cause, "full_key", None) if cause else None
    return str(key) if key else "config"


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


def check_tracking_server(cfg: DictConfig) -> None:
    """With ``tracking=server``, refuse to start when no server answers at the URI (once per URI):
    MLflow's own client would retry for minutes and then fail inside the first job."""
    t = cfg.get("tracking")
    if t is None or t.get("backend") != "server":
        return
    why = _server_problem(str(t.uri))
    if why:
        raise ConfigError("tracking.uri", f"no mlflow server at {t.uri}: {why}; start one (mlflow server "
                                          "--backend-store-uri ... --host ... --port ...) or choose tracking=sqlite")


def check_data_file(cfg: DictConfig) -> None:
    """Validate an external instance file before any job starts."""
    if cfg.get("data") is not None and cfg.data.get("kind") == "file":
        from pipeline.data.io import load_instance

        load_instance(cfg.data.path)
    if cfg.get("data") is not None and cfg.data.get("kind") == "attention_file":
        from pipeline.data.attention import load_attention

        load_attention(cfg.data)


def main(task: Callable[[DictConfig], Any], config_name: str = "config", argv: Optional[list[str]] = None,
         extra_check: Optional[Callable[[DictConfig], None]] = check_data_file) -> int:
    """Validate, then run ``task`` under ``@hydra.main``; return the exit status."""
    import hydra

    from pipeline import callbacks

    import os

    register_resolvers()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        jobs = precheck(config_name, argv, extra_check)
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
        callbacks.close_open_parents(failed=code != EXIT_OK, killed=code > 128)
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
    import os

    if not _hydra_args(argv).multirun:
        return []
    env = {JOBS_ENV: str(jobs)}
    if os.environ.get("SOFTMAX_LAB_ROOT"):
        env["SOFTMAX_LAB_ROOT"] = os.environ["SOFTMAX_LAB_ROOT"]
    quoted = {k: "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for k, v in env.items()}  # a path may hold , = or spaces
    return [f"++hydra.job.env_set.{k}={v}" for k, v in quoted.items()]


def job_task(cfg: DictConfig) -> dict:
    """``python -m pipeline``: one job (or one job of a sweep)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from pipeline import job, tracking

    hc = HydraConfig.get()
    parent = tracking.parent_of(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
    job.limit_threads(int(cfg.threads))
    summary = job.run(cfg, Path(hc.runtime.output_dir), parent, list(hc.overrides.task))
    report_job(summary, hc.runtime.output_dir, hc.job.num if hc.mode == RunMode.MULTIRUN else None)
    return summary


def report_job(summary: dict, output_dir: str, job_num: Optional[int]) -> None:
    """One line per finished job; in a sweep, prefixed by the job's number out of the sweep's total."""
    import os

    from rich.console import Console
    from rich.markup import escape

    color = {"finished": "green", "diverged": "yellow"}.get(summary["status"], "red")
    gap = summary["final_relative_gap"]
    prefix = escape(f"[job {job_num + 1}/{os.environ.get(JOBS_ENV, '?')}] ") if job_num is not None else ""
    if summary.get("resumed_from"):
        Console(highlight=False, soft_wrap=True).print(
            f"{prefix}{summary['solver']}: resumed (config hash {summary['config_hash']} has FINISHED run "
            f"{summary['resumed_from']}; resume=false reruns it) -> {escape(str(output_dir))}")
        return
    Console(highlight=False, soft_wrap=True).print(
        f"{prefix}{summary['solver']}: [{color}]{summary['status']}[/{color}] after {summary['iterations']} "
        f"iterations, final gap {gap:.2e}, ‖∇L‖ = {summary['final_grad_norm']:.2e} -> {escape(str(output_dir))}"
        if gap is not None else f"{prefix}{summary['solver']}: {summary['status']} -> {output_dir}")


def run_pipeline() -> None:
    sys.exit(main(job_task))
