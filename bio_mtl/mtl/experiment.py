"""Config-driven experiments: the multi-task estimator behind ``biomtl mtl train`` / ``evaluate``.

:class:`MultiTaskEstimator` (checkpoint kind ``"mtl"``) is an
:class:`~bio_mtl.mtl.estimator.Estimator` whose hyperparameters are the four frozen sections of
an :class:`~bio_mtl.mtl.config.ExperimentConfig` (``data``, ``model``, ``tasks``,
``training``). ``fit`` loads (or generates) the tabular data, builds the model from the
registries and trains it with the :class:`~bio_mtl.mtl.trainer.Trainer`; everything is
deterministic given the config. The functions below are the steps, also used by
:mod:`~bio_mtl.mtl.negative_transfer` and :mod:`~bio_mtl.mtl.pareto`.

Examples
--------
>>> from bio_mtl.mtl import TaskSpec
>>> from bio_mtl.mtl.config import DataConfig, ModelConfig
>>> from bio_mtl.mtl.train_config import TrainConfig
>>> est = MultiTaskEstimator(data=DataConfig(n_samples=40, n_features=3),
...                          model=ModelConfig(encoder_params={"hidden_dims": [4]}),
...                          tasks=(TaskSpec("y", "regression"),),
...                          training=TrainConfig(epochs=1)).fit()
>>> est.predict(np.zeros((2, 3)))["y"].shape
(2,)
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._progress import ProgressCallback
from .._random import seed_everything
from ..errors import CheckpointError, ConfigError, InputError
from .architectures import ModelConfig, build_model
from .checkpoint import load_weights
from .config import SECTIONS, DataConfig, ExperimentConfig, config_to_dict, parse_config
from .estimator import Estimator
from .synthetic import (
    TabularData,
    fingerprint,
    make_synthetic,
    read_csv_tasks,
    split_indices,
    standardize,
    tabular_batches,
)
from .tasks import TaskSpec
from .train_config import TrainConfig
from .trainer import Trainer

__all__ = ["MultiTaskEstimator", "build_experiment_model", "evaluate_model", "jsonable",
           "load_data", "load_experiment", "make_batches", "only_tasks", "resolve_config",
           "run_experiment", "save_experiment"]

SPLITS = ("train", "val", "test")


class MultiTaskEstimator(Estimator):
    """A multi-task model on tabular data, described by the sections of an experiment config.

    Parameters
    ----------
    data
        Where the samples come from and how they are split (:class:`DataConfig`).
    model
        Encoder, architecture and heads (:class:`ModelConfig`); ``encoder_params.input_dim``
        may be left out (it is taken from the data).
    tasks
        The tasks, in output order.
    training
        Optimisation settings (:class:`TrainConfig`), including the weighting strategy and
        the seed of initialisation, order and dropout.

    Attributes
    ----------
    config_ : ExperimentConfig
        The resolved config (input width filled in); rebuilds the model.
    model_ : torch.nn.Module
        The trained model (best epoch restored).
    history_ : list of dict
        One record per epoch (:attr:`Trainer.history_ <bio_mtl.mtl.trainer.Trainer>`).
    best_epoch_ : int
        The epoch whose weights were kept.
    metrics_ : dict
        ``{split: Trainer.evaluate(...)}`` for every non-empty split.
    fingerprint_ : str
        SHA-256 of the feature matrix and labels.
    feature_mean_, feature_scale_ : numpy.ndarray or None
        The training split's standardisation, applied by :meth:`predict`.
    """

    kind = "mtl"

    def __init__(self, *, data: DataConfig = DataConfig(), model: ModelConfig = ModelConfig(),
                 tasks: tuple[TaskSpec, ...] = (), training: TrainConfig = TrainConfig()
                 ) -> None:
        self.data = data
        self.model = model
        self.tasks = tasks
        self.training = training

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> MultiTaskEstimator:
        """The (unfitted) estimator of an experiment config."""
        return cls(data=config.data, model=config.model, tasks=tuple(config.tasks),
                   training=config.training)

    def to_config(self) -> ExperimentConfig:
        """The hyperparameters as one validated :class:`ExperimentConfig`."""
        return ExperimentConfig(data=self.data, model=self.model, tasks=tuple(self.tasks),
                                training=self.training)

    # -- learning ---------------------------------------------------------------------------
    def fit(self, *, progress: ProgressCallback | None = None,
            log_path: str | os.PathLike | None = None,
            checkpoint_dir: str | os.PathLike | None = None) -> MultiTaskEstimator:
        """Load the data, build the model, train it and evaluate every split; return ``self``.

        Under ``torchrun`` (an initialised process group) the trainer runs DDP.

        Parameters
        ----------
        progress
            Optional progress callback (the CLI passes a rich one).
        log_path
            Optional JSON-lines file receiving one record per epoch.
        checkpoint_dir
            Optional folder of resumable trainer state: an interrupted fit called again with
            the same hyperparameters continues where it stopped and ends with the same weights.
        """
        config = self.to_config()
        data, splits = load_data(config)
        config = resolve_config(config, data)
        model = build_experiment_model(config)
        trainer = Trainer(model, config.tasks, config.training, progress=progress,
                          log_path=log_path, checkpoint_dir=checkpoint_dir)
        val = make_batches(config, data, splits["val"]) if len(splits["val"]) else None
        trainer.fit(make_batches(config, data, splits["train"], shuffle=True), val)
        self.config_, self.model_ = config, model
        self.history_, self.best_epoch_ = trainer.history_, trainer.best_epoch_
        self.metrics_ = evaluate_model(config, model, data, splits=splits)
        self.fingerprint_ = fingerprint(data)
        self.feature_mean_, self.feature_scale_ = data.mean, data.scale
        return self

    def predict(self, X) -> dict[str, np.ndarray]:
        """Model outputs for raw features: class logits or regression values per task.

        Parameters
        ----------
        X
            ``(N, F)`` features, as in the data (standardised here like the training split).

        Returns
        -------
        dict
            ``{task: (N, C) logits or (N,) / (N, D) values}``.

        Raises
        ------
        NotFittedError
            Before :meth:`fit` or :meth:`load`.
        InputError
            For a feature matrix of the wrong shape.
        """
        self.check_is_fitted()
        x = np.asarray(X, dtype=np.float32)
        width = self.config_.model.encoder_params.get("input_dim")
        if x.ndim != 2 or (width is not None and x.shape[1] != width):
            raise InputError(f"expected a (samples, {width}) feature matrix, got shape "
                             f"{x.shape}")
        if self.feature_mean_ is None and self.config_.data.standardize:
            # a checkpoint written before the statistics were saved: recompute them
            data, _ = load_data(self.config_)
            self.feature_mean_, self.feature_scale_ = data.mean, data.scale
        if self.feature_mean_ is not None:
            x = ((x - self.feature_mean_) / self.feature_scale_).astype(np.float32)
        self.model_.eval()
        with torch.inference_mode():
            out = self.model_(torch.from_numpy(x))
        single = {t.name for t in self.config_.tasks if not t.is_classification
                  and t.n_outputs == 1}  # (N, 1) -> (N,), the shape of their targets
        return {name: (value[:, 0] if name in single and value.dim() == 2 else value).numpy()
                for name, value in out.items()}

    def evaluate(self, *, config: ExperimentConfig | None = None) -> dict[str, dict]:
        """Per-task metrics on every split of the model's data (or of ``config``'s data).

        Parameters
        ----------
        config
            Take the ``data`` section from this config instead; its tasks must be the model's.

        Raises
        ------
        ConfigError
            If ``config`` names other tasks than the model.
        """
        self.check_is_fitted()
        resolved = self.config_
        if config is not None:
            mine, theirs = [t.name for t in resolved.tasks], [t.name for t in config.tasks]
            if mine != theirs:
                raise ConfigError(f"tasks {theirs} differ from the model's {mine}")
            resolved = resolved.replace(data=config.data)
        data, splits = load_data(resolved)
        return evaluate_model(resolved, self.model_, data, splits=splits)

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, **metadata: Any) -> Path:
        """Save as ``model.safetensors`` + ``config.json`` (kind ``"mtl"``).

        ``config.json`` also records the seed, the data fingerprint, the metrics of every
        split, the training history and the best epoch (``metadata`` may add more).
        """
        self.check_is_fitted()
        facts = {"seed": self.config_.training.seed, "data_fingerprint": self.fingerprint_,
                 "metrics": jsonable(self.metrics_), "history": jsonable(self.history_),
                 "best_epoch": self.best_epoch_}
        return super().save(directory, **{**facts, **metadata})

    @classmethod
    def load(cls, directory: str | os.PathLike) -> MultiTaskEstimator:
        """Rebuild a saved model (also those saved before this class, by ``mtl train``).

        Raises
        ------
        CheckpointError
            If the folder is not an ``mtl`` checkpoint or its config / weights do not fit.
        """
        est = super().load(directory)
        facts = est.metadata_
        est.history_, est.best_epoch_ = facts.get("history") or [], facts.get("best_epoch", -1)
        est.metrics_ = facts.get("metrics") or {}
        est.fingerprint_ = facts.get("data_fingerprint", "")
        return est

    def _checkpoint(self) -> tuple[nn.Module, dict]:
        # the resolved sections at the top level (the layout `mtl train` always wrote); the
        # base adds the hyperparameters under "params"
        state = dict(config_to_dict(self.config_))
        if self.feature_mean_ is not None:
            state["feature_mean"] = self.feature_mean_.tolist()
            state["feature_scale"] = self.feature_scale_.tolist()
        return self.model_, state

    def _restore(self, config: dict, directory: Path) -> None:
        try:
            resolved = parse_config({k: config[k] for k in SECTIONS},
                                    source=str(Path(directory) / "config.json"))
            if "params" not in config:  # saved before this class: the (resolved) sections
                self.set_params(data=resolved.data, model=resolved.model,
                                tasks=resolved.tasks, training=resolved.training)
        except (ConfigError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{directory}: checkpoint config cannot be rebuilt ({exc})"
                                  ) from None
        self.config_ = resolved
        self.model_ = load_weights(build_experiment_model(resolved), directory)
        stats = [config.get(k) for k in ("feature_mean", "feature_scale")]
        self.feature_mean_, self.feature_scale_ = (None, None) if stats[0] is None else \
            tuple(np.asarray(v, dtype=np.float32) for v in stats)


# -- the steps ------------------------------------------------------------------------------
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
    return (standardize(data, splits["train"]) if d.standardize else data), splits


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
                 shuffle: bool = False, tasks: Sequence[str] | None = None):
    """Batches of one split with the configured batch size and seed."""
    return tabular_batches(data, indices, batch_size=config.training.batch_size,
                           shuffle=shuffle, seed=config.training.seed,
                           tasks=tasks if tasks is not None else [t.name for t in config.tasks])


def build_experiment_model(config: ExperimentConfig) -> nn.Module:
    """Build the (untrained) model of a resolved config; initialisation seeded by the config."""
    seed_everything(config.training.seed)
    return build_model(config.model, config.tasks)


def evaluate_model(config: ExperimentConfig, model: nn.Module, data: TabularData, *,
                   splits: dict[str, np.ndarray]) -> dict[str, dict]:
    """``{split: Trainer.evaluate(...)}`` for every non-empty split."""
    trainer = Trainer(model, config.tasks, config.training)
    return {name: trainer.evaluate(make_batches(config, data, splits[name]))
            for name in SPLITS if len(splits.get(name, ())) > 0}


def run_experiment(config: ExperimentConfig, *, progress: ProgressCallback | None = None,
                   tasks: Sequence[str] | None = None,
                   log_path: str | os.PathLike | None = None,
                   loss_weights: dict[str, float] | None = None,
                   checkpoint_dir: str | os.PathLike | None = None) -> MultiTaskEstimator:
    """Fit the :class:`MultiTaskEstimator` of ``config``, optionally on a variant of it.

    Parameters
    ----------
    config
        The experiment.
    progress, log_path, checkpoint_dir
        As in :meth:`MultiTaskEstimator.fit`.
    tasks
        Train only these tasks (single-task baselines, see :func:`only_tasks`); ``None`` = all.
    loss_weights
        Fixed ``{task: weight}`` loss weights: trains with the ``static`` weighting strategy
        instead of the configured one (used by the Pareto sweep of :mod:`bio_mtl.mtl.pareto`).

    Returns
    -------
    MultiTaskEstimator
        Fitted (``model_``, ``history_``, ``metrics_``, ...).
    """
    if tasks is not None:
        config = only_tasks(config, tasks)
    if loss_weights is not None:
        config = config.replace(training=dataclasses.replace(
            config.training, weighting="static", weighting_params={"weights": loss_weights}))
    return MultiTaskEstimator.from_config(config).fit(progress=progress, log_path=log_path,
                                                       checkpoint_dir=checkpoint_dir)


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


def save_experiment(directory: str | os.PathLike, experiment: MultiTaskEstimator) -> Path:
    """``experiment.save(directory)`` (the name scripts written before the estimator use)."""
    return experiment.save(directory)


def load_experiment(directory: str | os.PathLike) -> tuple[ExperimentConfig, nn.Module]:
    """``(config_, model_)`` of :meth:`MultiTaskEstimator.load` (the older two-value form).

    Raises
    ------
    CheckpointError
        If the folder is not an ``mtl`` checkpoint or its config / weights do not fit.
    """
    est = MultiTaskEstimator.load(directory)
    return est.config_, est.model_
