"""Random loss weighting (Lin et al. 2022)."""

from __future__ import annotations

import torch

from .base import SeededWeightingStrategy

__all__ = ["RandomWeighting"]


class RandomWeighting(SeededWeightingStrategy):
    """RLW: fresh random weights every step, ``w = T softmax(z)`` with ``z ~ N(0, I)``.

    Lin et al. show that this untuned baseline matches many adaptive methods on standard MTL
    benchmarks, so a new weighting scheme should beat it before it is trusted ("a litmus
    test"). In expectation every task has weight 1.

    Parameters
    ----------
    task_names
        Names of the tasks.
    seed
        Seed of the generator that draws ``z`` (its state is checkpointed, so a resumed run
        draws the same weights as an uninterrupted one).

    References
    ----------
    Lin, B., Ye, F., Zhang, Y., Tsang, I. W. (2022). Reasonable effectiveness of random
    weighting: a litmus test for multi-task learning. Transactions on Machine Learning
    Research.
    """

    name = "random"

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """``T softmax(z)``, one draw of ``z`` per step (over the tasks present)."""
        z = torch.randn(len(losses), generator=self.generator, dtype=torch.float64)
        return (len(losses) * torch.softmax(z, dim=0)).to(losses)
