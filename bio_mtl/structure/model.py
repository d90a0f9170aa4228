"""The structure network: residue embedding -> residual dilated CNN -> BiLSTM and/or
Transformer -> task heads, assembled from the engine's blocks.

The architecture follows the CNN + bidirectional-RNN family of single-sequence and profile
predictors (NetSurfP-2.0, Klausen et al. 2019, Proteins 87:520; SPOT-1D, Hanson et al. 2019,
Bioinformatics 35:2403): convolutions capture local sequence windows, the BiLSTM long-range
context, and hard parameter sharing (Caruana 1997, Machine Learning 28:41) feeds one shared
representation to an 8-state, a 3-state and an RSA head. Instead of (or after) the BiLSTM,
pre-norm Transformer blocks (:class:`bio_mtl.mtl.transformer.TransformerEncoder`) can carry the
long-range context; their positions are relative only (rotary embeddings, Su et al. 2021, or
ALiBi, Press et al. 2022), so they run on lengths never seen in training.

The encoder is registered in the engine as ``ENCODERS["structure"]`` and the RSA head as
``HEADS["rsa"]``; :func:`build_structure_model` builds both through the registries, from the
engine's input embedding, residual dilated convolutions (:mod:`bio_mtl.mtl._layers`),
:class:`~bio_mtl.mtl._layers.PaddedBiLSTM` and bounded head.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..mtl._dataclasses import dataclass_from_dict
from ..mtl._layers import PaddedBiLSTM, _ConvStack, _TokenInput
from ..mtl.encoders import get_encoder
from ..mtl.heads import BoundedHead, BoundedHeadConfig, get_head
from ..mtl.model import MultiTaskModel
from ..mtl.tasks import TaskSpec
from ..mtl.transformer import POSITIONS, TransformerEncoder, TransformerEncoderConfig
from .alphabet import PAD_INDEX, SS3, SS8

__all__ = ["TASKS", "TASK_HEADS", "BoundedHeadConfig", "RSAHead", "StructureEncoder",
           "StructureModelConfig", "build_structure_model", "structure_tasks",
           "upgrade_state_key"]

#: The per-residue tasks a structure model can carry.
TASKS = {
    "ss8": TaskSpec("ss8", "token_classification", 8, metrics=("accuracy", "macro_f1"),
                    labels=tuple(SS8)),
    "ss3": TaskSpec("ss3", "token_classification", 3, metrics=("accuracy", "macro_f1"),
                    labels=tuple(SS3)),
    "rsa": TaskSpec("rsa", "token_regression", 1, metrics=("pearson", "mae")),
    # disordered or unobserved residues (mask 0 of the NetSurfP-2.0 training set), as
    # NetSurfP-2.0 predicts them (Klausen et al. 2019)
    "disorder": TaskSpec("disorder", "token_classification", 2, metrics=("auroc", "mcc"),
                         labels=("ordered", "disordered")),
}


def structure_tasks(names) -> list[TaskSpec]:
    """The :class:`~bio_mtl.mtl.TaskSpec` of each named task (``ss8``, ``ss3``, ``rsa``,
    ``disorder``)."""
    return [TASKS[n] for n in names]


@dataclass(frozen=True)
class StructureModelConfig:
    """Hyper-parameters of the structure network.

    Parameters
    ----------
    tasks
        Heads to build, a subset of ``("ss8", "ss3", "rsa", "disorder")``.
    input_dim
        ``None`` for residue-index input (22 tokens: 20 amino acids, X, padding), or the width
        of precomputed per-residue features (e.g. 320 for ESM-2 t6 8M).
    embed_dim
        Residue embedding (or feature projection) width.
    conv_channels, conv_layers, kernel_size, dilations
        Residual 1-D convolution blocks; ``dilations`` cycles over the blocks.
    lstm_hidden, lstm_layers
        Bidirectional LSTM size (``lstm_layers=0`` gives a pure CNN).
    dropout
        Dropout between blocks and before the heads.
    ss3_source
        ``"head"``: predict SS3 with its own head; ``"ss8"``: sum the SS8 probabilities
        (G+H+I, E+B, S+T+C). Only affects prediction; the SS3 head is trained either way.
    backbone
        Name or file of the ESM-2 model whose features the model takes (``input_dim`` set);
        recorded so prediction can rebuild the same features.
    transformer_layers
        Pre-norm Transformer blocks after the convolutions (and the BiLSTM, if any); 0 = none.
        ``conv_layers=0, lstm_layers=0, transformer_layers=N`` is a plain Transformer.
    transformer_dim
        Transformer width (``None``: the width of the stage before it); the Transformer's input
        layer projects onto it.
    attention_heads
        Attention heads; ``transformer_dim`` must be divisible by it (with an even head size
        for RoPE).
    transformer_ff_dim
        Feed-forward width (``None``: 4 x ``transformer_dim``).
    position
        ``"rope"`` (rotary) or ``"alibi"``: both see only relative distances.

    Notes
    -----
    The Transformer fields were added after ``ss_rsa_resdcnn_nsp2_v1`` shipped; their defaults
    (no Transformer) rebuild every earlier checkpoint's network unchanged.
    """

    tasks: tuple[str, ...] = ("ss8", "ss3", "rsa")
    input_dim: int | None = None
    embed_dim: int = 64
    conv_channels: int = 128
    conv_layers: int = 3
    kernel_size: int = 7
    dilations: tuple[int, ...] = (1, 2, 4)
    lstm_hidden: int = 128
    lstm_layers: int = 2
    dropout: float = 0.25
    ss3_source: str = "head"
    backbone: str | None = None
    transformer_layers: int = 0
    transformer_dim: int | None = None
    attention_heads: int = 4
    transformer_ff_dim: int | None = None
    position: str = "rope"

    def __post_init__(self) -> None:
        bad = [t for t in self.tasks if t not in TASKS]
        if bad or not self.tasks:
            raise ConfigError(f"structure model: unknown task(s) {bad or '(none)'}; choose from "
                              f"{', '.join(TASKS)}")
        if self.ss3_source not in ("head", "ss8"):
            raise ConfigError(f"structure model: ss3_source {self.ss3_source!r} must be 'head' "
                              "or 'ss8'")
        if self.kernel_size % 2 == 0 or self.kernel_size < 1:
            raise ConfigError("structure model: kernel_size must be odd")
        if min(self.embed_dim, self.conv_channels) < 1 or self.conv_layers < 0 \
                or self.lstm_layers < 0 or not self.dilations:
            raise ConfigError("structure model: sizes must be positive")
        if not 0 <= self.dropout < 1:
            raise ConfigError("structure model: dropout must be in [0, 1)")
        if self.transformer_layers < 0:
            raise ConfigError("structure model: transformer_layers must be >= 0")
        if self.position not in POSITIONS:
            raise ConfigError(f"structure model: unknown position {self.position!r}; choose "
                              f"from {', '.join(POSITIONS)}")
        if self.transformer_layers:
            self.transformer_config()  # checks heads and width

    @property
    def recurrent_dim(self) -> int:
        """Width after the convolutions and the optional BiLSTM."""
        return 2 * self.lstm_hidden if self.lstm_layers else self.conv_channels

    def transformer_config(self) -> TransformerEncoderConfig:
        """The :class:`~bio_mtl.mtl.transformer.TransformerEncoderConfig` of the attention stage.

        Raises
        ------
        ConfigError
            A width not divisible by ``attention_heads`` (or an odd RoPE head size).
        """
        d_model = self.transformer_dim or self.recurrent_dim
        if self.attention_heads < 1 or d_model % self.attention_heads:
            raise ConfigError(f"structure model: transformer width {d_model} must be divisible "
                              f"by attention_heads={self.attention_heads}")
        if self.position == "rope" and (d_model // self.attention_heads) % 2:
            raise ConfigError(f"structure model: rope needs an even head size; width {d_model} "
                              f"/ attention_heads {self.attention_heads} is odd")
        return TransformerEncoderConfig(input_dim=self.recurrent_dim, d_model=d_model,
                                        n_heads=self.attention_heads,
                                        n_layers=self.transformer_layers,
                                        ff_dim=self.transformer_ff_dim or 4 * d_model,
                                        position=self.position, dropout=self.dropout)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["tasks"], out["dilations"] = list(self.tasks), list(self.dilations)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> StructureModelConfig:
        """Build from a dict; unknown keys and mistyped values raise :class:`ConfigError`."""
        return dataclass_from_dict(cls, data, where="structure model")


#: The head (a key of :data:`bio_mtl.mtl.HEADS`) each task gets.
TASK_HEADS = {"ss8": "linear", "ss3": "linear", "rsa": "rsa", "disorder": "linear"}


class StructureEncoder(nn.Module):
    """Shared per-residue encoder: ``(N, L)`` tokens or ``(N, L, F)`` features -> ``(N, L, D)``.

    Input embedding (or feature projection), a linear map to the convolution width, the
    engine's pre-norm residual dilated convolutions, LayerNorm, then the optional
    :class:`~bio_mtl.mtl._layers.PaddedBiLSTM` and Transformer.

    Examples
    --------
    >>> enc = StructureEncoder(StructureModelConfig(conv_channels=8, lstm_hidden=4))
    >>> tuple(enc(torch.tensor([[0, 1, 2, PAD_INDEX]])).shape)
    (1, 4, 8)
    """

    def __init__(self, config: StructureModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.input = _TokenInput(c.input_dim, PAD_INDEX + 1, PAD_INDEX, c.embed_dim)
        self.proj = nn.Linear(c.embed_dim, c.conv_channels)
        self.stack = _ConvStack(c.conv_channels, c.conv_layers, c.kernel_size, c.dilations,
                                c.dropout)
        self.norm = nn.LayerNorm(c.conv_channels)
        self.drop = nn.Dropout(c.dropout)
        # absent (not empty modules) when off, so each checkpoint holds only what it uses
        self.lstm = PaddedBiLSTM(c.conv_channels, c.lstm_hidden, c.lstm_layers,
                                 dropout=c.dropout) if c.lstm_layers else None
        self.transformer = TransformerEncoder(c.transformer_config()) \
            if c.transformer_layers else None
        self.out_dim = self.transformer.out_dim if self.transformer is not None \
            else c.recurrent_dim

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode; ``mask`` (N, L) is True at real residues (default: all / non-padding).

        Padded positions never reach a real residue: they are zeroed before every convolution,
        skipped by the BiLSTM (each direction runs over the sequence's own length) and
        excluded as attention keys.
        """
        x, mask = self.input(inputs, mask)                           # (N, L, embed_dim)
        keep = mask.unsqueeze(-1).to(x.dtype)
        x = self.stack(self.proj(x) * keep, mask)                    # (N, L, conv_channels)
        x = self.drop(self.norm(x)) * keep
        if self.lstm is not None:
            x = self.drop(self.lstm(x, mask.sum(dim=1)) * keep)      # (N, L, 2 * hidden)
        if self.transformer is not None:
            x = self.drop(self.transformer(x, mask))                 # (N, L, transformer_dim)
        return x


