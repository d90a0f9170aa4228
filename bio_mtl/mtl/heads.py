"""Task heads: small modules mapping shared features ``(..., D)`` to one task's outputs.

Heads act on the last dimension, so the same head serves sequence-level ``(N, D)`` and
token-level ``(N, L, D)`` features. Regression heads with one output return ``(..., 1)``; the
task losses squeeze it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ._dataclasses import dataclass_from_dict
from ._layers import resolve_entry

__all__ = ["HEADS", "AdversarialHead", "AdversarialHeadConfig", "BoundedHead",
           "BoundedHeadConfig", "LinearHead", "LinearHeadConfig", "MLPHead", "MLPHeadConfig",
           "get_head"]


def _mlp_layers(in_dim: int, n_outputs: int, hidden_dims: tuple[int, ...],
                dropout: float) -> list[nn.Module]:
    """``(Linear -> GELU -> Dropout)* -> Linear`` as a list of layers."""
    layers, width = [], in_dim
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)]
        width = hidden
    return [*layers, nn.Linear(width, n_outputs)]


@dataclass(frozen=True)
class LinearHeadConfig:
    """Configuration of :class:`LinearHead`.

    Parameters
    ----------
    dropout
        Dropout on the features before the linear map.
    """

    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"head: dropout must be in [0, 1), got {self.dropout}")


class LinearHead(nn.Module):
    """``Dropout -> Linear(D, n_outputs)``: logits or unbounded values."""

    def __init__(self, in_dim: int, n_outputs: int, config: LinearHeadConfig | None = None):
        super().__init__()
        self.config = config or LinearHeadConfig()
        self.net = nn.Sequential(nn.Dropout(self.config.dropout), nn.Linear(in_dim, n_outputs))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., n_outputs)``."""
        return self.net(h)


@dataclass(frozen=True)
class MLPHeadConfig:
    """Configuration of :class:`MLPHead`.

    Parameters
    ----------
    hidden_dims
        Hidden widths of the head.
    dropout
        Dropout after each hidden layer.
    """

    hidden_dims: tuple[int, ...] = (32,)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not self.hidden_dims or min(self.hidden_dims) < 1:
            raise ConfigError("head: hidden_dims must list at least one positive width")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"head: dropout must be in [0, 1), got {self.dropout}")


class MLPHead(nn.Module):
    """``(Linear -> GELU -> Dropout)* -> Linear``: a task-specific tower."""

    def __init__(self, in_dim: int, n_outputs: int, config: MLPHeadConfig | None = None):
        super().__init__()
        self.config = config or MLPHeadConfig()
        self.net = nn.Sequential(*_mlp_layers(in_dim, n_outputs, self.config.hidden_dims,
                                              self.config.dropout))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., n_outputs)``."""
        return self.net(h)


@dataclass(frozen=True)
class BoundedHeadConfig:
    """Configuration of :class:`BoundedHead`.

    Parameters
    ----------
    lower, upper
        The output range (``[0, 1]`` for relative solvent accessibility).
    hidden_dims
        Optional hidden widths before the final linear map (empty = linear).
    dropout
        Dropout on the features.
    """

    lower: float = 0.0
    upper: float = 1.0
    hidden_dims: tuple[int, ...] = ()
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not self.upper > self.lower:
            raise ConfigError(f"head: upper ({self.upper}) must be greater than lower "
                              f"({self.lower})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"head: dropout must be in [0, 1), got {self.dropout}")


class BoundedHead(nn.Module):
    """Sigmoid-bounded regression: ``lower + (upper - lower) * sigmoid(f(h))``.

    Keeps predictions of bounded quantities (RSA in [0, 1], NetSurfP-2.0 style) in range.
    """

    def __init__(self, in_dim: int, n_outputs: int, config: BoundedHeadConfig | None = None):
        super().__init__()
        self.config = config or BoundedHeadConfig()
        layers, width = [nn.Dropout(self.config.dropout)], in_dim
        for hidden in self.config.hidden_dims:
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, n_outputs))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., n_outputs)`` within ``[lower, upper]``."""
        span = self.config.upper - self.config.lower
        return self.config.lower + span * torch.sigmoid(self.net(h))


@dataclass(frozen=True)
class AdversarialHeadConfig:
    """Configuration of :class:`AdversarialHead`.

    Parameters
    ----------
    alpha
        Strength of the reversed gradient that reaches the shared encoder.
    hidden_dims
        Hidden widths of the adversary (a non-linear adversary removes more than a linear one).
    dropout
        Dropout after each hidden layer.
    """

    alpha: float = 1.0
    hidden_dims: tuple[int, ...] = (32,)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ConfigError(f"head: alpha must be > 0, got {self.alpha}")
        if self.hidden_dims and min(self.hidden_dims) < 1:
            raise ConfigError("head: hidden_dims must be positive widths")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"head: dropout must be in [0, 1), got {self.dropout}")


class AdversarialHead(nn.Module):
    """A nuisance adversary: ``GradientReversal(alpha) -> (Linear -> GELU)* -> Linear``.

    Give it a task whose labels are a nuisance (batch, site, speaker). The head learns to
    predict the nuisance, while the reversed gradient pushes the shared encoder to make that
    impossible, scrubbing the nuisance from the shared features (domain-adversarial training,
    Ganin & Lempitsky 2015). The task's metric then measures how much nuisance is left
    (chance level is the goal).

    References
    ----------
    Ganin Y, Lempitsky V. Unsupervised domain adaptation by backpropagation. ICML 2015.
    """

    def __init__(self, in_dim: int, n_outputs: int,
                 config: AdversarialHeadConfig | None = None) -> None:
        from .grad_reversal import GradientReversal

        super().__init__()
        self.config = config or AdversarialHeadConfig()
        self.net = nn.Sequential(GradientReversal(self.config.alpha),
                                 *_mlp_layers(in_dim, n_outputs, self.config.hidden_dims,
                                              self.config.dropout))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., n_outputs)``; the gradient into ``h`` is reversed."""
        return self.net(h)


# name -> (config class, module class)
HEADS: dict[str, tuple[type, type] | str] = {
    "linear": (LinearHeadConfig, LinearHead),
    "mlp": (MLPHeadConfig, MLPHead),
    "bounded": (BoundedHeadConfig, BoundedHead),
    "adversarial": (AdversarialHeadConfig, AdversarialHead),
    "rsa": "bio_mtl.structure.model:BoundedHeadConfig:RSAHead",
    "drug": "bio_mtl.dosing.pathway:DrugHeadConfig:DrugHead",
}


def get_head(name: str, in_dim: int, n_outputs: int, **config) -> nn.Module:
    """Build head ``name`` mapping ``in_dim`` features to ``n_outputs``.

    Parameters
    ----------
    name
        A key of :data:`HEADS`.
    in_dim
        Width of the shared features.
    n_outputs
        Number of classes or regression outputs.
    **config
        Fields of that head's config dataclass.

    Raises
    ------
    ConfigError
        For an unknown name (listing the valid ones), unknown keys or bad values.
    """
    if name not in HEADS:
        raise ConfigError(f"unknown head {name!r}; choose one of {', '.join(HEADS)}")
    config_cls, module_cls = resolve_entry(HEADS[name])
    return module_cls(in_dim, n_outputs, dataclass_from_dict(config_cls, config,
                                                            where=f"head {name!r}"))
