"""The precheck: every job of a command validated before Hydra starts any of them.

For a sweep that is every job of the grid (command-line sweeps and the study's
``hydra.sweeper.params``): types, ranges and cross-field rules of the schema
(:func:`pipeline.core.schema.validate`), then the rules that need torch, the kernels or the solvers
(:func:`check_job`), the tracking server and the data files. Bad input is refused with exit status 2
and a one-line message naming the key; nothing is written and no MLflow run is created before this
check passes. This is the one validation of a job: the jobs themselves trust it.

No override is a silent no-op, and no message advises ``+key``: a key that the config does not have is
refused with or without ``+`` (Hydra's "To append to your config use +key" is caught and said again,
with the closest valid keys, :func:`pipeline.core.spec.unknown_key`), and a choice of an internal
schema or group (``solver=gd_schema``, ``sizes=quick``) is refused before any composition
(:func:`check_choices`, :mod:`pipeline.cli.catalog`).
"""
from __future__ import annotations

import itertools
import re
from typing import Callable, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from kernels.backend import resolve
from pipeline.cli import catalog
from pipeline.core.errors import ConfigError, UsageError
from pipeline.core.grid import is_sweep, sweep_grid
from pipeline.core.paths import CONF_DIR
from pipeline.core.schema import validate
from pipeline.core.spec import check_keys, unknown_key
from pipeline.data import check_file
from pipeline.problems import PROBLEMS
from pipeline.reference.diagnostics import DIAGNOSTICS
from pipeline.solvers import SOLVERS
from pipeline.tracking import check_reachable

MAX_CHECKED_COMBINATIONS = 2000
#: the lines of Hydra's messages that advise a ``+`` (which would turn the error into a silent no-op)
PLUS_ADVICE = ("To append to your", "Either remove + prefix", "Or add a second +")
_OVERRIDE = re.compile(r"Could not override '([^']+)'")
_APPEND = re.compile(r"An item is already at '([^']+)'")


def hydra_args(argv: list[str]):
    """Hydra's own parse of a command line (flags, overrides, --multirun)."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(argv)


def _short(exc: BaseException) -> str:
    """The message of a Hydra/OmegaConf error without its traceback or object dump."""
    lines = [ln.rstrip() for ln in str(exc).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.strip().startswith(("object_type=", "reference_type=", "child_node=", *PLUS_ADVICE))]
    return " | ".join(keep[:6]) or type(exc).__name__


def check_job(cfg: DictConfig) -> None:
    """The rules of a job that need torch, the kernels, the problems or the solvers: the device exists, the
    kernel backend runs on it, the data kind builds the problem, the solver works on the problem, the
    diagnostics are known."""
    try:
        dev = torch.device(cfg.device)
    except RuntimeError as exc:
        raise ConfigError("device", f"not a torch device: {cfg.device!r} ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda requested but no CUDA device is available")
    try:
        resolve(cfg.kernels.backend, dev)
    except ValueError as exc:
        raise ConfigError("kernels.backend", str(exc)) from None
    kinds = PROBLEMS[cfg.problem.name].data_kinds
    if cfg.data.kind not in kinds:
        raise ConfigError("data", f"problem {cfg.problem.name} takes data {' or '.join(kinds)}, got "
                                  f"data={cfg.data.kind} (choose e.g. data={kinds[0]})")
    if not getattr(PROBLEMS[cfg.problem.name], "has_reference", True) and cfg.reference.method != "none":
        raise ConfigError("reference.method", f"problem {cfg.problem.name} (a network trained from its own W(0)) has no "
                                              f"reference optimum to compute; set reference.method=none")
    if cfg.x0 == "problem" and not hasattr(PROBLEMS[cfg.problem.name], "initial_point"):
        raise ConfigError("x0", f"x0=problem needs a problem with its own initialisation (a network's W(0)); "
                                f"problem {cfg.problem.name} has none (choose x0=zeros or x0=sphere)")
    needs = getattr(SOLVERS.get(cfg.solver.name), "problems", None)
    if needs is not None and cfg.problem.name not in needs:
        raise ConfigError("solver", f"solver {cfg.solver.name} works on problem {' or '.join(needs)} only, got "
                                    f"problem={cfg.problem.name}")
    for i, name in enumerate(cfg.diagnostics.measure):
        if name not in DIAGNOSTICS:
            raise ConfigError(f"diagnostics.measure[{i}]", f"must be one of {list(DIAGNOSTICS)}, got {name!r}")


def check_data_file(cfg: DictConfig) -> None:
    """Validate an external instance file before any job starts."""
    if cfg.get("data") is not None:
        check_file(cfg)


def precheck(config_name: str, argv: list[str], extra_check: Optional[Callable[[DictConfig], None]] = None) -> int:
    """Compose and validate every job of this command; return the number of jobs checked."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    args = hydra_args(argv)
    if args.help or args.hydra_help or args.info or args.cfg or args.shell_completion:
        return 0
    name = args.config_name or config_name
    GlobalHydra.instance().clear()
    try:
        check_choices(args.overrides)
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            if args.multirun:
                base = _compose(name, [o for o in args.overrides if not is_sweep(o)], return_hydra_config=True)
                node = base.hydra.sweeper.get("params")
                params = OmegaConf.to_container(node, resolve=True) if node is not None else {}
                fixed, grid = sweep_grid(args.overrides, params)
            else:
                fixed, grid = list(args.overrides), {}
            return _check_grid(name, fixed, grid, extra_check)
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