class RSAHead(BoundedHead):
    """Relative solvent accessibility: the engine's bounded head (``[0, 1]``), ``(N, L)`` out.

    Examples
    --------
    >>> tuple(RSAHead(4, 1)(torch.zeros(2, 3, 4)).shape)
    (2, 3)
    """

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(...)`` within ``[lower, upper]``."""
        return super().forward(h).squeeze(-1)


#: Tensor names of checkpoints written before the network was built from the engine's blocks
#: (``encoder.embed``, ``encoder.blocks.<i>.norm`` / ``.conv``, bare linear heads,
#: ``heads.rsa.linear``), mapped to today's names.
_LEGACY_NAMES = [
    (re.compile(r"^encoder\.embed\."), "encoder.input.embed."),
    (re.compile(r"^encoder\.blocks\.(\d+)\.(norm|conv)\."), r"encoder.stack.\2s.\1."),
    (re.compile(r"^heads\.rsa\.linear\."), "heads.rsa.net.1."),
    (re.compile(r"^heads\.(\w+)\.(weight|bias)$"), r"heads.\1.net.1.\2"),
]


def upgrade_state_key(name: str) -> str:
    """Today's name of a saved tensor (the shipped checkpoints use the older names).

    Examples
    --------
    >>> upgrade_state_key("encoder.blocks.3.conv.weight")
    'encoder.stack.convs.3.weight'
    >>> upgrade_state_key("heads.ss8.bias"), upgrade_state_key("heads.rsa.linear.weight")
    ('heads.ss8.net.1.bias', 'heads.rsa.net.1.weight')
    """
    for pattern, new in _LEGACY_NAMES:
        name = pattern.sub(new, name)
    return name


def build_structure_model(config: StructureModelConfig) -> MultiTaskModel:
    """Build the multi-task structure network (untrained) for ``config``.

    The encoder and heads come from the engine's registries (``ENCODERS["structure"]``,
    ``HEADS["linear"]`` and ``HEADS["rsa"]``).

    Examples
    --------
    >>> model = build_structure_model(StructureModelConfig(lstm_hidden=16, conv_channels=16))
    >>> sorted(model.task_names)
    ['rsa', 'ss3', 'ss8']
    """
    encoder = get_encoder("structure", **dataclasses.asdict(config))
    heads = {name: get_head(TASK_HEADS[name], encoder.out_dim, TASKS[name].n_outputs)
             for name in config.tasks}
    return MultiTaskModel(encoder, heads)
