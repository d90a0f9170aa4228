"""GradNorm: gradient normalisation for adaptive loss balancing (Chen et al. 2018)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import WeightingStrategy, adam_update, check_param

__all__ = ["GradNorm"]


class GradNorm(WeightingStrategy):
    """GradNorm: learn loss weights so that every task trains at a similar rate.

    With weights ``w_t`` (start 1), ``G_t = |grad_W w_t L_t|`` on a shared tensor ``W``, the
    mean ``G = mean_t G_t``, the loss ratio ``l_t = L_t / L_t(0)`` and the relative inverse
    training rate ``r_t = l_t / mean_s l_s``, GradNorm minimises
    ``L_grad = sum_t |G_t - G r_t^alpha|`` over ``w`` (the target held constant), while the
    network is trained on ``sum_t w_t L_t``. After each update the weights are renormalised to
    sum to ``T``. A task that lags behind (large ``r_t``) gets a larger gradient target.

    Parameters
    ----------
    task_names
        Names of the tasks.
    alpha
        Asymmetry ``alpha >= 0``; 0 equalises the gradient norms, the paper uses 0.12 to 1.5.
    lr
        Adam learning rate of the weights (their own optimizer, stepped in :meth:`backward`).

    Notes
    -----
    ``W`` is the *last* shared parameter tensor with at least two dimensions (the last shared
    layer's weight matrix, as in the paper; biases are skipped), or the last shared tensor if
    none has two. Since ``G_t = w_t |grad_W L_t|``, ``dL_grad/dw_t = sign(G_t - target_t)
    |grad_W L_t|`` exactly, so no second-order graph is built. ``L_t(0)`` is the task's loss
    at the first step it appears. Weights are floored at 1e-3 before renormalising.
    A task absent from a step (no label in the batch) takes no part in it: the step uses the
    present tasks' weights scaled to sum to their number, and only those are updated and
    renormalised (to keep their total), so an absent task's weight, ``L_t(0)`` and Adam
    moments hold.

    References
    ----------
    Chen, Z., Badrinarayanan, V., Lee, C.-Y., Rabinovich, A. (2018). GradNorm: gradient
    normalization for adaptive loss balancing in deep multitask networks. ICML, 794-803.
    """

    state_keys = ("task_weights", "initial_losses", "exp_avg", "exp_avg_sq", "adam_step")

    def __init__(self, task_names: Sequence[str], alpha: float = 1.5, lr: float = 0.025
                 ) -> None:
        super().__init__(task_names)
        self.alpha = check_param("gradnorm", "alpha", alpha)
        self.lr = check_param("gradnorm", "lr", lr, low_open=True)
        n = len(self.task_names)
        self.task_weights = torch.ones(n, dtype=torch.float64)
        self.initial_losses = torch.full((n,), math.nan, dtype=torch.float64)
        self.exp_avg = torch.zeros(n, dtype=torch.float64)  # Adam moments (adam_update)
        self.exp_avg_sq = torch.zeros(n, dtype=torch.float64)
        self.adam_step = torch.zeros(n, dtype=torch.float64)

    def norm_parameter(self, shared_params: Sequence[torch.nn.Parameter]) -> torch.nn.Parameter:
        """The shared tensor ``W`` whose gradient norms are balanced (see Notes)."""
        params = self.trainable(shared_params)
        matrices = [p for p in params if p.dim() >= 2]
        return (matrices or params)[-1]

    def backward(self, losses: dict[str, torch.Tensor], *,
                 shared_params: Sequence[torch.nn.Parameter], step: int = 0,
                 epoch: int = 0, counts: dict[str, int] | None = None) -> dict[str, float]:
        """Backpropagate ``sum_t w_t L_t``, then take one Adam step on ``w`` and renormalise."""
        self.counts = dict(counts or {})
        self.present_ = [n for n in self.task_names if n in losses]
        idx = self._present_index()
        if not idx:
            return {}
        stacked = torch.stack([losses[n] for n in self.present_])
        w_param = self.norm_parameter(shared_params)
        norms = []  # |grad_W L_t|
        for loss in stacked:
            (g,) = torch.autograd.grad(loss, w_param, retain_graph=True, allow_unused=True)
            norms.append(0.0 if g is None else float(torch.linalg.vector_norm(g.double())))
        w = self.task_weights[idx]
        w = w * (len(idx) / w.sum())  # the present tasks' weights, summing to their number
        (w.to(stacked) * stacked).sum().backward()
        self.last_weights_ = w
        self.update_weights(stacked.detach().double().cpu(),
                            torch.tensor(norms, dtype=torch.float64), idx)
        return {n: float(w[i]) for i, n in enumerate(self.present_)}

    def update_weights(self, losses: torch.Tensor, norms: torch.Tensor, idx: list[int]) -> None:
        """One GradNorm step on the present tasks' ``w`` from their losses and ``|grad_W L_t|``.

        The absent tasks' weights, initial losses and Adam moments hold; the present weights
        are renormalised to keep their total, so all weights still sum to ``T``.
        """
        init = self.initial_losses[idx]
        init = torch.where(torch.isnan(init) & (losses > 0), losses, init)  # L_t(0): first seen
        self.initial_losses[idx] = init
        ratio = torch.where(torch.isnan(init), torch.ones_like(losses), losses / init)
        r = ratio / ratio.mean().clamp_min(1e-12)
        w = self.task_weights[idx]
        g_norms = w * (len(idx) / w.sum()) * norms  # G_t, with the weights the step used
        target = g_norms.mean() * r ** self.alpha
        total = len(self.task_weights) - float(self.task_weights.sum() - w.sum())
        adam_update(self.task_weights, torch.sign(g_norms - target) * norms, self.__dict__,
                    index=idx, lr=self.lr)
        w = self.task_weights[idx].clamp_min(1e-3)
        self.task_weights[idx] = w * (total / w.sum())
