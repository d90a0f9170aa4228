"""Equal weighting: the plain sum of task losses."""

from __future__ import annotations

import torch

from .base import WeightingStrategy

__all__ = ["EqualWeighting"]


class EqualWeighting(WeightingStrategy):
    """Every task loss has weight 1 (LibMTL's ``EW``): ``L = sum_t L_t``."""

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """All ones."""
        return torch.ones_like(losses)
