"""Declared ranges and choices of config fields, and the walker that checks them.

A structured config is a dataclass whose fields are made with :func:`spec` (a default and a
range or a set of choices) and which may define ``check(node, prefix)`` for rules between its
fields. :func:`validate_node` walks a composed config and raises :class:`ConfigError` naming
the full key of the first value out of range, or of the first key that its dataclass does not
declare (``+data.kapa=30`` adds one, which no code would ever read): :func:`check_keys` does that
walk alone, and :func:`unknown_key` makes the error, with the closest valid keys. This module
imports nothing else of the project but its errors, so that every layer may declare its configs
with it.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import field, fields, is_dataclass
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from pipeline.core.errors import ConfigError

__all__ = ["spec", "check_value", "validate_node", "check_keys", "unknown_key", "dotted_keys", "check_memory"]

#: keys a composed root may hold besides its dataclass's fields (Hydra's own node, with return_hydra_config)
ROOT_EXTRAS = ("hydra",)


def spec(default: Any = MISSING, *, ge=None, gt=None, le=None, lt=None, choices=None, **kw):
    """A dataclass field with a declared range or set of choices."""
    meta = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices).items() if v is not None}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


def check_value(key: str, value: Any, meta: dict) -> None:
    """One value against its declared choices and range (None always passes: optional fields)."""
    if value is None:
        return
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(key, f"must be one of {list(meta['choices'])}, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, f"must be finite, got {value}")
        for op, bad, word in (("ge", lambda v, b: v < b, "≥"), ("gt", lambda v, b: v <= b, ">"),
                              ("le", lambda v, b: v > b, "≤"), ("lt", lambda v, b: v >= b, "<")):
            if op in meta and bad(value, meta[op]):
                raise ConfigError(key, f"must be {word} {meta[op]}, got {value}")


def _check_field(key: str, value: Any, meta: dict) -> None:
    if isinstance(value, ListConfig):
        for i, item in enumerate(value):
            check_value(f"{key}[{i}]", item, meta)
            validate_node(item, f"{key}[{i}]")
    elif isinstance(value, DictConfig):
        validate_node(value, key)
    else:
        check_value(key, value, meta)


def validate_node(node: Any, prefix: str = "") -> None:
    """Check every field of a composed config below ``prefix`` against its spec, then the node's own
    ``check`` (cross-field rules); untyped nodes are walked for typed ones below them. A key that a
    dataclass node does not declare is refused (:func:`unknown_key`)."""
    if not isinstance(node, DictConfig):
        return
    typ = OmegaConf.get_type(node)
    if typ is None or not is_dataclass(typ):
        for k in node.keys():
            validate_node(node[k], f"{prefix}.{k}" if prefix else str(k))
        return
    _refuse_undeclared(node, typ, prefix)
    for f in fields(typ):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if OmegaConf.is_missing(node, f.name):
            raise ConfigError(key, "is required but was not given")
        _check_field(key, node[f.name], f.metadata)
    check = getattr(typ, "check", None)
    if check is not None:
        check(node, prefix)


def _refuse_undeclared(node: DictConfig, typ: type, prefix: str) -> None:
    """Refuse the first key of a dataclass node that the dataclass does not declare."""
    declared = {f.name for f in fields(typ)} | (set(ROOT_EXTRAS) if not prefix else set())
    for k in node.keys():
        if k not in declared:
            raise unknown_key(node, f"{prefix}.{k}" if prefix else str(k), prefix)


def check_keys(node: Any, prefix: str = "") -> None:
    """Refuse the first key anywhere below ``prefix`` that its dataclass node does not declare (only
    that: no value is checked); untyped nodes and the items of lists are walked for typed ones."""
    if isinstance(node, ListConfig):
        for i, item in enumerate(node):
            check_keys(item, f"{prefix}[{i}]")
        return
    if not isinstance(node, DictConfig):
        return
    typ = OmegaConf.get_type(node)
    if typ is not None and is_dataclass(typ):
        _refuse_undeclared(node, typ, prefix)
    for k in node.keys():
        if not OmegaConf.is_missing(node, k):
            check_keys(node[k], f"{prefix}.{k}" if prefix else str(k))


def dotted_keys(node: Any, prefix: str = "") -> list[str]:
    """Every key below ``node`` written in full (``data.kappa``, ``stop.eps_grid``), nodes and leaves,
    the items of lists left out; what a command line may set."""
    if not isinstance(node, DictConfig):
        return []
    out = []
    for k in node.keys():
        key = f"{prefix}.{k}" if prefix else str(k)
        out += [key, *([] if OmegaConf.is_missing(node, k) else dotted_keys(node[k], key))]
    return out


def unknown_key(node: Any, key: str, prefix: str = "") -> ConfigError:
    """The error for ``key``, which node ``node`` (at ``prefix``) does not have: the closest of the
    node's valid keys as a suggestion (difflib, on the part below ``prefix``, then on the last part
    alone), else the keys the node has."""
    cut = len(prefix) + 1 if prefix else 0
    declared = getattr(OmegaConf.get_type(node), "__dataclass_fields__", None) if isinstance(node, DictConfig) else None
    valid = [k for k in dotted_keys(node, prefix) if k != key and (prefix or k not in ROOT_EXTRAS)
             and (declared is None or k[cut:].split(".")[0] in declared)]  # not another key added with +
    close = _closest(key[cut:], {k[cut:]: k for k in valid}, 0.7) or \
        _closest(key.rpartition(".")[2], {k: k for k in valid}, 0.8, lambda k: k.rpartition(".")[2])
    if close:
        return ConfigError(key, f"unknown key; did you mean {' or '.join(close)}?")
    top = [k[cut:] for k in valid if "." not in k[cut:]]
    return ConfigError(key, f"unknown key; the keys of {prefix or 'the config'} are {', '.join(top)}")


def _closest(word: str, candidates: dict[str, str], cutoff: float, part=lambda k: k) -> list[str]:
    """The values of ``candidates`` whose key (its ``part``) is like ``word`` (difflib's ratio ≥ ``cutoff``):
    the best, and a second one only when nearly as close."""
    scored = sorted(((difflib.SequenceMatcher(None, word, part(k)).ratio(), v) for k, v in candidates.items()),
                    key=lambda t: -t[0])
    scored = [(r, v) for r, v in scored if r >= cutoff]
    return [v for r, v in scored[:2] if r >= scored[0][0] - 0.05]


def check_memory(key: str, nbytes: int, fraction: float = 0.5) -> None:
    """Refuse sizes whose memory estimate exceeds a fraction of the machine's memory."""
    try:
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if nbytes > fraction * total:
        raise ConfigError(key, f"needs about {nbytes / 2**30:.1f} GiB, more than {fraction:.0%} of this machine's {total / 2**30:.1f} GiB")
