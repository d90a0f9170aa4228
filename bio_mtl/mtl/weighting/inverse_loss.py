"""Inverse-loss weighting: weight each task by the inverse of its recent loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import WeightingStrategy, check_param

__all__ = ["InverseLossWeighting"]


class InverseLossWeighting(WeightingStrategy):
    """``w_t = T (1/m_t) / sum_s (1/m_s)`` with ``m_t`` an EMA of task ``t``'s loss.

    Each weighted loss ``w_t L_t`` then has about the same magnitude, which removes the
    arbitrary scale of the losses (cross-entropy in nats vs. MSE in squared units). It is the
    closed-form optimum of uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018: minimising
    ``exp(-s) L + s`` over ``s`` gives ``exp(-s) = 1/L``) applied at every step without a
    learned parameter, the analytic form studied by Kirchdorfer et al. 2024, "Analytical
    uncertainty-based loss weighting in multi-task learning". The EMA is updated with the
    step's loss *before* the weights are computed.

    Parameters
    ----------
    task_names
        Names of the tasks.
    beta
        EMA decay in ``[0, 1)``: ``m_t <- beta m_t + (1 - beta) L_t``; 0 uses the current loss.
        The first observed loss of a task initialises its EMA.
    eps
        Floor on ``m_t`` (a loss of 0 would give an infinite weight).
    """

    state_keys = ("ema",)

    def __init__(self, task_names: Sequence[str], beta: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__(task_names)
        self.beta = check_param("inverse_loss", "beta", beta, high=1.0, high_open=True)
        self.eps = check_param("inverse_loss", "eps", eps, low_open=True)
        self.ema = torch.full((len(self.task_names),), float("nan"))

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """Update the EMA with ``losses``; return the normalised inverse EMA."""
        idx = self._present_index()
        cur = losses.detach().cpu().to(self.ema.dtype)
        old = self.ema[idx]
        self.ema[idx] = torch.where(torch.isnan(old), cur, self.beta * old + (1 - self.beta) * cur)
        inv = 1.0 / self.ema[idx].clamp_min(self.eps)
        return (len(idx) * inv / inv.sum()).to(losses)
