"""Conflict-Averse Gradient descent (Liu et al. 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .base import WeightingStrategy, check_param

__all__ = ["CAGrad", "cagrad_weights"]


def cagrad_weights(gram: np.ndarray, c: float) -> np.ndarray:
    """Solve CAGrad's dual: ``min_{w in simplex} w.G.1/T + c |g0| sqrt(w.G.w)``.

    Parameters
    ----------
    gram
        ``(T, T)`` Gram matrix ``G = g g^T`` of the task gradients.
    c
        Conflict-aversion radius ``c >= 0``.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` simplex weights ``w``.
    """
    from scipy.optimize import minimize

    n = len(gram)
    b = gram.mean(axis=1)  # G g0 in the gradient basis, g0 = mean gradient
    radius = c * np.sqrt(max(gram.mean(), 0.0))  # c |g0|

    def objective(w: np.ndarray) -> float:
        return float(w @ b + radius * np.sqrt(max(w @ gram @ w, 0.0) + 1e-12))

    start = np.full(n, 1.0 / n)
    res = minimize(objective, start, method="SLSQP", bounds=[(0.0, 1.0)] * n,
                   constraints={"type": "eq", "fun": lambda w: w.sum() - 1.0},
                   options={"ftol": 1e-12, "maxiter": 200})
    w = np.clip(res.x, 0.0, None)
    return w / w.sum()


class CAGrad(WeightingStrategy):
    """CAGrad: the update that best improves the worst task within a ball around the mean.

    With ``g0`` the mean task gradient, CAGrad takes
    ``d = argmax_{|d - g0| <= c|g0|} min_t g_t . d``. Its dual over the simplex gives
    ``w* = argmin_w g_w . g0 + c|g0| |g_w|`` with ``g_w = sum_t w_t g_t``, and
    ``d = g0 + (c|g0| / |g_w*|) g_w*``. ``c = 0`` is plain gradient averaging; larger ``c``
    moves towards the worst-off task (MGDA-like). The dual is solved with SLSQP on the
    ``T x T`` Gram matrix, as in the authors' code.

    Parameters
    ----------
    task_names
        Names of the tasks.
    c
        Radius ``c >= 0`` (the paper uses 0.4 to 0.5).
    rescale
        Divide ``d`` by ``1 + c^2`` (the authors' default ``rescale=1``).

    Notes
    -----
    ``d`` is multiplied by ``T`` so that ``c = 0`` gives the gradient of the equal sum
    (the package's scale convention). :meth:`backward` reports the implied task weights
    ``T (1/T + lambda w_t) / (1 + c^2)``, ``lambda = c|g0| / |g_w|``.

    References
    ----------
    Liu, B., Liu, X., Jin, X., Stone, P., Liu, Q. (2021). Conflict-averse gradient descent for
    multi-task learning. NeurIPS 34, 18878-18890.
    """

    requires_task_grads = True

    def __init__(self, task_names: Sequence[str], c: float = 0.4, *, rescale: bool = True
                 ) -> None:
        super().__init__(task_names)
        self.c = check_param("cagrad", "c", c)
        self.rescale = bool(rescale)

    def combine_grads(self, grads: torch.Tensor) -> torch.Tensor:
        """The CAGrad direction ``T d`` ``(P,)`` for the ``(T, P)`` task gradients."""
        n = len(grads)
        g64 = grads.double()
        gram = (g64 @ g64.T).cpu().numpy()
        w = torch.from_numpy(cagrad_weights(gram, self.c)).to(g64)
        g_w = w @ g64
        lam = self.c * float(np.sqrt(max(gram.mean(), 0.0))) / (float(g_w.norm()) + 1e-12)
        coef = (1.0 / n + lam * w) * n
        if self.rescale:
            coef = coef / (1.0 + self.c ** 2)
        self.last_weights_ = coef.float()
        return (coef @ g64).to(grads.dtype)
