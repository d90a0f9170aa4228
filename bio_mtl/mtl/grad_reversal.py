"""Gradient reversal (Ganin & Lempitsky 2015) for adversarial nuisance removal."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GradientReversal", "grad_reverse"]


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.alpha * grad_output, None


def grad_reverse(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-alpha`` in the backward pass.

    References
    ----------
    Ganin Y, Lempitsky V. Unsupervised domain adaptation by backpropagation. ICML 2015.
    """
    return _GradReverse.apply(x, alpha)


class GradientReversal(nn.Module):
    """Layer form of :func:`grad_reverse`; put it in front of an adversarial head.

    A head ``nn.Sequential(GradientReversal(1.0), classifier)`` learns to predict the nuisance
    (batch, site) while the shared encoder below it is pushed to make that impossible.

    Parameters
    ----------
    alpha
        Strength of the reversed gradient.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity with a reversed gradient."""
        return grad_reverse(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
