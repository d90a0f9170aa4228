"""Projecting Conflicting Gradients (Yu et al. 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import WeightingStrategy, check_param

__all__ = ["PCGrad"]


class PCGrad(WeightingStrategy):
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

    requires_task_grads = True
    state_keys = ("rng_state",)

    def __init__(self, task_names: Sequence[str], seed: int = 0) -> None:
        super().__init__(task_names)
        self.generator = torch.Generator().manual_seed(int(check_param("pcgrad", "seed", seed)))

    @property
    def rng_state(self) -> torch.Tensor:
        """The projection-order generator's state (a uint8 tensor)."""
        return self.generator.get_state()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the generator state."""
        super().load_state_dict(state)  # checks the keys and the shape
        self.generator.set_state(state["rng_state"].to(torch.uint8).clone())

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
