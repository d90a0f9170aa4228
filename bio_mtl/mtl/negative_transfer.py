"""Negative transfer: does training tasks together help or hurt each of them?

Single-task models (one per task) and one joint model are trained on the same data and splits,
and compared task by task. The summary is the multi-task performance delta (Maninis et al.
2019, CVPR, "Attentive single-tasking of multiple tasks"; Vandenhende et al. 2021, IEEE TPAMI
44:3614, eq. 7)::

    Δm = (1/T) Σ_t (-1)^{l_t} (M_joint,t - M_single,t) / M_single,t

with ``l_t = 1`` when a lower value of task ``t``'s metric is better. Δm > 0 means the joint
model is better on average; a task whose own term is negative suffers negative transfer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .._progress import ProgressCallback
from ..errors import ConfigError
from .experiment import run_experiment

__all__ = ["TransferReport", "delta_m", "negative_transfer", "transfer_table"]


def delta_m(single: Mapping[str, float], joint: Mapping[str, float],
            higher_is_better: Mapping[str, bool]) -> float:
    """The multi-task performance delta Δm (a fraction; multiply by 100 for percent).

    Parameters
    ----------
    single
        ``{task: metric}`` of the single-task models.
    joint
        ``{task: metric}`` of the joint model (same tasks).
    higher_is_better
        ``{task: bool}``; ``False`` gives the sign ``(-1)^1`` of lower-is-better metrics.

    Raises
    ------
    ConfigError
        If the task sets differ or a single-task metric is 0 (the ratio is undefined).

    Examples
    --------
    >>> round(delta_m({"a": 0.8, "b": 2.0}, {"a": 0.88, "b": 2.5},
    ...               {"a": True, "b": False}), 6)
    -0.075
    """
    if set(single) != set(joint) or set(single) - set(higher_is_better):
        raise ConfigError(f"delta_m: task sets differ (single {sorted(single)}, joint "
                          f"{sorted(joint)}, directions {sorted(higher_is_better)})")
    if not single:
        raise ConfigError("delta_m: no tasks")
    terms = []
    for task, base in single.items():
        if base == 0:
            raise ConfigError(f"delta_m: single-task metric of {task!r} is 0; the relative "
                              "difference is undefined")
        sign = 1.0 if higher_is_better[task] else -1.0
        terms.append(sign * (joint[task] - base) / base)
    return float(sum(terms) / len(terms))


def transfer_table(single: Mapping[str, float], joint: Mapping[str, float],
                   higher_is_better: Mapping[str, bool]) -> list[dict]:
    """One row per task: ``task, single, joint, difference, relative`` (sign-corrected).

    ``relative`` is the task's Δm term: positive when the joint model is better.
    """
    rows = []
    for task in single:
        base = single[task]
        sign = 1.0 if higher_is_better[task] else -1.0
        rel = sign * (joint[task] - base) / base if base else math.nan
        rows.append({"task": task, "single": base, "joint": joint[task],
                     "difference": joint[task] - base, "relative": rel,
                     "higher_is_better": bool(higher_is_better[task])})
    return rows


@dataclass
class TransferReport:
    """What :func:`negative_transfer` measured.

    Parameters
    ----------
    rows
        :func:`transfer_table` rows (plus the ``metric`` name of each task).
    delta_m
        Δm over all tasks (a fraction).
    split
        The split the metrics were computed on.
    """

    rows: list[dict]
    delta_m: float
    split: str

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"split": self.split, "delta_m": self.delta_m, "tasks": self.rows}


def negative_transfer(config, *, progress: ProgressCallback | None = None) -> TransferReport:
    """Train one single-task model per task and one joint model; compare on the test split.

    The same data, splits, seed, encoder and training settings are used throughout; each
    task's primary metric (the first of its ``metrics``) is compared. Uses the validation
    split when the config holds out no test samples.

    Parameters
    ----------
    config
        An :class:`~bio_mtl.mtl.config.ExperimentConfig` with at least two tasks.
    progress
        Optional progress callback.
    """
    if len(config.tasks) < 2:
        raise ConfigError("negative transfer needs at least two tasks")
    split = "test" if config.data.test_fraction > 0 else "val"
    primary = {t.name: t.resolved_metrics[0] for t in config.tasks}
    joint_run = run_experiment(config, progress=progress)
    if split not in joint_run.metrics_:
        raise ConfigError("negative transfer needs a validation or test split "
                          "(data.val_fraction or data.test_fraction > 0)")
    joint = {n: joint_run.metrics_[split][n][m] for n, m in primary.items()}
    single = {}
    for name, metric in primary.items():
        run = run_experiment(config, progress=progress, tasks=[name])
        single[name] = run.metrics_[split][name][metric]
    higher = {t.name: t.higher_is_better for t in config.tasks}
    rows = transfer_table(single, joint, higher)
    for row in rows:
        row["metric"] = primary[row["task"]]
    return TransferReport(rows, delta_m(single, joint, higher), split)
