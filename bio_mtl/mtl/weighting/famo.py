"""Fast Adaptive Multitask Optimization (Liu et al. 2023)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import WeightingStrategy, adam_update, check_param

__all__ = ["FAMO"]


class FAMO(WeightingStrategy):
    """FAMO: balance the tasks' *log*-loss decrease with O(1) cost per step.

    Task logits ``xi`` give ``z = softmax(xi)``; the network follows the gradient of
    ``sum_t z_t log L_t / c`` with ``c = sum_t z_t / L_t``, i.e. loss weights
    ``w_t = (z_t / L_t) / sum_s (z_s / L_s)`` (times ``T`` here). The logits are then moved
    so that tasks whose log-loss fell least get more weight: with
    ``delta_t = log L_t(prev) - log L_t(now)``, ``xi`` takes one Adam step (with L2 decay
    ``gamma``) along ``J_softmax(xi)^T delta``. No per-task gradients are needed.

    Parameters
    ----------
    task_names
        Names of the tasks.
    lr
        Adam learning rate of the logits (the paper's ``beta``, 0.025).
    gamma
        L2 decay of the logits (the paper's ``gamma``).
    eps
        Floor on the losses (their logarithm is taken; the minimum loss is taken as 0).

    Notes
    -----
    The logits are updated at the start of each step from the previous step's losses and
    this step's (on a new batch), avoiding the extra forward pass of the authors' code, which
    re-evaluates the same batch after the model update. The first step only records losses.
    A task absent from a step (no label in the batch) is left out of the softmax, and its
    logit, Adam moments and decay hold until it is present again; its loss change is then
    measured from the last step it was present.

    References
    ----------
    Liu, B., Feng, Y., Stone, P., Liu, Q. (2023). FAMO: fast adaptive multitask optimization.
    NeurIPS 36.
    """

    state_keys = ("logits", "prev_losses", "exp_avg", "exp_avg_sq", "adam_step")

    def __init__(self, task_names: Sequence[str], lr: float = 0.025, gamma: float = 0.01,
                 eps: float = 1e-8) -> None:
        super().__init__(task_names)
        self.lr = check_param("famo", "lr", lr, low_open=True)
        self.gamma = check_param("famo", "gamma", gamma)
        self.eps = check_param("famo", "eps", eps, low_open=True)
        n = len(self.task_names)
        self.logits = torch.zeros(n, dtype=torch.float64)
        self.prev_losses = torch.full((n,), math.nan, dtype=torch.float64)
        self.exp_avg = torch.zeros(n, dtype=torch.float64)  # Adam moments (adam_update)
        self.exp_avg_sq = torch.zeros(n, dtype=torch.float64)
        self.adam_step = torch.zeros(n, dtype=torch.float64)

    def update_logits(self, losses: torch.Tensor, idx: list[int]) -> None:
        """One Adam step on the logits from the change ``log L(prev) - log L(now)``.

        Only the tasks present now that were seen before take part (their previous loss is
        from the last step they were present); the others' logits, moments and decay hold.
        """
        seen = torch.isfinite(self.prev_losses[idx])
        sub = [i for i, ok in zip(idx, seen.tolist(), strict=True) if ok]
        if not sub:
            return
        delta = self.prev_losses[sub].log() - losses[seen].log()
        z = torch.softmax(self.logits[sub], dim=0)
        grad = z * (delta - (z * delta).sum())  # J_softmax^T delta
        adam_update(self.logits, grad, self.__dict__, index=sub, lr=self.lr,
                    weight_decay=self.gamma)

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """Update the logits, then ``T (z_t / L_t) / sum_s (z_s / L_s)`` for this step."""
        idx = self._present_index()
        cur = losses.detach().double().cpu().clamp_min(self.eps)
        self.update_logits(cur, idx)
        self.prev_losses[idx] = cur
        ratio = torch.softmax(self.logits[idx], dim=0) / cur
        return (len(idx) * ratio / ratio.sum()).to(losses)
