"""Optimisation settings of the :class:`~bio_mtl.mtl.trainer.Trainer` (one frozen dataclass)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from .tasks import TaskSpec

__all__ = ["TrainConfig", "monitor_target"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Parameters
    ----------
    epochs
        Maximum number of passes over the training batches.
    batch_size
        Samples per batch (used by the data builders; the trainer takes batches as given).
    lr, weight_decay
        AdamW learning rate and decoupled weight decay.
    warmup_steps
        Linear warm-up steps; the learning rate then decays with a cosine to
        ``min_lr_ratio * lr`` at the last step.
    min_lr_ratio
        Final learning rate as a fraction of ``lr``.
    grad_clip
        Maximum global gradient norm (``None`` = no clipping).
    patience
        Stop after this many epochs without improvement of ``monitor`` (``None`` = never).
    monitor
        ``"loss"`` (validation loss, lower is better) or ``"<task>/<metric>"``.
    seed
        Seeds Python, NumPy and torch at the start and at every epoch (``seed + epoch``), so a
        resumed run repeats the data order and dropout of an uninterrupted one.
    weighting, weighting_params
        Loss-weighting strategy name from :data:`bio_mtl.mtl.WEIGHTINGS` and its parameters.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    time_budget_s
        Stop after the epoch during which this many seconds have passed (``None`` = no limit).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 0
    min_lr_ratio: float = 0.05
    grad_clip: float | None = 1.0
    patience: int | None = None
    monitor: str = "loss"
    seed: int = 0
    weighting: str = "equal"
    weighting_params: dict = field(default_factory=dict)
    device: str = "cpu"
    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("training: epochs and batch_size must be >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"training: lr must be a positive number, got {self.lr}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError("training: grad_clip must be > 0 or null")

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build from a dict; unknown keys and mistyped values raise :class:`ConfigError`."""
        from ._dataclasses import dataclass_from_dict

        return dataclass_from_dict(cls, data, where="training")

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


def monitor_target(monitor: str, tasks: Sequence[TaskSpec]) -> tuple[str | None, str, bool]:
    """Parse ``TrainConfig.monitor`` against the tasks.

    Parameters
    ----------
    monitor
        ``"loss"`` or ``"<task>/<metric>"`` (the metric may be ``loss``).
    tasks
        The task specifications.

    Returns
    -------
    tuple
        ``(task or None, metric, higher_is_better)``.

    Raises
    ------
    ConfigError
        For an unknown task or metric, listing the valid monitors.

    Examples
    --------
    >>> from bio_mtl.mtl import TaskSpec
    >>> monitor_target("a/mae", [TaskSpec("a", "regression", metrics=("pearson", "mae"))])
    ('a', 'mae', False)
    """
    if monitor == "loss":
        return None, "loss", False
    by_name = {t.name: t for t in tasks}
    task, _, metric = monitor.partition("/")
    if task not in by_name or metric not in (*by_name[task].resolved_metrics, "loss"):
        choices = ["loss"] + [f"{t.name}/{m}" for t in tasks for m in t.resolved_metrics]
        raise ConfigError(f"training: unknown monitor {monitor!r}; choose one of "
                          f"{', '.join(choices)}")
    return task, metric, metric not in ("loss", "mse", "mae")
