"""Build frozen config dataclasses from plain dicts, rejecting unknown keys by name."""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from typing import Any

from ..errors import ConfigError

__all__ = ["check_types", "dataclass_from_dict", "dataclass_to_dict"]


def dataclass_from_dict(cls: type, data: Any, *, where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``data``; lists become tuples for tuple fields.

    Parameters
    ----------
    cls
        A dataclass type.
    data
        A mapping of field names to values (``None`` means all defaults).
    where
        Where the values come from (``"model.encoder_params"``), used in error messages.

    Raises
    ------
    ConfigError
        For a non-mapping, an unknown key (listing the valid keys) or a rejected value.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got "
                          f"{type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; valid keys: "
                          f"{', '.join(sorted(fields))}")
    check_types(cls, data, where=where)
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if isinstance(value, list) and "tuple" in str(hints.get(key, "")):
            value = tuple(value)
        values[key] = value
    try:
        return cls(**values)
    except ConfigError as exc:
        if str(exc).startswith(where.split()[0]):  # already names the key
            raise
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad value ({exc})") from None


def _describe(hint: Any) -> str:
    """Words for a type annotation (``tuple[int, ...]`` -> ``a list of integers``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        words = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(words) + (" or null" if type(None) in args else "")
    if origin is tuple:
        return f"a list of {_describe(args[0]).split(' ', 1)[1]}s" if args else "a list"
    return {bool: "a boolean (true or false)", int: "an integer", float: "a number",
            str: "a string", dict: "a mapping"}.get(origin or hint, str(hint))


def _fits(hint: Any, value: Any) -> bool:
    """Whether ``value`` (from YAML/JSON) fits the annotation ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(a, value) for a in args)
    if hint is type(None):
        return value is None
    if origin is tuple:
        return isinstance(value, (tuple, list)) and all(_fits(args[0], v) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if (origin or hint) is dict:
        return isinstance(value, dict)
    return True


def _why(value: Any) -> str:
    """A likely cause of a type mismatch in a YAML file."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, bool) for v in items):
        return " (YAML reads unquoted yes/no/on/off/true/false as booleans; quote them)"
    for v in items:
        if isinstance(v, str):
            try:
                float(v)
            except ValueError:
                continue
            return (" (YAML reads a number like 1e-3 without a decimal point as text; write "
                    "1.0e-3)")
    return ""


def check_types(cls: type, values: dict[str, Any], *, where: str) -> None:
    """Raise :class:`ConfigError` if a value does not fit its dataclass field's annotation.

    Parameters
    ----------
    cls
        A dataclass type.
    values
        ``{field: value}`` as read from YAML or JSON (lists allowed for tuple fields).
    where
        Where the values come from, prefixed to the message (``"training"``).

    Raises
    ------
    ConfigError
        ``"<where>.<key>: expected <type>, got <value>"`` plus a likely cause.
    """
    sep = ": " if " " in where else "."  # "task 'a': n_outputs" but "training.epochs"
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        hint = hints.get(key, Any)
        if not _fits(hint, value):
            raise ConfigError(f"{where}{sep}{key}: expected {_describe(hint)}, got {value!r}"
                              f"{_why(value)}")


def dataclass_to_dict(obj: Any) -> dict:
    """A JSON-ready dict of a (nested) config dataclass; tuples become lists."""
    def plain(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(obj).items()}
