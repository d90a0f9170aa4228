"""Dynamic Weight Average (Liu, Johns & Davison 2019)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import WeightingStrategy, check_param

__all__ = ["DynamicWeightAverage"]


class DynamicWeightAverage(WeightingStrategy):
    """DWA: weight each task by how slowly its loss has been falling.

    ``w_t(e) = T softmax_t(r_t / tau)`` with ``r_t = L_t(e-1) / L_t(e-2)``, where ``L_t(e)`` is
    the mean training loss of task ``t`` in epoch ``e`` (passed to :meth:`epoch_end`). A task
    whose loss dropped less (ratio near or above 1) gets more weight. The weights are 1 for
    the first two epochs, when no ratio exists yet, and fixed within an epoch.

    Parameters
    ----------
    task_names
        Names of the tasks.
    temperature
        ``tau`` > 0; the paper uses 2. Larger values flatten the weights towards 1.

    Notes
    -----
    A task missing from an epoch's losses (or not yet seen twice) uses ``r_t = 1``. The
    softmax runs over the tasks present in a step, so the weights sum to their number.

    References
    ----------
    Liu, S., Johns, E., Davison, A. J. (2019). End-to-end multi-task learning with attention.
    CVPR, 1871-1880.
    """

    state_keys = ("history",)

    def __init__(self, task_names: Sequence[str], temperature: float = 2.0) -> None:
        super().__init__(task_names)
        self.temperature = check_param("dwa", "temperature", temperature, low_open=True)
        # rows: mean loss of epoch e-2, epoch e-1 (NaN = unknown)
        self.history = torch.full((2, len(self.task_names)), float("nan"), dtype=torch.float64)

    def ratios(self) -> torch.Tensor:
        """``r_t = L_t(e-1) / L_t(e-2)`` for every task (1 where unknown)."""
        r = self.history[1] / self.history[0]
        return torch.where(torch.isfinite(r), r, torch.ones_like(r))

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """``T softmax(r / tau)`` over the tasks present in this step."""
        r = self.ratios()[self._present_index()]
        return (len(r) * torch.softmax(r / self.temperature, dim=0)).to(losses)

    def epoch_end(self, epoch_losses: dict[str, float], epoch: int) -> None:
        """Shift the loss history by one epoch."""
        latest = torch.tensor([float(epoch_losses.get(n, math.nan)) for n in self.task_names],
                              dtype=torch.float64)
        self.history = torch.stack([self.history[1], latest])
