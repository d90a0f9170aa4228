"""Multiple-gradient descent (Désidéri 2012; Sener & Koltun 2018)."""

from __future__ import annotations

import torch

from .base import WeightingStrategy

__all__ = ["MGDA", "min_norm_weights"]


def _pair(g11: float, g12: float, g22: float) -> float:
    """Weight ``a`` on ``v1`` of the min-norm point ``a v1 + (1 - a) v2`` (closed form)."""
    denom = g11 + g22 - 2.0 * g12
    return 0.5 if denom <= 0 else min(max((g22 - g12) / denom, 0.0), 1.0)


def _affine_min(gram: torch.Tensor, support: list[int]) -> torch.Tensor:
    """``argmin y.G_S.y`` subject to ``sum y = 1`` (no sign constraint), via its KKT system."""
    k = len(support)
    kkt = torch.zeros(k + 1, k + 1, dtype=gram.dtype)
    kkt[:k, :k] = gram[support][:, support]
    kkt[:k, k] = kkt[k, :k] = 1.0
    rhs = torch.zeros(k + 1, dtype=gram.dtype)
    rhs[k] = 1.0
    return torch.linalg.lstsq(kkt, rhs.unsqueeze(1)).solution[:k, 0]


def min_norm_weights(gram: torch.Tensor, *, tol: float = 1e-12) -> torch.Tensor:
    """Simplex weights ``w`` minimising ``|sum_t w_t g_t|^2 = w.G.w``.

    Two tasks use the closed form. More tasks use Wolfe's (1976) exact active-set algorithm
    for the nearest point of a polytope (finite, unlike the Frank-Wolfe iterations of Sener &
    Koltun 2018, which converge slowly once several tasks are active).

    Parameters
    ----------
    gram
        ``(T, T)`` Gram matrix of the task gradients.
    tol
        Relative tolerance of the optimality check ``(G w)_t >= w.G.w`` for every ``t``.
    """
    gram = gram.double().cpu()
    n = len(gram)
    w = torch.zeros(n, dtype=torch.float64)
    if n <= 2:
        a = 1.0 if n == 1 else _pair(float(gram[0, 0]), float(gram[0, 1]), float(gram[1, 1]))
        w[0] = a
        w[1:] = 1.0 - a
        return w
    support = [int(torch.argmin(gram.diagonal()))]
    w[support[0]] = 1.0
    for _ in range(10 * n):  # major cycles: add the most violating task
        gw = gram @ w
        cost, t = float(w @ gw), int(torch.argmin(gw))
        if float(gw[t]) >= cost - tol * max(1.0, float(gram.diagonal().max())) or t in support:
            break
        support.append(t)
        while True:  # minor cycles: move to the affine minimiser, dropping tasks that hit 0
            y = _affine_min(gram, support)
            w_s = w[support]
            if bool((y > 1e-15).all()):
                w = torch.zeros_like(w)
                w[support] = y
                break
            neg = y <= 1e-15
            theta = float((w_s[neg] / (w_s[neg] - y[neg])).min())
            w_s = (w_s + theta * (y - w_s)).clamp_min(0.0)
            keep = [i for i, v in zip(support, w_s.tolist(), strict=True) if v > 1e-15]
            w = torch.zeros_like(w)
            w[keep] = w_s[w_s > 1e-15] / w_s[w_s > 1e-15].sum()
            support = keep
    return w


class MGDA(WeightingStrategy):
    """MGDA: step along the minimum-norm point of the convex hull of the task gradients.

    ``w* = argmin_{w in simplex} |sum_t w_t g_t|^2`` and the shared update is
    ``T sum_t w*_t g_t``. It is a common descent direction for every task (a step towards the
    Pareto front); at a Pareto-stationary point it is 0.

    Parameters
    ----------
    task_names
        Names of the tasks.

    Notes
    -----
    The gradients are taken w.r.t. all shared parameters (exact MGDA), not w.r.t. the shared
    representation (Sener & Koltun's cheaper MGDA-UB bound). No gradient normalisation is
    applied, so a task with small gradients dominates ``w*``. The factor ``T`` follows the
    package's scale convention (weights sum to ``T``); :meth:`backward` reports ``T w*``.

    References
    ----------
    Wolfe, P. (1976). Finding the nearest point in a polytope. Math. Program. 11, 128-149.
    Désidéri, J.-A. (2012). Multiple-gradient descent algorithm (MGDA) for multiobjective
    optimization. C. R. Math. 350(5-6), 313-318.
    Sener, O., Koltun, V. (2018). Multi-task learning as multi-objective optimization.
    NeurIPS 31, 525-536.
    """

    requires_task_grads = True

    def combine_grads(self, grads: torch.Tensor) -> torch.Tensor:
        """``T sum_t w*_t g_t`` ``(P,)`` for the ``(T, P)`` task gradients."""
        g64 = grads.double()
        w = (min_norm_weights((g64 @ g64.T).cpu()) * len(grads)).to(g64.device)
        self.last_weights_ = w.float()
        return (w @ g64).to(grads.dtype)
