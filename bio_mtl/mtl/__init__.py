"""The multi-task learning engine: tasks, models, heads, weighting, trainer, checkpoints.

Task-agnostic and torch-only: nothing here knows about proteins, drugs or cells.
"""

from __future__ import annotations

from .architectures import ARCHITECTURES, MMoEModel, TaskConditionedModel, build_model
from .checkpoint import load_weights, read_config, save_checkpoint
from .config import ExperimentConfig, load_config, parse_config
from .encoders import ENCODERS, get_encoder
from .grad_reversal import GradientReversal, grad_reverse
from .heads import HEADS, get_head
from .model import MultiTaskModel, SharedEncoder, TaskHead
from .negative_transfer import delta_m
from .pareto import pareto_front
from .synthetic import make_synthetic, read_csv_tasks
from .tasks import TaskSpec, compute_loss, compute_metrics, valid_mask
from .transfer import ReplayBuffer, add_task, freeze_encoder, unfreeze_encoder
from .weighting import WEIGHTINGS, WeightingStrategy, get_weighting

__all__ = [
    "ARCHITECTURES",
    "ENCODERS",
    "HEADS",
    "WEIGHTINGS",
    "ExperimentConfig",
    "GradientReversal",
    "MMoEModel",
    "MultiTaskModel",
    "ReplayBuffer",
    "SharedEncoder",
    "TaskConditionedModel",
    "TaskHead",
    "TaskSpec",
    "WeightingStrategy",
    "add_task",
    "build_model",
    "compute_loss",
    "compute_metrics",
    "delta_m",
    "freeze_encoder",
    "get_encoder",
    "get_head",
    "get_weighting",
    "grad_reverse",
    "load_config",
    "load_weights",
    "make_synthetic",
    "pareto_front",
    "parse_config",
    "read_config",
    "read_csv_tasks",
    "save_checkpoint",
    "unfreeze_encoder",
    "valid_mask",
]
