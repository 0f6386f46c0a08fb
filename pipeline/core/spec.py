"""Declared ranges and choices of config fields, and the walker that checks them.

A structured config is a dataclass whose fields are made with :func:`spec` (a default and a
range or a set of choices) and which may define ``check(node, prefix)`` for rules between its
fields. :func:`validate_node` walks a composed config and raises :class:`ConfigError` naming
the full key of the first value out of range. This module imports nothing else of the project
but its errors, so that every layer may declare its configs with it.
"""
from __future__ import annotations

import math
from dataclasses import field, fields, is_dataclass
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from pipeline.core.errors import ConfigError

__all__ = ["spec", "check_value", "validate_node", "check_memory"]


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
    ``check`` (cross-field rules); untyped nodes are walked for typed ones below them."""
    if not isinstance(node, DictConfig):
        return
    typ = OmegaConf.get_type(node)
    if typ is None or not is_dataclass(typ):
        for k in node.keys():
            validate_node(node[k], f"{prefix}.{k}" if prefix else str(k))
        return
    for f in fields(typ):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if OmegaConf.is_missing(node, f.name):
            raise ConfigError(key, "is required but was not given")
        _check_field(key, node[f.name], f.metadata)
    check = getattr(typ, "check", None)
    if check is not None:
        check(node, prefix)


def check_memory(key: str, nbytes: int, fraction: float = 0.5) -> None:
    """Refuse sizes whose memory estimate exceeds a fraction of the machine's memory."""
    try:
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if nbytes > fraction * total:
        raise ConfigError(key, f"needs about {nbytes / 2**30:.1f} GiB, more than {fraction:.0%} of this machine's {total / 2**30:.1f} GiB")
