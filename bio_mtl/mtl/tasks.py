"""Task specifications and their masked losses and metrics.

A task is one prediction target: a sequence-level (one value per sample) or token-level (one
value per residue / position) classification or regression. Labels may be missing: for
classification a target below 0 (``-100``) is missing, for regression a NaN target is missing,
and an explicit boolean ``mask`` (True = valid) can be given on top of either.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from . import metrics as M
from ._dataclasses import check_types

__all__ = ["KINDS", "LOSSES", "METRICS", "TaskSpec", "compute_loss", "compute_metrics",
           "valid_mask"]

KINDS = ("classification", "regression", "token_classification", "token_regression")
LOSSES = ("auto", "cross_entropy", "mse", "l1", "huber", "bce")
METRICS = ("auto", "accuracy", "macro_f1", "auroc", "mcc", "mse", "mae", "pearson", "r2")


@dataclass(frozen=True)
class TaskSpec:
    """One task of a multi-task model.

    Parameters
    ----------
    name
        Unique task name (``"ss8"``, ``"rsa"``, ``"warfarin"``).
    kind
        One of :data:`KINDS`.
    n_outputs
        Number of classes (classification) or output dimensions (regression, usually 1).
    loss
        One of :data:`LOSSES`; ``"auto"`` is cross-entropy for classification, MSE for regression.
    metrics
        Metric names from :data:`METRICS`; the first is the task's primary metric.
        ``("auto",)`` is accuracy for classification and Pearson r for regression.
    weight
        Static loss weight (used by the ``"static"`` weighting strategy).
    labels
        Optional class names (stored in checkpoints so predictions can be decoded).
    """

    name: str
    kind: str
    n_outputs: int = 1
    loss: str = "auto"
    metrics: tuple[str, ...] = ("auto",)
    weight: float = 1.0
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_outputs, numbers.Integral) or isinstance(self.n_outputs, bool):
            raise ConfigError(f"task {self.name!r}: n_outputs must be an integer, got "
                              f"{self.n_outputs!r}")
        if self.kind not in KINDS:
            raise ConfigError(f"task {self.name!r}: unknown kind {self.kind!r}; "
                              f"choose one of {', '.join(KINDS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"task {self.name!r}: unknown loss {self.loss!r}; "
                              f"choose one of {', '.join(LOSSES)}")
        for metric in self.metrics:
            if metric not in METRICS:
                raise ConfigError(f"task {self.name!r}: unknown metric {metric!r}; "
                                  f"choose one of {', '.join(METRICS)}")
        if self.n_outputs < 1 or (self.is_classification and self.n_outputs < 2
                                  and self.loss != "bce"):
            raise ConfigError(f"task {self.name!r}: n_outputs={self.n_outputs} is too small "
                              "(classification needs at least 2 classes)")
        if self.labels is not None and self.is_classification \
                and len(self.labels) != self.n_outputs:
            raise ConfigError(f"task {self.name!r}: {len(self.labels)} labels for "
                              f"{self.n_outputs} classes")
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ConfigError(f"task {self.name!r}: weight must be a finite number >= 0")

    @property
    def is_classification(self) -> bool:
        """Whether the task predicts classes."""
        return self.kind.endswith("classification")

    @property
    def is_token_level(self) -> bool:
        """Whether the task predicts one value per token (residue)."""
        return self.kind.startswith("token_")

    @property
    def resolved_loss(self) -> str:
        """The loss name with ``"auto"`` resolved."""
        if self.loss != "auto":
            return self.loss
        return "cross_entropy" if self.is_classification else "mse"

    @property
    def resolved_metrics(self) -> tuple[str, ...]:
        """Metric names with ``"auto"`` resolved (the first is primary)."""
        auto = "accuracy" if self.is_classification else "pearson"
        return tuple(auto if m == "auto" else m for m in self.metrics)

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger primary metric is better."""
        return self.resolved_metrics[0] not in ("mse", "mae")

    def to_dict(self) -> dict:
        """A JSON-ready dict (round-trips through :meth:`from_dict`)."""
        out = dataclasses.asdict(self)
        out["metrics"] = list(self.metrics)
        out["labels"] = None if self.labels is None else list(self.labels)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TaskSpec:
        """Build from a dict; a :class:`ConfigError` names unknown, missing or mistyped keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"task {data.get('name', '?')!r}: unknown key(s) "
                              f"{', '.join(unknown)}; valid keys: {', '.join(sorted(known))}")
        missing = [k for k in ("name", "kind") if k not in data]
        if missing:
            raise ConfigError(f"task {data.get('name', '?')!r}: missing required key(s) "
                              f"{', '.join(missing)} (a task is e.g. {{name: grade, kind: "
                              "classification, n_outputs: 3})")
        data = dict(data)
        if isinstance(data.get("metrics"), str):
            data["metrics"] = (data["metrics"],)
        check_types(cls, data, where=f"task {data.get('name', '?')!r}")
        for key in ("metrics", "labels"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


def valid_mask(task: TaskSpec, target: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean tensor of the positions that carry a label for ``task``.

    The shape is the target's shape without a trailing regression dimension (or class
    dimension, for soft classification targets: see :func:`compute_loss`).
    """
    if task.is_classification and task.resolved_loss != "bce" and target.is_floating_point():
        valid = ~torch.isnan(target).any(dim=-1)  # soft targets: (..., C) probabilities
    elif task.is_classification and task.resolved_loss != "bce":
        valid = target >= 0
    else:
        valid = ~torch.isnan(target)
        if target.dim() > (2 if task.is_token_level else 1):
            valid = valid.all(dim=-1)
    if mask is not None:
        valid = valid & mask.bool()
    return valid


