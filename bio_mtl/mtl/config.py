"""Experiment configuration: YAML / JSON files <-> frozen dataclasses.

A file has four sections, ``data``, ``model``, ``tasks`` and ``training`` (see docs/mtl.md for
every key). Unknown keys and bad values raise :class:`~bio_mtl.errors.ConfigError` naming the
file, the key and the valid choices, before anything is built or trained (nanoGPT's "Unknown
config key" check, scikit-learn's parameter constraints).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._dataclasses import dataclass_from_dict, dataclass_to_dict
from .architectures import ModelConfig
from .tasks import TaskSpec
from .train_config import TrainConfig, monitor_target
from .weighting import WEIGHTINGS, get_weighting

__all__ = ["DataConfig", "ExperimentConfig", "ModelConfig", "config_to_dict", "load_config",
           "parse_config"]

SOURCES = ("synthetic", "csv")
SECTIONS = ("data", "model", "tasks", "training")


@dataclass(frozen=True)
class DataConfig:
    """Where the samples come from and how they are split.

    Parameters
    ----------
    source
        ``"synthetic"`` (:func:`bio_mtl.mtl.synthetic.make_synthetic`) or ``"csv"``.
    n_samples, n_features, latent_dim, relatedness, noise, missing
        Synthetic generator settings (see :func:`~bio_mtl.mtl.synthetic.make_synthetic`).
    path
        CSV file (relative paths are resolved against the config file's folder).
    feature_columns
        CSV feature columns (``None``: every column that is neither a task nor the id).
    task_columns
        ``{task: column}`` where a task's column is not named like the task.
    id_column
        Optional CSV column of sample ids (used in error messages).
    val_fraction, test_fraction
        Fractions of samples held out for validation and test.
    standardize
        Scale features to zero mean and unit variance (statistics from the training split).
    seed
        Seed of the generator and of the split.
    """

    source: str = "synthetic"
    n_samples: int = 512
    n_features: int = 16
    latent_dim: int = 4
    relatedness: float = 0.8
    noise: float = 0.1
    missing: float = 0.0
    path: str | None = None
    feature_columns: tuple[str, ...] | None = None
    task_columns: dict = field(default_factory=dict)
    id_column: str | None = None
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    standardize: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"data.source: unknown {self.source!r}; choose one of "
                              f"{', '.join(SOURCES)}")
        if self.source == "csv" and not self.path:
            raise ConfigError("data.path: required when data.source is 'csv'")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise ConfigError("data.val_fraction / data.test_fraction: each in [0, 1) and "
                              "together below 1")
        if not (0 <= self.relatedness <= 1 and 0 <= self.missing < 1 and self.noise >= 0):
            raise ConfigError("data: relatedness must be in [0, 1], missing in [0, 1), "
                              "noise >= 0")
        if min(self.n_samples, self.n_features, self.latent_dim) < 1:
            raise ConfigError("data: n_samples, n_features and latent_dim must be >= 1")


def _choice(where: str, value: Any, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: unknown {value!r}; choose one of {', '.join(choices)}")


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole multi-task experiment.

    Parameters
    ----------
    data
        The :class:`DataConfig`.
    model
        The :class:`ModelConfig`.
    tasks
        The tasks, in output order.
    training
        A :class:`~bio_mtl.mtl.train_config.TrainConfig`.
    """

    data: DataConfig
    model: ModelConfig
    tasks: tuple[TaskSpec, ...]
    training: TrainConfig

    def __post_init__(self) -> None:
        names = [t.name for t in self.tasks]
        if not names:
            raise ConfigError("tasks: at least one task is required")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConfigError(f"tasks: duplicated task name(s) {', '.join(duplicated)}")
        unknown = sorted(set(self.model.task_heads) - set(names))
        if unknown:
            raise ConfigError(f"model.task_heads: unknown task(s) {', '.join(unknown)}; "
                              f"tasks are {', '.join(names)}")
        token = [t.name for t in self.tasks if t.is_token_level]
        if token:
            raise ConfigError(f"tasks: {', '.join(token)} are token-level; config-built "
                              "experiments take tabular data (one row per sample) only")

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A copy with some sections replaced (``training=...``, ``tasks=...``)."""
        return dataclasses.replace(self, **changes)


def parse_config(data: Any, *, source: str = "<config>",
                 base_dir: str | os.PathLike | None = None) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from a parsed YAML/JSON mapping.

    Parameters
    ----------
    data
        The mapping with ``data``, ``model``, ``tasks`` and ``training`` sections.
    source
        Name of where it came from (the file name), prefixed to every error message.
    base_dir
        Folder that relative ``data.path`` values are resolved against.

    Raises
    ------
    ConfigError
        ``"<source>: <key>: <problem>; <valid choices>"`` for any unknown key or bad value.
    """
    try:
        if not isinstance(data, dict):
            raise ConfigError(f"expected a mapping with sections {', '.join(SECTIONS)}")
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"unknown section(s) {', '.join(map(str, unknown))}; valid "
                              f"sections: {', '.join(SECTIONS)}")
        data_cfg = dataclass_from_dict(DataConfig, data.get("data"), where="data")
        if data_cfg.path and base_dir is not None and not Path(data_cfg.path).is_absolute():
            data_cfg = dataclasses.replace(
                data_cfg, path=str((Path(base_dir) / data_cfg.path).resolve()))
        model_cfg = dataclass_from_dict(ModelConfig, data.get("model"), where="model")
        tasks = data.get("tasks")
        if not isinstance(tasks, list):
            raise ConfigError("tasks: expected a list of task mappings (name, kind, ...)")
        specs = []
        for i, task in enumerate(tasks):
            if not isinstance(task, dict):
                raise ConfigError(f"tasks[{i}]: expected a mapping (name, kind, n_outputs...)")
            specs.append(TaskSpec.from_dict(task))
        training = dataclass_from_dict(TrainConfig, data.get("training"), where="training")
        _choice("training.weighting", training.weighting, WEIGHTINGS)
        config = ExperimentConfig(data=data_cfg, model=model_cfg, tasks=tuple(specs),
                                  training=training)
        get_weighting(training.weighting, [t.name for t in specs], **training.weighting_params)
        monitor_target(training.monitor, specs)
        return config
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def read_mapping(path: str | os.PathLike, *, what: str = "config") -> dict:
    """Read a YAML (or ``.json``) file that must hold a mapping: the one config-file reader.

    Every command's ``--config`` goes through here, then through
    :func:`~bio_mtl.mtl._dataclasses.dataclass_from_dict` for its keys and values.

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages (``"config"``, ``"DosingModel parameters"``).

    Returns
    -------
    dict
        The mapping (empty for an empty file).

    Raises
    ------
    ConfigError
        The file is missing, unreadable, not UTF-8 text, not valid YAML/JSON, or not a
        mapping; the message names the file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
    >>> _ = f.write_text("epochs: 3")
    >>> read_mapping(f)
    {'epochs': 3}
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a {what} file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text {what} file (byte {exc.start} is not UTF-8)"
                          ) from None
    is_json = path.suffix == ".json"
    try:
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid {'JSON' if is_json else 'YAML'} ({problem})"
                          ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {what} keys, got "
                          f"{type(data).__name__}")
    return data


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read an experiment config from a ``.yaml`` / ``.yml`` or ``.json`` file.

    Raises
    ------
    ConfigError
        If the file is missing, not valid YAML/JSON, or holds unknown keys or bad values.
    """
    path = Path(path)
    return parse_config(read_mapping(path), source=str(path), base_dir=path.parent)


def config_to_dict(config: ExperimentConfig) -> dict:
    """A JSON-ready dict that :func:`parse_config` turns back into ``config``."""
    return {
        "data": dataclass_to_dict(config.data),
        "model": dataclass_to_dict(config.model),
        "tasks": [t.to_dict() for t in config.tasks],
        "training": dataclass_to_dict(config.training),
    }
