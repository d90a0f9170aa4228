"""The multi-task learning engine: tasks, models, heads, weighting, trainer, checkpoints.

Task-agnostic and torch-only: nothing here knows about proteins, drugs or cells.
"""

from __future__ import annotations

from .checkpoint import load_weights, read_config, save_checkpoint
from .grad_reversal import GradientReversal, grad_reverse
from .model import MultiTaskModel
from .tasks import TaskSpec, compute_loss, compute_metrics, valid_mask
from .weighting import WEIGHTINGS, WeightingStrategy, get_weighting

__all__ = [
    "WEIGHTINGS",
    "GradientReversal",
    "MultiTaskModel",
    "TaskSpec",
    "WeightingStrategy",
    "compute_loss",
    "compute_metrics",
    "get_weighting",
    "grad_reverse",
    "load_weights",
    "read_config",
    "save_checkpoint",
    "valid_mask",
]
