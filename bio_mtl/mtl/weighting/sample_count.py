"""Sample-count weighting: weight each task by its number of labelled elements."""

from __future__ import annotations

import torch

from .base import WeightingStrategy

__all__ = ["SampleCountWeighting"]


class SampleCountWeighting(WeightingStrategy):
    """``w_t = T n_t / sum_s n_s`` with ``n_t`` the labelled elements of task ``t`` in the batch.

    Every task loss is a *mean* over its labelled elements (samples, or residues for a
    per-residue task). Summing those means gives a task with 10 labelled residues the same pull
    as one with 10 000. Weighting each mean by its count turns the sum back into a
    per-element average over the pooled labels (times ``T``), the "proportional" sampling
    weighting of multi-task fine-tuning (e.g. Raffel et al. 2020, JMLR 21:140, Sec. 3.5.2,
    examples-proportional mixing), applied to loss weights.

    Parameters
    ----------
    task_names
        Names of the tasks.

    Notes
    -----
    The counts come from the trainer (``counts=`` of :meth:`backward`). Tasks missing from
    ``counts`` count as 0; if all counts are 0 (or none is given) the weights are all 1.
    Use it when masks make the labelled fraction very uneven across tasks and every label
    should count the same; do *not* use it to rescue a small task, which it down-weights.
    """

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """``T * counts / counts.sum()`` over the tasks present in this step."""
        n = torch.tensor([float(self.counts.get(t, 0)) for t in self.present_]).to(losses)
        if float(n.sum()) <= 0:
            return torch.ones_like(losses)
        return len(n) * n / n.sum()