def check_config(cfg: DictConfig) -> None:
    """All the rules of one composed job config: every key declared (with or without ``+``, the closest
    valid keys suggested), the schema's rules, then those that need torch or the solvers."""
    try:
        check_keys(cfg)
    except ConfigError as exc:
        raise _with_options(exc) from None
    validate(cfg)
    check_job(cfg)


def check_choices(overrides: list[str]) -> None:
    """Refuse, before any composition, an override that chooses an internal group (``sizes=quick``), an
    internal schema (``solver=gd_schema``) or an option that is not one (every value of a sweep)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    internal = catalog.internal_groups()
    for o in OverridesParser.create().parse_overrides(overrides):
        group = o.key_or_group
        if group in internal:
            raise ConfigError(group, f"is internal to the lab, not a config group to choose: {internal[group]}")
        if group not in catalog.groups() or o.is_delete():
            continue
        choices = catalog.options(group)
        for value in _choice_values(o):
            if value not in choices:
                what = f"{value!r} is an internal schema, not an option" if catalog.is_internal(value) \
                    else f"unknown option {value!r}"
                raise ConfigError(group, f"{what}; available: {', '.join(choices)}")


def _choice_values(override) -> list[str]:
    """The option names an override of a group chooses (a sweep's every value; none for a glob)."""
    from hydra.core.override_parser.types import Glob

    value = override.value()
    if isinstance(value, Glob):
        return []
    if override.is_sweep_override():
        return list(override.sweep_string_iterator())
    return [value] if isinstance(value, str) else []


def _compose(name: str, overrides: list[str], **kw) -> DictConfig:
    """Hydra's compose, its errors about unknown keys and the defaults list said in the lab's words."""
    from hydra import compose
    from hydra.errors import ConfigCompositionException

    try:
        return compose(name, overrides=list(overrides), **kw)
    except ConfigCompositionException as exc:
        err = _composition_error(name, list(overrides), exc)
        if err is None:
            raise
    except AssertionError:  # OmegaConf.update below a null node: study.y=loss with no study chosen
        err = _below_null(name, list(overrides))
        if err is None:
            raise
    raise err from None


def _below_null(name: str, overrides: list[str]) -> Optional[ConfigError]:
    """The error for an override of a key below a node that is null in the config (``study.y=loss`` when
    no study is chosen), found in the config composed without the overrides of keys."""
    cfg = _compose(name, [o for o in overrides if "." not in _override_key(o)])
    for o in overrides:
        parts = _override_key(o).split(".")
        for i in range(1, len(parts)):
            if OmegaConf.select(cfg, ".".join(parts[:i]), default=0) is None:
                node = ".".join(parts[:i])
                chosen = f"; the default config has no {node}" if node in catalog.groups() else ""
                return ConfigError(_override_key(o), f"{node} is null in this config, so it has no keys to set{chosen}")
    return None


def _override_key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def _composition_error(name: str, overrides: list[str], exc: BaseException) -> Optional[ConfigError]:
    """The lab's error for Hydra's "Could not override 'k'" (an unknown key: the config composed without
    it gives the valid keys) and "An item is already at 'k'" (``+`` on a key that exists); None for others."""
    text = str(exc)
    m = _APPEND.search(text)
    if m:
        line = next((o.lstrip("+") for o in overrides if _override_key(o) == m.group(1)), f"{m.group(1)}=VALUE")
        return ConfigError(m.group(1), f"is already a key of the config: set it with {line}")
    m = _OVERRIDE.search(text)
    if m is None:
        return None
    key = m.group(1)
    if "No match in the defaults list" in text:
        return _not_in_defaults(key)
    return _unknown(_compose(name, [o for o in overrides if _override_key(o) != key]), key)


def _not_in_defaults(group: str) -> ConfigError:
    """``study=NAME``: a group that the primary config does not choose is added, not overridden."""
    if group not in catalog.groups():
        return ConfigError(group, f"not a config group; the config groups are {', '.join(catalog.groups())}")
    return ConfigError(group, f"the default config has no {group}, so one is added rather than overridden: "
                              f"+{group}=NAME, with NAME one of {', '.join(catalog.options(group))}")


def _unknown(cfg: DictConfig, key: str) -> ConfigError:
    """The error for ``key`` (``data.kapa``, ``stop.nonsense.x``), which ``cfg`` does not have: named at its
    first part that is missing, with the closest valid keys of the node above it."""
    parts = key.split(".")
    node, depth = cfg, 0
    while depth < len(parts) - 1 and parts[depth] in node and isinstance(node[parts[depth]], DictConfig):
        node, depth = node[parts[depth]], depth + 1
    if parts[depth] in node:  # a value given sub-keys (seed.x=1)
        return ConfigError(".".join(parts[:depth + 1]), f"is a value, not a node with keys (got {key})")
    return _with_options(unknown_key(node, ".".join(parts[:depth + 1]), ".".join(parts[:depth])))


def _with_options(exc: ConfigError) -> ConfigError:
    """An unknown key of a group (``data.path`` with ``data=synthetic``) said with the options of the group
    that have it (``data=file``), when some do."""
    group, _, leaf = exc.key.partition(".")
    if not leaf or "." in leaf or "[" in leaf or group not in catalog.groups():
        return exc
    having = [f"{group}={o}" for o in catalog.options_declaring(group, leaf)]
    if not having:
        return exc
    return ConfigError(exc.key, f"unknown key of the {group} chosen; did you mean {' or '.join(having)}, which "
                                f"{'has' if len(having) == 1 else 'have'} {leaf}?")


def _check_one(cfg: DictConfig, extra_check) -> None:
    check_config(cfg)
    check_reachable(cfg.get("tracking"))
    if extra_check is not None:
        extra_check(cfg)


def _job_config(name: str, base, base_ovr: list[str], value_keys: list[str], values) -> DictConfig:
    """One job's config: ``base`` updated in place with the plain values (type-checked against the schema as
    composition would), or composed in full when a value is a container."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    if base is None:
        return _compose(name, base_ovr + [f"{k}={v}" for k, v in zip(value_keys, values)])
    parser = OverridesParser.create()
    for k, v in zip(value_keys, values):
        value = parser.parse_override(f"{k}={v}").value()
        if isinstance(value, (dict, list)):
            return _compose(name, base_ovr + [f"{k}={v}" for k, v in zip(value_keys, values)])
        try:
            OmegaConf.update(base, k, value, merge=False)
        except (ConfigAttributeError, ConfigKeyError):  # a key the config does not have
            raise _unknown(base, k) from None
        except Exception as exc:  # the same error composition would raise, with its key
            raise ConfigError(k, f"Error merging override {k}={v}: {_short(exc)}") from None
    return base


def _check_grid(name: str, fixed: list[str], grid: dict[str, list[str]], extra_check) -> int:
    """Validate every job of the grid.

    Hydra composition is slow (about 0.2 s here), so it runs once per combination
    of group choices; the plain value overrides of each job are then applied to a
    copy with ``OmegaConf.update``, which type-checks them against the schema just
    as composition would. Anything unusual (appends, deletions, containers) is
    composed in full.
    """
    grid = {k: v for k, v in grid.items() if not k.startswith("hydra.")}  # Hydra's own settings
    group_keys = [k for k in grid if _is_group(k)]
    value_keys = [k for k in grid if k not in group_keys]
    simple = all(not k.startswith(("+", "~")) for k in value_keys)
    checked = 0
    for groups in itertools.product(*(grid[k] for k in group_keys)):
        base_ovr = fixed + [f"{k}={v}" for k, v in zip(group_keys, groups)]
        base = _compose(name, base_ovr) if simple else None
        for values in itertools.product(*(grid[k] for k in value_keys)):
            if checked >= MAX_CHECKED_COMBINATIONS:
                return checked
            _check_one(_job_config(name, base, base_ovr, value_keys, values), extra_check)
            checked += 1
    return max(1, checked)


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
