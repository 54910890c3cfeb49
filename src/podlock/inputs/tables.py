"""Typed reads from a TOML table (a config file's): each error names the key and the file,
and an unknown key names the closest known one."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from podlock.errors import ConfigError


def check_keys(table: Mapping[str, Any], known: set[str], *, file: str | None, prefix: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            raise ConfigError(
                f"unknown config key '{prefix}{key}'",
                file=file,
                hint=f"did you mean '{prefix}{close[0]}'?"
                if close
                else f"known keys: {', '.join(sorted(known))}",
            )


def as_str(value: Any, key: str, file: str | None) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {type(value).__name__}", file=file)
    return value


def str_value(table: Mapping[str, Any], key: str, file: str | None) -> str:
    return as_str(table[key], key, file)


def opt_str(table: Mapping[str, Any], key: str, file: str | None) -> str | None:
    return str_value(table, key, file) if key in table else None


def str_list(table: Mapping[str, Any], key: str, file: str | None) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of strings", file=file)
    return [as_str(v, key, file) for v in value]


def subtable(table: Mapping[str, Any], key: str, file: str | None) -> Mapping[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a table", file=file)
    return value


def choice(
    table: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str, file: str | None
) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}", file=file)
    return str(value)
