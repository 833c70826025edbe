"""YAML configs mapped onto dataclasses, with `key=value` overrides from the command line."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def _convert(tp: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return from_dict(tp, value)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType) and value is not None:
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:  # Optional[X]: convert as X
            return _convert(members[0], value)
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if tp is float and isinstance(value, int | str) and not isinstance(value, bool):
        return float(value)  # YAML reads "1e-3" as a string
    if tp is int and isinstance(value, str):
        return int(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass `cls` from a dict; unknown keys are an error (typos must not pass)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}; known: {sorted(names)}")
    return cls(**{k: _convert(hints[k], v) for k, v in data.items()})


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`a.b=3` sets data["a"]["b"] = 3 (value parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override '{item}' is not key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] = ()) -> T:
    data: dict[str, Any] = {}
    if path is not None:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    return from_dict(cls, apply_overrides(data, list(overrides)))
