"""Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla 2018)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import WeightingStrategy, check_param

__all__ = ["UncertaintyWeighting"]


class UncertaintyWeighting(WeightingStrategy):
    """Learned task uncertainties (``UW``): ``L = sum_t exp(-s_t) L_t + s_t``.

    Each task gets a learnable log-variance ``s_t`` that the trainer's optimizer updates with
    the model (it is returned by :meth:`parameters`). A noisy or badly scaled task learns a
    large ``s_t = log sigma_t^2`` and so a small weight ``exp(-s_t)``; the ``+ s_t`` term stops
    all weights from collapsing to 0. At fixed ``L_t`` the optimum is ``exp(-s_t) = 1 / L_t``.

    Parameters
    ----------
    task_names
        Names of the tasks.
    init
        Initial ``s_t`` for every task (0 gives weight 1).

    Notes
    -----
    Kendall et al. derive ``1/(2 sigma^2) L + log sigma`` for a Gaussian (regression) likelihood
    and ``1/sigma^2 L + log sigma`` for a softmax (classification) one. With
    ``s = log sigma^2`` these are ``(exp(-s) L + s) / 2`` and ``exp(-s) L + s/2``. We use the
    single form ``exp(-s) L + s`` for every task kind: twice the regression form (same
    optimum ``sigma^2 = L``; LibMTL's ``UW`` uses the halved form for all tasks), and for
    classification it puts the optimum at ``sigma^2 = L`` instead of ``2 L``, so all tasks are
    balanced by the same rule ``w_t -> 1/L_t``. The trainer gives ``s`` no weight decay.
    :meth:`weights` reports ``exp(-s_t)``. Each ``s_t`` is its own scalar parameter, so a task
    absent from a step (no label in the batch) gets no gradient and the optimizer leaves its
    ``s_t`` (and momentum) alone.

    References
    ----------
    Kendall, A., Gal, Y., Cipolla, R. (2018). Multi-task learning using uncertainty to weigh
    losses for scene geometry and semantics. CVPR, 7482-7491.
    """

    state_keys = ("log_vars",)

    def __init__(self, task_names: Sequence[str], init: float = 0.0) -> None:
        super().__init__(task_names)
        init = check_param("uncertainty", "init", init, low=-20.0, high=20.0)
        # one scalar parameter per task: an absent task's s_t gets no gradient, so the
        # trainer's optimizer skips it (one (T,) tensor would keep moving it by momentum)
        self.log_var_params = [torch.nn.Parameter(torch.tensor(init)) for _ in self.task_names]

    @property
    def log_vars(self) -> torch.Tensor:
        """``(T,)`` the current ``s_t`` (a detached copy)."""
        return torch.stack([s.detach() for s in self.log_var_params])

    def weights(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """``exp(-s_t)`` of the tasks present in this step."""
        return torch.exp(-self.log_vars[self._present_index()]).to(losses)

    def weighted_loss(self, losses: torch.Tensor, *, step: int, epoch: int) -> torch.Tensor:
        """``sum_t exp(-s_t) L_t + s_t`` (differentiable in the model and in ``s``)."""
        s = torch.stack([self.log_var_params[i] for i in self._present_index()])
        s = s.to(losses.device, losses.dtype)
        self.last_weights_ = torch.exp(-s.detach())
        return (torch.exp(-s) * losses + s).sum()

    def parameters(self) -> list[torch.nn.Parameter]:
        """The log-variances ``s_t``, one scalar per task, to be optimised with the model."""
        return list(self.log_var_params)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore ``log_vars`` into the per-task parameters (in place)."""
        super().load_state_dict(state)  # checks the keys and the shape
        with torch.no_grad():
            for param, value in zip(self.log_var_params, state["log_vars"], strict=True):
                param.copy_(value)
