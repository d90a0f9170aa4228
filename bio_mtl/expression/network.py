"""The expression network: an encoder block in the engine's registry plus engine heads.

``encoder(x) -> z`` (``Linear -> ReLU -> Dropout -> Linear``: a linear latent, so a linear
decoder's weights are per-gene loadings) is registered as the ``"expression"`` entry of
:data:`bio_mtl.mtl.ENCODERS`. Everything else comes from :data:`bio_mtl.mtl.HEADS`:

- one ``"linear"`` head per labelled task, reading ``z``;
- ``reconstruction``: a ``"linear"`` decoder from ``z`` back to the standardised HVG
  expression (as in LDVAE, Svensson et al. 2020);
- ``batch_adversary`` (with ``adversarial_batch``): the ``"adversarial"`` head (gradient
  reversal, Ganin & Lempitsky 2015) on ``z``. The encoder then appends the batch one-hot
  (``condition``) to its output, so the decoder also reads the batch (as in scVI) while the
  task heads and the adversary see ``z`` only (:class:`LatentSlice`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import ConfigError
from ..mtl.encoders import get_encoder
from ..mtl.heads import get_head
from ..mtl.model import MultiTaskModel

if TYPE_CHECKING:
    from ..mtl.tasks import TaskSpec
    from .config import ExpressionConfig

__all__ = ["RESERVED_TASKS", "ExpressionEncoder", "ExpressionEncoderConfig", "LatentSlice",
           "build_network"]

#: Task names the model adds itself (an ``obs`` column may not use them).
RESERVED_TASKS = ("reconstruction", "batch_adversary")


@dataclass(frozen=True)
class ExpressionEncoderConfig:
    """Configuration of :class:`ExpressionEncoder`.

    Parameters
    ----------
    input_dim
        Number of genes ``G``.
    hidden_dim
        Width of the hidden layer.
    latent_dim
        Width ``K`` of the latent z.
    dropout
        Dropout after the hidden layer.
    n_conditions
        Width ``C`` of a condition one-hot (the batch) appended to the output; 0 for none.
    """

    input_dim: int = 2000
    hidden_dim: int = 128
    latent_dim: int = 10
    dropout: float = 0.1
    n_conditions: int = 0

    def __post_init__(self) -> None:
        if min(self.input_dim, self.hidden_dim, self.latent_dim) < 1 or self.n_conditions < 0:
            raise ConfigError("expression encoder: input_dim, hidden_dim and latent_dim must be "
                              ">= 1 and n_conditions >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"expression encoder: dropout must be in [0, 1), got "
                              f"{self.dropout}")


class ExpressionEncoder(nn.Module):
    """``(N, G)`` standardised expression -> ``(N, K)`` latent, or ``(N, K + C)`` with a condition.

    Examples
    --------
    >>> enc = ExpressionEncoder(ExpressionEncoderConfig(input_dim=5, hidden_dim=4, latent_dim=2,
    ...                                                 n_conditions=3))
    >>> tuple(enc(torch.zeros(7, 5), condition=torch.zeros(7, 3)).shape), enc.out_dim
    ((7, 5), 5)
    """

    def __init__(self, config: ExpressionEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.net = nn.Sequential(nn.Linear(config.input_dim, config.hidden_dim), nn.ReLU(),
                                 nn.Dropout(config.dropout),
                                 nn.Linear(config.hidden_dim, config.latent_dim))
        self.out_dim = config.latent_dim + config.n_conditions

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The latent z alone: ``(N, G)`` -> ``(N, K)``."""
        return self.net(x)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """``[z, condition]`` (``mask`` is accepted for the encoder signature and ignored)."""
        z = self.net(x)                                                  # (N, K)
        if not self.config.n_conditions:
            return z
        if condition is None:
            raise ConfigError("this expression encoder appends a condition one-hot of width "
                              f"{self.config.n_conditions}; pass condition=")
        return torch.cat([z, condition.to(z.dtype)], dim=1)              # (N, K + C)


class LatentSlice(nn.Module):
    """Feed ``head`` the first ``width`` features only (the latent, without the condition)."""

    def __init__(self, width: int, head: nn.Module) -> None:
        super().__init__()
        self.width = width
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(N, K + C)`` -> ``head((N, K))``."""
        return self.head(features[:, : self.width])


def build_network(n_genes: int, tasks: Sequence[TaskSpec], config: ExpressionConfig, *,
                  n_batches: int = 0) -> MultiTaskModel:
    """The :class:`~bio_mtl.mtl.MultiTaskModel` for ``tasks`` (user tasks and reserved ones).

    Parameters
    ----------
    n_genes
        Input width (the model's HVGs).
    tasks
        Task specs; ``reconstruction`` and ``batch_adversary`` get their reserved heads.
    config
        The model's :class:`~bio_mtl.expression.ExpressionConfig`.
    n_batches
        Batch categories (the condition width when ``config.adversarial_batch``).

    Returns
    -------
    bio_mtl.mtl.MultiTaskModel

    Examples
    --------
    >>> from bio_mtl.expression import ExpressionConfig
    >>> from bio_mtl.mtl import TaskSpec
    >>> net = build_network(6, [TaskSpec("age", "regression", 1),
    ...                         TaskSpec("reconstruction", "regression", 6)],
    ...                     ExpressionConfig(latent_dim=2, hidden_dim=4))
    >>> sorted(k for k, v in net(torch.zeros(3, 6)).items() if v.shape[0] == 3)
    ['age', 'reconstruction']
    """
    k = config.latent_dim
    n_cond = n_batches if config.adversarial_batch else 0
    encoder = get_encoder("expression", input_dim=n_genes, hidden_dim=config.hidden_dim,
                          latent_dim=k, dropout=config.dropout, n_conditions=n_cond)
    heads: dict[str, nn.Module] = {}
    for task in tasks:
        if task.name == "reconstruction":
            heads[task.name] = get_head("linear", k + n_cond, n_genes)
        elif task.name == "batch_adversary":
            heads[task.name] = LatentSlice(k, get_head(
                "adversarial", k, task.n_outputs, alpha=config.adversary_alpha,
                hidden_dims=(config.hidden_dim,)))
        else:
            heads[task.name] = LatentSlice(k, get_head("linear", k, task.n_outputs))
    return MultiTaskModel(encoder, heads)
