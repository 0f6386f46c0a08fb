"""Exceptions that map to the documented exit statuses (DESIGN.md §3).

``UsageError`` and its subclasses mean invalid configuration or data: exit 2,
with a message that names the offending key or field. Anything else is exit 1.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Invalid input. ``key`` names the config key or data field at fault."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class ConfigError(UsageError):
    """A configuration value is of the wrong type, out of range or unknown."""


class DataError(UsageError):
    """A data file is missing, unreadable or inconsistent."""
