"""Random loss weighting (Lin et al. 2022)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import WeightingStrategy, check_param

__all__ = ["RandomWeighting"]


class RandomWeighting(WeightingStrategy):
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

    state_keys = ("rng_state",)

    def __init__(self, task_names: Sequence[str], seed: int = 0) -> None:
        super().__init__(task_names)
        self.generator = torch.Generator().manual_seed(int(check_param("random", "seed", seed)))

    @property
    def rng_state(self) -> torch.Tensor:
        """The generator's state (a uint8 tensor)."""
        return self.generator.get_state()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the generator state."""
        super().load_state_dict(state)  # checks the keys and the shape
        self.generator.set_state(state["rng_state"].to(torch.uint8).clone())

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """``T softmax(z)``, one draw of ``z`` per step (over the tasks present)."""
        z = torch.randn(len(losses), generator=self.generator, dtype=torch.float64)
        return (len(losses) * torch.softmax(z, dim=0)).to(losses)
