"""The frozen configuration an expression model's network and preprocessing are built from."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["ROTATIONS", "ExpressionConfig"]

#: Post-hoc rotations of the latent (:mod:`bio_mtl.expression.rotation`).
ROTATIONS = ("varimax", "none")


@dataclass(frozen=True)
class ExpressionConfig:
    """Architecture and preprocessing of an expression model.

    :class:`~bio_mtl.expression.ExpressionModel` builds one from its hyperparameters at
    ``fit`` and saves it as the ``"model"`` section of the checkpoint's ``config.json``.

    Parameters
    ----------
    latent_dim
        Width of the latent z.
    hidden_dim
        Width of the encoder's hidden layer (and of the batch adversary's).
    dropout
        Dropout after the hidden layer.
    n_top_genes
        Highly variable genes kept (Seurat flavour).
    target_sum
        ``normalize_total`` target for count input.
    adversarial_batch
        Add the gradient-reversal batch adversary (needs a batch key).
    adversary_alpha
        Strength of the reversed gradient. 0.1 by default: with 1.0 the encoder out-runs the
        adversary and learns to encode the batch *inverted* (measured on the simulator: batch
        eta^2 0.62 with alpha 1.0 vs 0.00 with alpha 0.1; see docs/dissect.md).
    rotation
        ``"varimax"`` or ``"none"``: the post-hoc rotation of the latent.
    val_fraction
        Share of samples (chosen by hashing their names) held out for the reported metrics.

    Raises
    ------
    ConfigError
        A width below 1, fewer than 2 genes, an unknown rotation or a held-out share outside
        ``[0, 0.9)``.

    Examples
    --------
    >>> ExpressionConfig(latent_dim=4).hidden_dim
    128
    >>> ExpressionConfig(rotation="promax")
    Traceback (most recent call last):
    ...
    bio_mtl.errors.ConfigError: expression model: unknown rotation 'promax'; choose ...
    """

    latent_dim: int = 10
    hidden_dim: int = 128
    dropout: float = 0.1
    n_top_genes: int = 2000
    target_sum: float = 1e4
    adversarial_batch: bool = False
    adversary_alpha: float = 0.1
    rotation: str = "varimax"
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or self.hidden_dim < 1 or self.n_top_genes < 2:
            raise ConfigError("expression model: latent_dim, hidden_dim must be >= 1 and "
                              "n_top_genes >= 2")
        if self.rotation not in ROTATIONS:
            raise ConfigError(f"expression model: unknown rotation {self.rotation!r}; choose "
                              f"one of {', '.join(ROTATIONS)}")
        if not 0 <= self.val_fraction < 0.9:
            raise ConfigError("expression model: val_fraction must be in [0, 0.9)")
