"""Shared encoders, each built from its own frozen config dataclass.

Every encoder has ``forward(x, mask=None)`` and an ``out_dim`` attribute:

- ``mlp``: tabular ``(N, F)`` -> ``(N, D)``.
- ``cnn``: residual dilated 1-D convolutions (Yu & Koltun 2016, ICLR; He et al. 2016, CVPR),
  tokens -> ``(N, L, D)``.
- ``bilstm``: bidirectional LSTM (Hochreiter & Schmidhuber 1997; Graves & Schmidhuber 2005),
  optionally behind the CNN front end (the NetSurfP-2.0 recipe, Klausen et al. 2019).
- ``transformer``: pre-norm Transformer encoder (Vaswani et al. 2017) with relative positions,
  rotary embeddings (RoPE, Su et al. 2021, arXiv:2104.09864) or ALiBi (Press et al. 2022, ICLR),
  so it runs on lengths never seen in training.

Token encoders take ``(N, L)`` integer indices (``input_dim=None``) or ``(N, L, F)`` float
features, plus an optional ``(N, L)`` boolean padding ``mask`` (True = real token). Padded
positions come out as zeros. With ``pool`` set they return one ``(N, D)`` vector per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ._dataclasses import dataclass_from_dict
from ._layers import (
    PaddedBiLSTM,
    _check,
    _check_tokens,
    _ConvStack,
    _TokenInput,
    masked_pool,
    resolve_entry,
)
from .transformer import TransformerEncoder, TransformerEncoderConfig

__all__ = ["ENCODERS", "BiLSTMEncoder", "BiLSTMEncoderConfig", "ConvEncoder",
           "ConvEncoderConfig", "MLPEncoder", "MLPEncoderConfig", "TransformerEncoder",
           "TransformerEncoderConfig", "get_encoder", "masked_pool"]


@dataclass(frozen=True)
class MLPEncoderConfig:
    """Configuration of :class:`MLPEncoder`.

    Parameters
    ----------
    input_dim
        Number of input features ``F``.
    hidden_dims
        Widths of the hidden layers; the last one is the output width ``D``.
    dropout
        Dropout after each hidden layer.
    """

    input_dim: int = 16
    hidden_dims: tuple[int, ...] = (64, 32)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check(self.input_dim >= 1, "mlp", "input_dim must be >= 1")
        _check(len(self.hidden_dims) >= 1 and min(self.hidden_dims) >= 1, "mlp",
               "hidden_dims must list at least one positive width")
        _check(0.0 <= self.dropout < 1.0, "mlp", "dropout must be in [0, 1)")


class MLPEncoder(nn.Module):
    """Tabular encoder: ``Linear -> GELU -> Dropout`` blocks, ``(N, F)`` -> ``(N, D)``."""

    def __init__(self, config: MLPEncoderConfig) -> None:
        super().__init__()
        self.config = config
        layers, width = [], config.input_dim
        for hidden in config.hidden_dims:
            layers += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(config.dropout)]
            width = hidden
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``x`` ``(N, F)``; ``mask`` is accepted for a uniform signature and ignored."""
        return self.net(x.float())

@dataclass(frozen=True)
class ConvEncoderConfig:
    """Configuration of :class:`ConvEncoder` (also the ``conv_*`` front end of the others).

    Parameters
    ----------
    input_dim
        ``None`` for token-index input, else the per-position feature width ``F``.
    vocab_size, padding_idx
        Token vocabulary (index input only); ``padding_idx`` also gives the default mask.
    channels
        Convolution width ``D``.
    n_layers
        Number of residual blocks.
    kernel_size
        Odd kernel width.
    dilations
        Dilation of each block, cycled.
    dropout
        Dropout inside each block.
    pool
        ``"none"`` (token features) or ``"mean"`` / ``"max"`` / ``"first"`` (one vector).
    """

    input_dim: int | None = None
    vocab_size: int = 22
    padding_idx: int | None = 0
    channels: int = 64
    n_layers: int = 3
    kernel_size: int = 5
    dilations: tuple[int, ...] = (1, 2, 4)
    dropout: float = 0.1
    pool: str = "none"

    def __post_init__(self) -> None:
        _check_tokens("cnn", self.input_dim, self.vocab_size, self.dropout, self.pool)
        _check(self.kernel_size % 2 == 1, "cnn", f"kernel_size must be odd, got "
               f"{self.kernel_size}")
        _check(self.channels >= 1 and self.n_layers >= 1, "cnn",
               "channels and n_layers must be >= 1")
        _check(len(self.dilations) >= 1 and min(self.dilations) >= 1, "cnn",
               "dilations must list positive integers")

