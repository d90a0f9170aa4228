"""Config-driven experiments: data + model + trainer from an :class:`ExperimentConfig`.

This is the library core behind ``biomtl mtl train`` / ``evaluate`` and
``examples/custom_mtl_from_yaml.py``; everything here is deterministic given the config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .._progress import ProgressCallback
from .._random import seed_everything
from ..errors import CheckpointError, ConfigError
from .config import ExperimentConfig, config_to_dict, parse_config
from .synthetic import TabularBatches, TabularData, make_synthetic, read_csv_tasks, split_indices

__all__ = ["Experiment", "build_experiment_model", "evaluate_model", "load_data",
           "load_experiment", "make_batches", "only_tasks", "resolve_config", "run_experiment",
           "save_experiment"]

SPLITS = ("train", "val", "test")


@dataclass
class Experiment:
    """The result of :func:`run_experiment`.

    Parameters
    ----------
    config
        The resolved config (input width filled in); rebuilds the model.
    model
        The trained model (best epoch restored).
    trainer
        The :class:`~bio_mtl.mtl.trainer.Trainer` (``history_``, ``best_epoch_``).
    metrics
        ``{split: Trainer.evaluate(...)}`` for every non-empty split.
    fingerprint
        SHA-256 of the feature matrix and labels.
    """

    config: ExperimentConfig
    model: nn.Module
    trainer: Any
    metrics: dict[str, dict]
    fingerprint: str


def load_data(config: ExperimentConfig) -> tuple[TabularData, dict[str, np.ndarray]]:
    """Load (or generate) the samples and split them; standardise with training statistics."""
    d = config.data
    if d.source == "synthetic":
        data = make_synthetic(config.tasks, n_samples=d.n_samples, n_features=d.n_features,
                              latent_dim=d.latent_dim, relatedness=d.relatedness,
                              noise=d.noise, missing=d.missing, seed=d.seed)
    else:
        data = read_csv_tasks(d.path, config.tasks, feature_columns=d.feature_columns,
                              task_columns=d.task_columns, id_column=d.id_column)
    splits = split_indices(len(data), val_fraction=d.val_fraction,
                           test_fraction=d.test_fraction, seed=d.seed)
    if len(splits["train"]) == 0:
        raise ConfigError(f"data: no training samples left ({len(data)} samples, "
                          f"val_fraction={d.val_fraction}, test_fraction={d.test_fraction})")
    if d.standardize:
        train = data.X[splits["train"]]
        mean, std = train.mean(0), train.std(0)
        data = dataclasses.replace(data, X=((data.X - mean) / np.where(std > 0, std, 1.0))
                                   .astype(np.float32))
    return data, splits


def fingerprint(data: TabularData) -> str:
    """SHA-256 over the features and labels (recorded in checkpoints)."""
    digest = hashlib.sha256(np.ascontiguousarray(data.X).tobytes())
    for name in sorted(data.targets):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(data.targets[name]).tobytes())
    return digest.hexdigest()


def resolve_config(config: ExperimentConfig, data: TabularData) -> ExperimentConfig:
    """Fill ``model.encoder_params.input_dim`` from the data (error if it disagrees)."""
    params = dict(config.model.encoder_params)
    width = data.X.shape[1]
    if params.get("input_dim", width) != width:
        raise ConfigError(f"model.encoder_params.input_dim: {params['input_dim']} but the data "
                          f"have {width} features (leave it out to take it from the data)")
    params["input_dim"] = width
    model = dataclasses.replace(config.model, encoder_params=params)
    return config.replace(model=model)


def make_batches(config: ExperimentConfig, data: TabularData, indices: np.ndarray, *,
                 shuffle: bool = False, tasks: Sequence[str] | None = None) -> TabularBatches:
    """Batches of one split with the configured batch size and seed."""
    return TabularBatches(data, indices, batch_size=config.training.batch_size, shuffle=shuffle,
                          seed=config.training.seed,
                          tasks=tasks if tasks is not None else [t.name for t in config.tasks])


def build_experiment_model(config: ExperimentConfig) -> nn.Module:
    """Build the (untrained) model of a resolved config; initialisation seeded by the config."""
    from .architectures import build_model

    seed_everything(config.training.seed)
    return build_model(config.model, config.tasks)


def evaluate_model(config: ExperimentConfig, model: nn.Module, data: TabularData, *,
                   splits: dict[str, np.ndarray]) -> dict[str, dict]:
    """``{split: Trainer.evaluate(...)}`` for every non-empty split."""
    from .trainer import Trainer

    trainer = Trainer(model, config.tasks, config.training)
    return {name: trainer.evaluate(make_batches(config, data, splits[name]))
            for name in SPLITS if len(splits.get(name, ())) > 0}


def run_experiment(config: ExperimentConfig, *, progress: ProgressCallback | None = None,
                   tasks: Sequence[str] | None = None,
                   log_path: str | os.PathLike | None = None,
                   loss_weights: dict[str, float] | None = None,
                   checkpoint_dir: str | os.PathLike | None = None) -> Experiment:
    """Load data, build the model, train it and evaluate every split.

    Parameters
    ----------
    config
        The experiment.
    progress
        Optional progress callback (the CLI passes a rich one).
    tasks
        Train only these tasks (single-task baselines, see :func:`only_tasks`); ``None`` = all.
    log_path
        Optional JSON-lines file receiving one record per epoch.
    loss_weights
        Fixed ``{task: weight}`` loss weights: trains with the ``static`` weighting strategy
        instead of the configured one (used by the Pareto sweep of :mod:`bio_mtl.mtl.pareto`).
    checkpoint_dir
        Optional folder of resumable trainer state: an interrupted run called again with the
        same config continues where it stopped and ends with the same weights.
    """
    from .trainer import Trainer

    data, splits = load_data(config)
    if tasks is not None:
        config = only_tasks(config, tasks)
    if loss_weights is not None:
        config = config.replace(training=dataclasses.replace(
            config.training, weighting="static", weighting_params={"weights": loss_weights}))
    config = resolve_config(config, data)
    model = build_experiment_model(config)
    trainer = Trainer(model, config.tasks, config.training, progress=progress,
                      log_path=log_path, checkpoint_dir=checkpoint_dir)
    val = make_batches(config, data, splits["val"]) if len(splits["val"]) else None
    trainer.fit(make_batches(config, data, splits["train"], shuffle=True), val)
    metrics = evaluate_model(config, model, data, splits=splits)
    return Experiment(config, model, trainer, metrics, fingerprint(data))


def only_tasks(config: ExperimentConfig, tasks: Sequence[str]) -> ExperimentConfig:
    """The config restricted to ``tasks``: a baseline trained on those tasks alone.

    A single-task baseline optimises its plain loss (the ``equal`` strategy, as the single-task
    baselines of the MTL literature do; the joint model's strategy and its per-task parameters
    do not apply to one task). A subset of several tasks keeps the configured strategy. A
    ``monitor`` on a removed task falls back to ``loss``.

    Parameters
    ----------
    config
        The joint experiment.
    tasks
        Names of the tasks to keep.

    Raises
    ------
    ConfigError
        If a name is not a task of ``config``.
    """
    keep = set(tasks)
    unknown = sorted(keep - {t.name for t in config.tasks})
    if unknown:
        raise ConfigError(f"unknown task(s) {', '.join(unknown)}; tasks are "
                          f"{', '.join(t.name for t in config.tasks)}")
    model = dataclasses.replace(config.model, task_heads={
        k: v for k, v in config.model.task_heads.items() if k in keep})
    monitor = config.training.monitor
    if monitor.partition("/")[0] not in keep:
        monitor = "loss"
    training = dataclasses.replace(config.training, monitor=monitor)
    if len(keep) == 1:
        training = dataclasses.replace(training, weighting="equal", weighting_params={})
    return config.replace(tasks=tuple(t for t in config.tasks if t.name in keep), model=model,
                          training=training)


def jsonable(obj: Any) -> Any:
    """Replace NaN / infinite floats by ``None`` (strict JSON) in nested dicts and lists."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def save_experiment(directory: str | os.PathLike, experiment: Experiment, *,
                    seed: int | None = None) -> Path:
    """Write the checkpoint (``kind="mtl"``): weights, full config, metrics, history."""
    from .checkpoint import save_checkpoint

    return save_checkpoint(directory, experiment.model, kind="mtl",
                           config=config_to_dict(experiment.config),
                           seed=experiment.config.training.seed if seed is None else seed,
                           data_fingerprint=experiment.fingerprint,
                           metrics=jsonable(experiment.metrics),
                           history=jsonable(experiment.trainer.history_),
                           best_epoch=experiment.trainer.best_epoch_)


def load_experiment(directory: str | os.PathLike) -> tuple[ExperimentConfig, nn.Module]:
    """Rebuild a model saved by :func:`save_experiment` and load its weights strictly.

    Raises
    ------
    CheckpointError
        If the folder is not an ``mtl`` checkpoint or its config / weights do not fit.
    """
    from .checkpoint import load_weights, read_config

    doc = read_config(directory, kind="mtl")
    try:
        config = parse_config(doc["config"], source=f"{Path(directory) / 'config.json'}")
    except (ConfigError, KeyError) as exc:
        raise CheckpointError(f"{directory}: checkpoint config cannot be rebuilt ({exc})"
                              ) from None
    model = build_experiment_model(config)
    load_weights(model, directory)
    return config, model