def compute_loss(task: TaskSpec, pred: torch.Tensor, target: torch.Tensor,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss of ``task`` over the labelled positions (0 with a graph if none is labelled).

    Parameters
    ----------
    task
        The task.
    pred
        Model output: ``(N, C)`` / ``(N, L, C)`` logits for classification, ``(N,)``,
        ``(N, D)``, ``(N, L)`` or ``(N, L, D)`` for regression.
    target
        Class indices (``-100`` = missing) or values (NaN = missing). For cross-entropy
        classification the target may instead be soft: floating-point class probabilities of
        the prediction's shape (NaN rows = missing), e.g. a teacher's predictions blended with
        the hard labels for knowledge distillation (Hinton et al. 2015, arXiv:1503.02531).
    mask
        Optional boolean validity mask of the target's (batch[, length]) shape.

    Examples
    --------
    A soft target equal to a one-hot label gives the hard-label loss:

    >>> task = TaskSpec("y", "classification", 2)
    >>> logits = torch.tensor([[2.0, 0.0]])
    >>> hard = compute_loss(task, logits, torch.tensor([1]))
    >>> soft = compute_loss(task, logits, torch.tensor([[0.0, 1.0]]))
    >>> round(float(hard), 4), round(float(soft), 4)
    (2.1269, 2.1269)
    """
    valid = valid_mask(task, target, mask)
    if not bool(valid.any()):
        return pred.sum() * 0.0
    loss = task.resolved_loss
    if task.is_classification and loss == "cross_entropy":
        if target.is_floating_point():
            return F.cross_entropy(pred[valid], target[valid].to(pred.dtype))
        return F.cross_entropy(pred[valid], target[valid].long())
    p, t = pred[valid], target[valid].to(pred.dtype)
    if p.dim() > t.dim():
        p = p.squeeze(-1)
    if loss == "mse":
        return F.mse_loss(p, t)
    if loss == "l1":
        return F.l1_loss(p, t)
    if loss == "huber":
        return F.smooth_l1_loss(p, t, beta=0.1)
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(p, t)
    raise ConfigError(f"task {task.name!r}: loss {loss!r} does not fit kind {task.kind!r}")


def compute_metrics(task: TaskSpec, pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Metrics of ``task`` on already-masked, flattened predictions.

    Parameters
    ----------
    task
        The task.
    pred
        ``(n, C)`` logits or probabilities for classification; ``(n,)`` or ``(n, D)`` values for
        regression. Only labelled positions.
    target
        ``(n,)`` class indices or ``(n,)`` / ``(n, D)`` values.

    Returns
    -------
    dict
        ``{metric_name: value}`` for each of the task's metrics (NaN where undefined).
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target)
    out: dict[str, float] = {}
    for metric in task.resolved_metrics:
        if len(target) == 0:
            out[metric] = float("nan")
            continue
        if task.is_classification:
            if task.resolved_loss == "bce":
                score = pred.reshape(-1)
                labels = (score > 0).astype(int)
                y = target.reshape(-1).astype(int)
            else:
                score = pred[:, 1] - pred[:, 0] if pred.shape[1] == 2 else None
                labels = pred.argmax(axis=1)
                y = target.astype(int)
            if metric == "accuracy":
                out[metric] = M.accuracy(y, labels)
            elif metric == "macro_f1":
                out[metric] = M.macro_f1(y, labels, max(task.n_outputs, 2))
            elif metric == "auroc":
                out[metric] = M.auroc(y, score) if score is not None else float("nan")
            elif metric == "mcc":
                out[metric] = M.mcc(y, labels) if max(task.n_outputs, 2) == 2 else float("nan")
            else:
                raise ConfigError(f"task {task.name!r}: metric {metric!r} needs a regression task")
            continue
        p = pred.reshape(len(pred), -1)
        t = target.astype(np.float64).reshape(len(target), -1)
        columns = [(t[:, j], p[:, j]) for j in range(t.shape[1])]
        if metric in ("mse", "mae"):
            out[metric] = getattr(M, metric)(t, p)
        elif metric == "pearson":
            r = np.array([M.pearson(a, b) for a, b in columns])
            # NaN (not a warning) when every output is constant or has too few values
            out[metric] = float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")
        elif metric == "r2":
            out[metric] = float(np.mean([M.r2(a, b) for a, b in columns]))
        else:
            raise ConfigError(f"task {task.name!r}: metric {metric!r} needs a classification task")
    return out
