"""Nash-MTL: multi-task learning as a bargaining game (Navon et al. 2022)."""

from __future__ import annotations

import torch

from .base import WeightingStrategy

__all__ = ["NashMTL", "nash_weights"]


def nash_weights(gram: torch.Tensor, *, max_iter: int = 100, tol: float = 1e-20) -> torch.Tensor:
    """The Nash bargaining weights: ``alpha > 0`` with ``(G alpha)_t = 1 / alpha_t``.

    This is the stationary point of the strictly convex ``0.5 a.G.a - sum_t log a_t``, found
    here with damped Newton steps (instead of the authors' sequence of cvxpy problems). Tasks
    with a zero gradient get weight 0.

    When some positive combination of the gradients is exactly 0 (e.g. ``g2 = -g1``) no
    update helps every task and the problem is unbounded; a ridge of ``1e-10`` times the
    mean ``|g_t|^2`` on ``G`` keeps it bounded: ``alpha`` then grows to about
    ``1e5 / |g|`` and the update ``sum_t alpha_t g_t`` shrinks towards 0.

    Parameters
    ----------
    gram
        ``(T, T)`` Gram matrix of the task gradients.
    max_iter
        Newton iterations at most.
    tol
        Stop when the Newton decrement falls below this.
    """
    gram = gram.double().cpu()
    alpha = torch.zeros(len(gram), dtype=torch.float64)
    live = torch.nonzero(gram.diagonal() > 1e-20).flatten()
    if len(live) == 0:
        return alpha
    m = gram[live][:, live]
    a = 1.0 / m.diagonal().sqrt()  # exact if the gradients are orthogonal
    m = m + 1e-10 * m.diagonal().mean() * torch.eye(len(live), dtype=m.dtype)  # see Notes

    def f(x: torch.Tensor) -> float:
        return float(0.5 * x @ m @ x - torch.log(x).sum())

    for _ in range(max_iter):
        grad = m @ a - 1.0 / a
        try:
            step = torch.linalg.solve(m + torch.diag(1.0 / a**2), grad)
        except RuntimeError:  # numerically singular: keep the current point
            break
        decrement = float(grad @ step)
        if decrement < tol:
            break
        t = 1.0
        while t >= 1e-12 and (bool((a - t * step <= 0).any())
                              or f(a - t * step) > f(a) - 1e-4 * t * decrement):
            t *= 0.5  # backtrack: stay positive and decrease f (Armijo)
        if t < 1e-12:  # no further progress in floating point
            break
        a = a - t * step
    alpha[live] = a
    return alpha


class NashMTL(WeightingStrategy):
    """Nash-MTL: the update every task agrees on, as the Nash bargaining solution.

    The shared update ``d = sum_t alpha_t g_t`` maximises ``sum_t log(g_t . d)`` within a ball
    (Navon et al. 2022): ``alpha`` solves ``G alpha = 1 / alpha`` elementwise
    (``G`` the Gram matrix of the task gradients). Each task's directional derivative is then
    ``g_t . d = 1 / alpha_t``: tasks with small or conflicting gradients get larger weights,
    and the solution does not change if one task's loss is rescaled.

    Parameters
    ----------
    task_names
        Names of the tasks.

    Notes
    -----
    ``|d|^2 = alpha.G.alpha = T`` whatever the gradients' scale, so the step on the shared
    parameters has norm ``sqrt(T)`` (the trainer's clipping then applies as usual). The
    system is solved at every step (the authors optionally reuse ``alpha`` for several steps).
    :meth:`backward` reports ``alpha``.

    References
    ----------
    Navon, A., Shamsian, A., Achituve, I., Maron, H., Kawaguchi, K., Chechik, G., Fetaya, E.
    (2022). Multi-task learning as a bargaining game. ICML, PMLR 162, 16428-16446.
    """

    requires_task_grads = True

    def combine_grads(self, grads: torch.Tensor) -> torch.Tensor:
        """``sum_t alpha_t g_t`` ``(P,)`` for the ``(T, P)`` task gradients."""
        g64 = grads.double()
        alpha = nash_weights(g64 @ g64.T).to(g64.device)
        self.last_weights_ = alpha.float()
        return (alpha @ g64).to(grads.dtype)
