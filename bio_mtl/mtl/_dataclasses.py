"""Build frozen config dataclasses from plain dicts, rejecting unknown keys by name."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from ..errors import ConfigError

__all__ = ["dataclass_from_dict", "dataclass_to_dict"]


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


def dataclass_to_dict(obj: Any) -> dict:
    """A JSON-ready dict of a (nested) config dataclass; tuples become lists."""
    def plain(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(obj).items()}
