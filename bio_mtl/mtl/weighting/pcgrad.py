"""Projecting Conflicting Gradients (Yu et al. 2020)."""

from __future__ import annotations

import torch

from .base import SeededWeightingStrategy

__all__ = ["PCGrad"]


class PCGrad(SeededWeightingStrategy):
    """PCGrad: remove from each task gradient its component along conflicting task gradients.

    For each task ``i`` (on the shared parameters), ``g_i' = g_i``; then for every other task
    ``j`` in a random order, if ``g_i' . g_j < 0`` (the gradients conflict),
    ``g_i' <- g_i' - (g_i' . g_j / |g_j|^2) g_j``. The update is ``sum_i g_i'``. Task heads
    get their own (unprojected) gradients.

    Parameters
    ----------
    task_names
        Names of the tasks.
    seed
        Seed of the generator that draws the projection order (a fresh permutation per task
        and step). With two tasks the order does not matter.

    Notes
    -----
    The generator state is part of :meth:`state_dict`, so a resumed run draws the same orders
    as an uninterrupted one.

    References
    ----------
    Yu, T., Kumar, S., Gupta, A., Levine, S., Hausman, K., Finn, C. (2020). Gradient surgery
    for multi-task learning. NeurIPS 33, 5824-5836.
    """

    name = "pcgrad"
    requires_task_grads = True

    def combine_grads(self, grads: torch.Tensor) -> torch.Tensor:
        """Sum of the projected task gradients ``(P,)``."""
        projected = grads.clone()
        sq_norms = (grads * grads).sum(dim=1)
        for i in range(len(grads)):
            for j in torch.randperm(len(grads), generator=self.generator).tolist():
                if j == i or sq_norms[j] <= 0:
                    continue
                dot = projected[i] @ grads[j]
                if dot < 0:
                    projected[i] -= dot / sq_norms[j] * grads[j]
        return projected.sum(dim=0)
