"""Static weighting: fixed, user-chosen loss weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ...errors import ConfigError
from .base import WeightingStrategy, check_param

__all__ = ["StaticWeighting"]


class StaticWeighting(WeightingStrategy):
    """Fixed loss weights: ``L = sum_t w_t L_t`` (the classic hand-tuned linear scalarisation).

    Parameters
    ----------
    task_names
        Names of the tasks.
    weights
        ``{task: weight}``; tasks not listed get weight 1. The YAML config passes each
        :class:`~bio_mtl.mtl.tasks.TaskSpec` ``weight`` this way.

    Raises
    ------
    ConfigError
        For a task name that is not one of ``task_names`` or a negative / non-finite weight.

    Notes
    -----
    Unlike the adaptive strategies the weights are used as given (not renormalised), so the
    user controls the absolute scale.
    """

    def __init__(self, task_names: Sequence[str], weights: Mapping[str, float] | None = None
                 ) -> None:
        super().__init__(task_names)
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(self.task_names))
        if unknown:
            raise ConfigError(f"weighting 'static': unknown task(s) {', '.join(unknown)} in "
                              f"weights; tasks are {', '.join(self.task_names)}")
        self.fixed = torch.tensor([check_param("static", f"weights[{n!r}]", weights.get(n, 1.0))
                                   for n in self.task_names])

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """The fixed weights of the tasks present in this step."""
        return self.fixed[self._present_index()].to(losses)
