"""Trade-offs between two tasks: a static loss-weight sweep and its Pareto front.

Every fixed weighting ``w L_a + (1 - w) L_b`` gives one trained model and one point of task
metrics; the points no other point beats on both tasks form the empirical Pareto front (the
view of multi-task learning as multi-objective optimisation, Sener & Koltun 2018, NeurIPS).
Linear scalarisation can only reach the convex part of the true front (Boyd & Vandenberghe
2004, section 4.7), which is also what this sweep shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._progress import ProgressCallback
from ..errors import ConfigError
from .experiment import run_experiment

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["pareto_front", "plot_front", "sweep_weights", "weight_grid"]


def pareto_front(points, higher_is_better: Sequence[bool]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points``.

    Row ``i`` is dominated when some row ``j`` is at least as good on every objective and
    strictly better on one. Identical rows do not dominate each other.

    Parameters
    ----------
    points
        ``(n, m)`` objective values.
    higher_is_better
        One flag per objective.

    Examples
    --------
    >>> pareto_front([[1, 1], [2, 0], [0, 0], [1, 1]], [True, True]).tolist()
    [True, True, False, True]
    """
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != len(higher_is_better):
        raise ConfigError(f"pareto_front: points of shape {pts.shape} do not match "
                          f"{len(higher_is_better)} objectives")
    signs = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    score = pts * signs                                              # larger = better
    geq = (score[:, None, :] >= score[None, :, :]).all(-1)           # j >= i everywhere
    gt = (score[:, None, :] > score[None, :, :]).any(-1)
    dominated = (geq & gt).any(0)                                    # some j dominates i
    return ~dominated & ~np.isnan(score).any(1)


def weight_grid(n_points: int) -> list[tuple[float, float]]:
    """``n_points`` weight pairs ``(w, 1 - w)`` with ``w`` evenly spaced over [0, 1]."""
    if n_points < 2:
        raise ConfigError("weight_grid: n_points must be >= 2")
    return [(float(w), float(1 - w)) for w in np.linspace(0.0, 1.0, n_points)]


def sweep_weights(config, weights: Sequence[tuple[float, float]], *,
                  progress: ProgressCallback | None = None) -> list[dict]:
    """Train one model per weight pair for the two tasks of ``config``; collect metrics.

    Parameters
    ----------
    config
        An :class:`~bio_mtl.mtl.config.ExperimentConfig` with exactly two tasks.
    weights
        ``(w_a, w_b)`` pairs (see :func:`weight_grid`).
    progress
        Optional progress callback.

    Returns
    -------
    list of dict
        One row per pair: ``weights``, each task's primary metric on the test split (the
        validation split when there is none) and ``pareto`` (on the front or not).
    """
    if len(config.tasks) != 2:
        raise ConfigError(f"pareto sweep needs exactly two tasks, got {len(config.tasks)}")
    a, b = config.tasks
    split = "test" if config.data.test_fraction > 0 else "val"
    rows = []
    for w_a, w_b in weights:
        run = run_experiment(config, progress=progress,
                             loss_weights={a.name: w_a, b.name: w_b})
        metrics = run.metrics_.get(split)
        if metrics is None:
            raise ConfigError("pareto sweep needs a validation or test split")
        rows.append({"weights": [w_a, w_b],
                     a.name: metrics[a.name][a.resolved_metrics[0]],
                     b.name: metrics[b.name][b.resolved_metrics[0]]})
    front = pareto_front([[r[a.name], r[b.name]] for r in rows],
                         [a.higher_is_better, b.higher_is_better])
    for row, on in zip(rows, front, strict=True):
        row["pareto"] = bool(on)
    return rows


def plot_front(points, on_front, *, labels: Sequence[str] = ("task a", "task b"),
               annotations: Sequence[str] | None = None) -> Figure:
    """Scatter all points, draw the front as a line; return the Figure (never shown).

    Parameters
    ----------
    points
        ``(n, 2)`` metric pairs.
    on_front
        Boolean mask from :func:`pareto_front`.
    labels
        Axis labels (task and metric names).
    annotations
        Optional text per point (e.g. the weights).
    """
    from matplotlib.figure import Figure

    pts, mask = np.asarray(points, dtype=float), np.asarray(on_front, dtype=bool)
    fig = Figure(figsize=(4.5, 4))
    ax = fig.add_subplot()
    ax.scatter(pts[~mask, 0], pts[~mask, 1], color="0.6", label="dominated")
    front = pts[mask][np.argsort(pts[mask, 0])]
    ax.plot(front[:, 0], front[:, 1], "o-", color="C3", label="Pareto front")
    for (x, y), text in zip(pts, annotations or [], strict=False):
        ax.annotate(text, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
