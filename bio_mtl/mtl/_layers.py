"""Building blocks shared by the token encoders: input embedding, residual dilated convolutions,
masked pooling and config checks."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the torch convention
from torch import nn

from ..errors import ConfigError

__all__ = ["POOLS", "masked_pool"]

POOLS = ("none", "mean", "max", "first")


def _check(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {problem}")


def _check_tokens(where: str, input_dim, vocab_size, dropout, pool) -> None:
    _check(input_dim is not None or vocab_size >= 2, where,
           "vocab_size must be >= 2 for token-index input (or set input_dim for features)")
    _check(input_dim is None or input_dim >= 1, where, "input_dim must be >= 1 or null")
    _check(0.0 <= dropout < 1.0, where, f"dropout must be in [0, 1), got {dropout}")
    _check(pool in POOLS, where, f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")


def masked_pool(h: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool ``(N, L, D)`` features over real tokens (``mask`` ``(N, L)``) into ``(N, D)``."""
    if how == "first":
        return h[:, 0]
    m = mask.unsqueeze(-1).to(h.dtype)
    if how == "mean":
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)
    return h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1).nan_to_num(0.0,
                                                                              neginf=0.0)


class _TokenInput(nn.Module):
    """Index embedding or feature projection to ``dim``, plus the default padding mask."""

    def __init__(self, input_dim: int | None, vocab_size: int, padding_idx: int | None,
                 dim: int) -> None:
        super().__init__()
        self.padding_idx = padding_idx
        if input_dim is None:
            self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
        else:
            self.embed = nn.Linear(input_dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.embed, nn.Embedding):
            if mask is None:
                mask = x != self.padding_idx if self.padding_idx is not None else \
                    torch.ones_like(x, dtype=torch.bool)
            h = self.embed(x.long())
        else:
            if mask is None:
                mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
            h = self.embed(x.float())
        mask = mask.bool()
        return h * mask.unsqueeze(-1), mask                           # (N, L, dim), (N, L)

class _ConvStack(nn.Module):
    """Residual dilated conv blocks on ``(N, L, D)`` features; padding stays zero."""

    def __init__(self, dim: int, n_layers: int, kernel_size: int, dilations, dropout: float):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(n_layers))
        self.convs = nn.ModuleList(
            nn.Conv1d(dim, dim, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2)
            for d in (dilations[i % len(dilations)] for i in range(n_layers)))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(h.dtype)
        for norm, conv in zip(self.norms, self.convs, strict=True):
            z = (norm(h) * m).transpose(1, 2)                        # (N, D, L)
            h = h + self.drop(F.gelu(conv(z).transpose(1, 2))) * m   # (N, L, D)
        return h


def resolve_entry(entry) -> tuple[type, type]:
    """A registry entry as ``(config class, module class)``.

    Engine blocks are registered as the two classes. Application blocks (the structure encoder,
    the pathway encoder, the drug head, ...) are registered as a string
    ``"package.module:ConfigClass:ModuleClass"`` imported on first use, so the engine never
    imports an application.
    """
    if not isinstance(entry, str):
        return entry
    import importlib

    module, config_name, module_name = entry.split(":")
    mod = importlib.import_module(module)
    return getattr(mod, config_name), getattr(mod, module_name)
