"""The multi-task learning engine: tasks, models, heads, weighting, trainer, checkpoints.

Task-agnostic and torch-only: nothing here knows about proteins, drugs or cells. The public
names are loaded lazily, so reading a checkpoint's ``config.json``
(:func:`~bio_mtl.mtl.checkpoint.read_config`) does not import torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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

_WHERE = {
    "ARCHITECTURES": "architectures",
    "MMoEModel": "architectures",
    "TaskConditionedModel": "architectures",
    "build_model": "architectures",
    "load_weights": "checkpoint",
    "read_config": "checkpoint",
    "save_checkpoint": "checkpoint",
    "ExperimentConfig": "config",
    "load_config": "config",
    "parse_config": "config",
    "ENCODERS": "encoders",
    "get_encoder": "encoders",
    "GradientReversal": "grad_reversal",
    "grad_reverse": "grad_reversal",
    "HEADS": "heads",
    "get_head": "heads",
    "MultiTaskModel": "model",
    "SharedEncoder": "model",
    "TaskHead": "model",
    "delta_m": "negative_transfer",
    "pareto_front": "pareto",
    "make_synthetic": "synthetic",
    "read_csv_tasks": "synthetic",
    "TaskSpec": "tasks",
    "compute_loss": "tasks",
    "compute_metrics": "tasks",
    "valid_mask": "tasks",
    "ReplayBuffer": "transfer",
    "add_task": "transfer",
    "freeze_encoder": "transfer",
    "unfreeze_encoder": "transfer",
    "WEIGHTINGS": "weighting",
    "WeightingStrategy": "weighting",
    "get_weighting": "weighting",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
