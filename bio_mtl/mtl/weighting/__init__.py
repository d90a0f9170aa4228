"""Loss-weighting strategies: one registry, one file per method.

Every strategy implements :class:`~bio_mtl.mtl.weighting.base.WeightingStrategy`; the
trainer builds one with :func:`get_weighting` and never branches on its name.
"""

from __future__ import annotations

import inspect

from ...errors import ConfigError
from .base import WeightingStrategy
from .cagrad import CAGrad
from .dwa import DynamicWeightAverage
from .equal import EqualWeighting
from .famo import FAMO
from .gradnorm import GradNorm
from .inverse_loss import InverseLossWeighting
from .mgda import MGDA
from .nash_mtl import NashMTL
from .pcgrad import PCGrad
from .random_weighting import RandomWeighting
from .sample_count import SampleCountWeighting
from .static import StaticWeighting
from .uncertainty import UncertaintyWeighting

__all__ = ["WEIGHTINGS", "WeightingStrategy", "get_weighting"]

# name -> class; the single source for the trainer, the CLI choices, the docs table and tests.
WEIGHTINGS: dict[str, type[WeightingStrategy]] = {
    "equal": EqualWeighting,
    "static": StaticWeighting,
    "inverse_loss": InverseLossWeighting,
    "sample_count": SampleCountWeighting,
    "uncertainty": UncertaintyWeighting,
    "gradnorm": GradNorm,
    "dwa": DynamicWeightAverage,
    "random": RandomWeighting,
    "pcgrad": PCGrad,
    "cagrad": CAGrad,
    "mgda": MGDA,
    "famo": FAMO,
    "nash_mtl": NashMTL,
}


def get_weighting(name: str, task_names, **params) -> WeightingStrategy:
    """Build the weighting strategy ``name`` for ``task_names``.

    Parameters
    ----------
    name
        A key of :data:`WEIGHTINGS` (lower case).
    task_names
        Names of the tasks, in a fixed order.
    **params
        The strategy's keyword parameters (e.g. ``temperature=2.0`` for ``"dwa"``).

    Returns
    -------
    WeightingStrategy
        The strategy, ready for :meth:`~WeightingStrategy.backward`.

    Raises
    ------
    ConfigError
        For an unknown name (listing the valid ones), an unknown parameter (listing the
        strategy's parameters) or a parameter value out of range.

    Examples
    --------
    >>> get_weighting("dwa", ["ss8", "rsa"], temperature=2.0).temperature
    2.0
    """
    try:
        cls = WEIGHTINGS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown weighting strategy {name!r}; choose one of "
                          f"{', '.join(sorted(WEIGHTINGS))}") from None
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in
                ("self", "task_names")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"weighting {name!r}: unknown parameter(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(accepted) or '(none)'}")
    try:
        return cls(task_names, **params)
    except TypeError as exc:
        raise ConfigError(f"weighting {name!r}: bad parameters {params}: {exc}") from None
