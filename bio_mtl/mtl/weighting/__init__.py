"""Loss-weighting strategies: one registry, one file per method."""

from __future__ import annotations

from ...errors import ConfigError
from .base import WeightingStrategy
from .equal import EqualWeighting

__all__ = ["WEIGHTINGS", "WeightingStrategy", "get_weighting"]

# name -> class; the single source for the trainer, the CLI choices, the docs table and tests.
WEIGHTINGS: dict[str, type[WeightingStrategy]] = {
    "equal": EqualWeighting,
}


def get_weighting(name: str, task_names, **params) -> WeightingStrategy:
    """Build the weighting strategy ``name`` for ``task_names``.

    Raises
    ------
    ConfigError
        For an unknown name (listing the valid ones) or bad parameters.
    """
    try:
        cls = WEIGHTINGS[name]
    except KeyError:
        raise ConfigError(f"unknown weighting strategy {name!r}; choose one of "
                          f"{', '.join(sorted(WEIGHTINGS))}") from None
    try:
        return cls(task_names, **params)
    except TypeError as exc:
        raise ConfigError(f"weighting {name!r}: bad parameters {params}: {exc}") from None
