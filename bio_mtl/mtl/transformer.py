"""Transformer encoder with relative positions: rotary embeddings or ALiBi.

Pre-norm Transformer blocks (Vaswani et al. 2017, NeurIPS; pre-norm as in Xiong et al. 2020,
ICML). Positions enter only through relative distances, with rotary embeddings (RoPE; Su et
al. 2021, arXiv:2104.09864), which rotate queries and keys so that their dot product depends on
``m - n`` only, or with ALiBi (Press et al. 2022, ICLR), a per-head linear penalty
``-slope_h |m - n|`` on the attention logits. Either way the model runs on lengths never seen in
training, and a left-padded sequence gives the same outputs as a right-padded one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the torch convention
from torch import nn

from ._layers import _check, _check_tokens, _ConvStack, _TokenInput, masked_pool

__all__ = ["POSITIONS", "TransformerEncoder", "TransformerEncoderConfig", "alibi_slopes",
           "rotate"]

POSITIONS = ("rope", "alibi")


@dataclass(frozen=True)
class TransformerEncoderConfig:
    """Configuration of :class:`TransformerEncoder`.

    Parameters
    ----------
    input_dim, vocab_size, padding_idx
        As in :class:`ConvEncoderConfig`.
    d_model, n_heads, n_layers, ff_dim
        Width, attention heads (``d_model`` divisible by it, even head size for RoPE), blocks
        and feed-forward width.
    position
        ``"rope"`` (rotary, Su et al. 2021) or ``"alibi"`` (linear distance bias, Press et
        al. 2022). Both depend only on relative distances, so any length works.
    rope_base
        Base of the rotary frequencies (10000 as in RoFormer).
    conv_layers, kernel_size, dilations
        Optional residual dilated CNN in front of the attention blocks (0 = none).
    dropout
        Dropout on attention outputs and feed-forward layers.
    pool
        As in :class:`ConvEncoderConfig`.
    """

    input_dim: int | None = None
    vocab_size: int = 22
    padding_idx: int | None = 0
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    ff_dim: int = 64
    position: str = "rope"
    rope_base: float = 10000.0
    conv_layers: int = 0
    kernel_size: int = 5
    dilations: tuple[int, ...] = (1, 2, 4)
    dropout: float = 0.1
    pool: str = "none"

    def __post_init__(self) -> None:
        _check_tokens("transformer", self.input_dim, self.vocab_size, self.dropout, self.pool)
        _check(self.position in POSITIONS, "transformer", f"unknown position "
               f"{self.position!r}; choose one of {', '.join(POSITIONS)}")
        _check(self.n_heads >= 1 and self.d_model % self.n_heads == 0, "transformer",
               f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        _check(self.position != "rope" or (self.d_model // self.n_heads) % 2 == 0,
               "transformer", "rope needs an even head size (d_model / n_heads)")
        _check(self.kernel_size % 2 == 1, "transformer", "kernel_size must be odd")


def rotate(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """Apply rotary position embedding to ``x`` ``(N, H, L, d)`` at ``positions`` ``(L,)``."""
    half = x.shape[-1] // 2
    freqs = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * freqs                     # (L, d/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """Head slopes ``2^(-8 h / H)``, ``h = 1..H`` (Press et al. 2022)."""
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / n_heads) for h in range(n_heads)])


class _Block(nn.Module):
    def __init__(self, cfg: TransformerEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.ff_dim), nn.GELU(),
                                nn.Dropout(cfg.dropout), nn.Linear(cfg.ff_dim, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, length, d = h.shape
        heads = self.cfg.n_heads
        q, k, v = self.qkv(self.norm1(h)).view(n, length, 3, heads, d // heads) \
            .permute(2, 0, 3, 1, 4)                                  # 3 x (N, H, L, dh)
        if self.cfg.position == "rope":
            pos = torch.arange(length, device=h.device)
            q, k = rotate(q, pos, self.cfg.rope_base), rotate(k, pos, self.cfg.rope_base)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (N, H, L, dh)
        h = h + self.drop(self.proj(att.transpose(1, 2).reshape(n, length, d)))
        return h + self.drop(self.ff(self.norm2(h)))


class TransformerEncoder(nn.Module):
    """(CNN ->) pre-norm Transformer with RoPE or ALiBi: ``(N, L[, F])`` -> ``(N, L, d_model)``.

    Attention never looks at padded keys, and both position schemes only see relative
    distances, so a sequence gives the same outputs whether it is left- or right-padded and
    the model runs on any length.
    """

    def __init__(self, config: TransformerEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.input = _TokenInput(config.input_dim, config.vocab_size, config.padding_idx,
                                 config.d_model)
        self.conv = _ConvStack(config.d_model, config.conv_layers, config.kernel_size,
                               config.dilations, config.dropout) if config.conv_layers else None
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.register_buffer("slopes", alibi_slopes(config.n_heads), persistent=False)
        self.out_dim = config.d_model

    def _bias(self, mask: torch.Tensor) -> torch.Tensor:
        keys = mask | ~mask.any(1, keepdim=True)                    # empty rows attend to all
        bias = torch.zeros(mask.shape[0], 1, 1, mask.shape[1], device=mask.device)
        bias = bias.masked_fill(~keys[:, None, None, :], float("-inf"))  # (N, 1, 1, L)
        if self.config.position == "alibi":
            pos = torch.arange(mask.shape[1], device=mask.device)
            dist = (pos[None, :] - pos[:, None]).abs().float()      # (L, L)
            bias = bias - self.slopes[:, None, None] * dist          # (N, H, L, L)
        return bias

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``x``; padded positions are zero in the output."""
        h, mask = self.input(x, mask)                                 # (N, L, D)
        if self.conv is not None:
            h = self.conv(h, mask)
        bias = self._bias(mask).to(h.dtype)
        for block in self.blocks:
            h = block(h, bias)
        h = self.norm(h) * mask.unsqueeze(-1)
        return h if self.config.pool == "none" else masked_pool(h, mask, self.config.pool)