class ConvEncoder(nn.Module):
    """Residual dilated 1-D CNN over tokens: ``(N, L)`` or ``(N, L, F)`` -> ``(N, L, D)``."""

    def __init__(self, config: ConvEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.input = _TokenInput(config.input_dim, config.vocab_size, config.padding_idx,
                                 config.channels)
        self.stack = _ConvStack(config.channels, config.n_layers, config.kernel_size,
                                config.dilations, config.dropout)
        self.out_dim = config.channels

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``x``; padded positions are zero in the output."""
        h, mask = self.input(x, mask)
        h = self.stack(h, mask)
        return h if self.config.pool == "none" else masked_pool(h, mask, self.config.pool)


@dataclass(frozen=True)
class BiLSTMEncoderConfig:
    """Configuration of :class:`BiLSTMEncoder`.

    Parameters
    ----------
    input_dim, vocab_size, padding_idx
        As in :class:`ConvEncoderConfig`.
    embed_dim
        Embedding / projection width (and CNN width when ``conv_layers > 0``).
    hidden
        LSTM hidden size per direction; the output width is ``2 * hidden``.
    n_layers
        Stacked LSTM layers.
    conv_layers, kernel_size, dilations
        Optional residual dilated CNN in front of the LSTM (0 = none).
    dropout
        Dropout between LSTM layers and in the CNN.
    pool
        As in :class:`ConvEncoderConfig`.
    """

    input_dim: int | None = None
    vocab_size: int = 22
    padding_idx: int | None = 0
    embed_dim: int = 32
    hidden: int = 32
    n_layers: int = 1
    conv_layers: int = 0
    kernel_size: int = 5
    dilations: tuple[int, ...] = (1, 2, 4)
    dropout: float = 0.1
    pool: str = "none"

    def __post_init__(self) -> None:
        _check_tokens("bilstm", self.input_dim, self.vocab_size, self.dropout, self.pool)
        _check(self.hidden >= 1 and self.n_layers >= 1 and self.conv_layers >= 0, "bilstm",
               "hidden and n_layers must be >= 1, conv_layers >= 0")
        _check(self.kernel_size % 2 == 1, "bilstm", "kernel_size must be odd")


class BiLSTMEncoder(nn.Module):
    """(CNN ->) bidirectional LSTM over tokens: ``(N, L[, F])`` -> ``(N, L, 2 * hidden)``.

    Sequences must be right-padded (real tokens first); lengths come from ``mask``. The LSTM is
    :class:`~bio_mtl.mtl._layers.PaddedBiLSTM`: exact on padded batches without packing, at the
    speed of the fused padded kernels (the structure encoder uses the same one).
    """

    def __init__(self, config: BiLSTMEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.input = _TokenInput(config.input_dim, config.vocab_size, config.padding_idx,
                                 config.embed_dim)
        self.conv = _ConvStack(config.embed_dim, config.conv_layers, config.kernel_size,
                               config.dilations, config.dropout) if config.conv_layers else None
        self.lstm = PaddedBiLSTM(config.embed_dim, config.hidden, config.n_layers,
                                 dropout=config.dropout if config.n_layers > 1 else 0.0)
        self.out_dim = 2 * config.hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``x``; padded positions are zero in the output."""
        h, mask = self.input(x, mask)                                 # (N, L, E)
        if self.conv is not None:
            h = self.conv(h, mask)
        h = self.lstm(h, mask.sum(1)) * mask.unsqueeze(-1)            # (N, L, 2H)
        return h if self.config.pool == "none" else masked_pool(h, mask, self.config.pool)

# name -> (config class, module class): the single source for get_encoder, YAML and the docs.
ENCODERS: dict[str, tuple[type, type] | str] = {
    "mlp": (MLPEncoderConfig, MLPEncoder),
    "cnn": (ConvEncoderConfig, ConvEncoder),
    "bilstm": (BiLSTMEncoderConfig, BiLSTMEncoder),
    "transformer": (TransformerEncoderConfig, TransformerEncoder),
    "structure": "bio_mtl.structure.model:StructureModelConfig:StructureEncoder",
    "pathway": "bio_mtl.dosing.pathway:PathwayEncoderConfig:PathwayEncoder",
    "expression": "bio_mtl.expression.network:ExpressionEncoderConfig:ExpressionEncoder",
}


def get_encoder(name: str, **config) -> nn.Module:
    """Build encoder ``name`` from keyword config values.

    Parameters
    ----------
    name
        A key of :data:`ENCODERS`.
    **config
        Fields of that encoder's config dataclass.

    Raises
    ------
    ConfigError
        For an unknown name (listing the valid ones), unknown keys or bad values.

    Examples
    --------
    >>> enc = get_encoder("mlp", input_dim=4, hidden_dims=[8])
    >>> enc.out_dim
    8
    """
    if name not in ENCODERS:
        raise ConfigError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
    config_cls, module_cls = resolve_entry(ENCODERS[name])
    return module_cls(dataclass_from_dict(config_cls, config, where=f"encoder {name!r}"))
