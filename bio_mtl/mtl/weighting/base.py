"""The weighting-strategy interface shared by every loss-weighting method."""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence

import torch

__all__ = ["WeightingStrategy", "flat_task_grads", "write_flat_grad"]


def flat_task_grads(losses: Sequence[torch.Tensor],
                    params: Sequence[torch.nn.Parameter]) -> torch.Tensor:
    """``(T, P)`` matrix of each task loss's gradient w.r.t. ``params``, flattened."""
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                               for g, p in zip(grads, params)]))
    return torch.stack(rows)


def write_flat_grad(flat: torch.Tensor, params: Sequence[torch.nn.Parameter]) -> None:
    """Set ``p.grad`` of ``params`` from one flat vector (the inverse of flattening)."""
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


class WeightingStrategy(ABC):
    """How the task losses of one step become gradients.

    Two kinds of strategy share this interface:

    - *loss weighting* (equal, static, uncertainty, DWA, ...) overrides :meth:`weights`, which
      returns one weight per task; the step backpropagates ``sum(w_t * L_t)``.
    - *gradient combination* (PCGrad, CAGrad, ...) sets ``requires_task_grads = True`` and
      overrides :meth:`combine_grads`, which turns the ``(T, P)`` matrix of per-task gradients
      on the shared parameters into one gradient; task-specific parameters get the gradient of
      the plain sum of losses.

    Strategies with learnable state (uncertainty's log-variances) expose it through
    :meth:`parameters`, which the trainer adds to its optimizer and checkpoints.

    Parameters
    ----------
    task_names
        Names of the tasks, in a fixed order.
    """

    requires_task_grads: bool = False

    def __init__(self, task_names: Sequence[str]) -> None:
        self.task_names = list(task_names)

    # -- loss weighting -------------------------------------------------------------------
    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """Per-task weights ``(T,)`` for the stacked losses ``(T,)`` of this step."""
        return torch.ones_like(losses)

    def weighted_loss(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """The scalar to backpropagate (default: ``sum(weights * losses)``)."""
        return (self.weights(losses, step=step, epoch=epoch) * losses).sum()

    # -- gradient combination -------------------------------------------------------------
    def combine_grads(self, grads: torch.Tensor) -> torch.Tensor:
        """Combine a ``(T, P)`` matrix of task gradients into one ``(P,)`` gradient."""
        return grads.sum(dim=0)

    # -- the step -------------------------------------------------------------------------
    def backward(self, losses: dict[str, torch.Tensor], *,
                 shared_params: Sequence[torch.nn.Parameter], step: int = 0,
                 epoch: int = 0, counts: dict[str, int] | None = None) -> dict[str, float]:
        """Backpropagate this step's losses; return the weights used (for logging).

        ``counts`` is the number of labelled elements (samples or residues) per task in this
        batch, for strategies that weight by sample count.
        """
        self.counts = counts or {}
        names = [n for n in self.task_names if n in losses]
        stacked = torch.stack([losses[n] for n in names])
        if not self.requires_task_grads:
            total = self.weighted_loss(stacked, step=step, epoch=epoch)
            total.backward()
            w = self.weights(stacked.detach(), step=step, epoch=epoch)
            return {n: float(w[i]) for i, n in enumerate(names)}
        params = [p for p in shared_params if p.requires_grad]
        grads = flat_task_grads([losses[n] for n in names], params)
        combined = self.combine_grads(grads)
        stacked.sum().backward()  # task-specific parameters
        write_flat_grad(combined, params)
        return {n: float("nan") for n in names}

    def epoch_end(self, epoch_losses: dict[str, float], epoch: int) -> None:
        """Hook called with the mean training loss of each task after every epoch."""

    def parameters(self) -> list[torch.nn.Parameter]:
        """Learnable parameters of the strategy (none by default)."""
        return []

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint (learnable parameters and histories)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict`."""
