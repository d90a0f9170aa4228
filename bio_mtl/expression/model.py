"""The multi-task expression model: encoder -> latent z -> task heads + linear decoder.

:class:`ExpressionModel` is an :class:`~bio_mtl.mtl.estimator.Estimator` (kind
``"expression"``): keyword hyperparameters, ``fit`` returns ``self``, fitted state ends in
``_``. Its network (:func:`~bio_mtl.expression.network.build_network`) is a
:class:`bio_mtl.mtl.MultiTaskModel` trained by the engine's
:class:`~bio_mtl.mtl.trainer.Trainer`, so training runs under ``torchrun`` with DDP like any
other. The reconstruction head and the batch adversary are just two more tasks. After
training, the latent is whitened and varimax-rotated (:mod:`.rotation`); the rotated axes are
what :func:`bio_mtl.dissect.dissect` analyses.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from .._random import hash_split, seed_everything
from ..errors import CheckpointError, ConfigError
from ..mtl.batches import TensorBatches
from ..mtl.checkpoint import load_weights, read_config
from ..mtl.estimator import Estimator
from ..mtl.tasks import TaskSpec
from ..mtl.trainer import TrainConfig, Trainer
from .config import ExpressionConfig
from .data import batch_design, encode_task
from .network import build_network
from .preprocess import apply_preprocessing, fit_preprocessing
from .rotation import fit_latent_rotation

__all__ = ["ExpressionModel"]

_TRAINING = ("epochs", "batch_size", "lr", "weight_decay", "weighting", "device", "seed")


class ExpressionModel(Estimator):
    """Multi-task expression model (scikit-learn style).

    Parameters
    ----------
    latent_dim, hidden_dim, dropout, n_top_genes, target_sum, adversarial_batch,
    adversary_alpha, rotation, val_fraction
        Architecture and preprocessing: the fields of
        :class:`~bio_mtl.expression.ExpressionConfig` (checked at ``fit``).
    epochs, batch_size, lr, weight_decay, weighting, device, seed
        Training: the fields of :class:`~bio_mtl.mtl.trainer.TrainConfig` of the same name.

    Attributes
    ----------
    network_ : bio_mtl.mtl.MultiTaskModel
    config_ : ExpressionConfig (the checked architecture and preprocessing)
    tasks_ : list of TaskSpec (user tasks, then ``reconstruction`` and ``batch_adversary``)
    recipe_ : dict (preprocessing recipe with gene list, means, stds)
    task_info_ : dict (label vocabularies, regression scaling)
    batch_ : dict or None (``{"key", "categories"}``)
    rotation_ : dict (``mean``, ``matrix``) mapping raw z to the rotated latent
    train_config_ : TrainConfig
    history_, metrics_ : training records and held-out metrics

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> obs = pd.DataFrame({"age": rng.uniform(20, 80, 40)}, index=[f"c{i}" for i in range(40)])
    >>> cells = ad.AnnData(rng.poisson(5.0, (40, 12)).astype(np.float32), obs=obs)
    >>> model = ExpressionModel(latent_dim=2, hidden_dim=8, epochs=2, val_fraction=0.0)
    >>> model.fit(cells, {"age": "regression"}) is model
    True
    >>> model.transform(cells)[0].shape
    (40, 2)
    """

    kind = "expression"

    def __init__(self, *, latent_dim: int = 10, hidden_dim: int = 128, dropout: float = 0.1,
                 n_top_genes: int = 2000, target_sum: float = 1e4,
                 adversarial_batch: bool = False, adversary_alpha: float = 0.1,
                 rotation: str = "varimax", val_fraction: float = 0.1, epochs: int = 60,
                 batch_size: int = 64, lr: float = 2e-3, weight_decay: float = 0.01,
                 weighting: str = "equal", device: str = "cpu", seed: int = 0) -> None:
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.n_top_genes = n_top_genes
        self.target_sum = target_sum
        self.adversarial_batch = adversarial_batch
        self.adversary_alpha = adversary_alpha
        self.rotation = rotation
        self.val_fraction = val_fraction
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.weighting = weighting
        self.device = device
        self.seed = seed

    # -- configuration ------------------------------------------------------------------------
    def _config(self) -> ExpressionConfig:
        """The checked architecture and preprocessing config of the current parameters."""
        return ExpressionConfig(**{f.name: getattr(self, f.name)
                                   for f in dataclasses.fields(ExpressionConfig)})

    def _train_config(self) -> TrainConfig:
        return TrainConfig(**{name: getattr(self, name) for name in _TRAINING})

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, adata, tasks: dict[str, str], *, batch_key: str | None = None,
            progress=None, path: object = None) -> ExpressionModel:
        """Preprocess ``adata``, train the network, fit the latent rotation; return ``self``.

        Parameters
        ----------
        adata
            Training AnnData (counts or log-normalised).
        tasks
            ``{obs column: "classification" | "regression"}``; missing labels are masked.
        batch_key
            ``obs`` column of the batch (needed for ``adversarial_batch``).
        progress
            Optional progress callback (see :class:`~bio_mtl.mtl.trainer.Trainer`).
        path
            File name for error messages.

        Returns
        -------
        ExpressionModel
            ``self``, fitted.

        Raises
        ------
        ConfigError
            Bad hyperparameters, a reserved task name, or ``adversarial_batch`` without a
            batch key.
        InputError
            A task or batch column missing from ``obs``, a task without usable labels, or no
            counts / log-normalised values in the file.
        """
        config, train = self._config(), self._train_config()
        if config.adversarial_batch and batch_key is None:
            raise ConfigError("adversarial_batch needs a batch key (--batch-key)")
        specs, targets, task_info = _task_targets(adata, tasks, path)
        x, recipe = fit_preprocessing(adata, n_top_genes=config.n_top_genes,
                                      target_sum=config.target_sum, path=path)
        design = batch_design(adata, batch_key, onehot=config.adversarial_batch, path=path)
        specs, targets = _reserved_tasks(specs, targets, x, design, config)
        seed_everything(train.seed)
        network = build_network(x.shape[1], specs, config, n_batches=design.onehot.shape[1])
        val = hash_split(list(map(str, adata.obs_names)), config.val_fraction)
        targets = {k: torch.as_tensor(v) for k, v in targets.items()}
        condition = {"condition": torch.as_tensor(design.onehot)} \
            if config.adversarial_batch else None

        def batches(rows: np.ndarray, *, shuffle: bool, size: int) -> TensorBatches:
            return TensorBatches(torch.as_tensor(x), targets, batch_size=size, shuffle=shuffle,
                                 seed=train.seed, rows=np.flatnonzero(rows),
                                 forward_kwargs=condition)

        trainer = Trainer(network, specs, train, progress=progress)
        trainer.fit(batches(~val, shuffle=True, size=train.batch_size))
        metrics = trainer.evaluate(batches(val, shuffle=False, size=256)) if val.any() else {}
        self.network_, self.config_, self.tasks_, self.metrics_ = network, config, specs, metrics
        self.task_info_, self.recipe_, self.batch_ = task_info, recipe, design.info
        self.history_, self.train_config_ = trainer.history_, train
        self._fit_rotation(x)
        return self

    def _fit_rotation(self, x: np.ndarray) -> None:
        rot = fit_latent_rotation(self._raw_latent(x), self._decoder_weight(),
                                  method=self.config_.rotation)
        self.rotation_ = {"mean": rot["mean"], "matrix": rot["matrix"]}

    # -- using a fitted model -----------------------------------------------------------------
    def _raw_latent(self, x: np.ndarray) -> np.ndarray:
        self.network_.eval()
        with torch.inference_mode():
            z = self.network_.encoder.latent(torch.as_tensor(x, device=_device(self.network_)))
        return z.cpu().numpy().astype(np.float64)                        # (n, latent_dim)

    def _decoder_weight(self) -> np.ndarray:
        """``(genes, latent_dim)`` weights of the linear decoder on z."""
        linear = self.network_.heads["reconstruction"].net[-1]
        weight = linear.weight.detach().cpu().numpy()
        return weight[:, : self.config_.latent_dim].astype(np.float64)

    @property
    def genes_(self) -> list[str]:
        """The model's genes (HVGs), in decoder order."""
        self.check_is_fitted()
        return list(self.recipe_["genes"])

    def gene_loadings(self) -> np.ndarray:
        """``(genes, rotated dims)`` decoder loadings: ``W @ pinv(matrix).T``."""
        self.check_is_fitted()
        return self._decoder_weight() @ np.linalg.pinv(self.rotation_["matrix"]).T

    def transform(self, adata, *, path: object = None) -> tuple[np.ndarray, np.ndarray, dict]:
        """Rotated latent of a (new) AnnData.

        Parameters
        ----------
        adata
            Samples x genes, with counts (or log-normalised values for a model trained on
            them); the training recipe is re-applied.
        path
            File name for error messages.

        Returns
        -------
        tuple
            ``(latent (n, k'), standardised HVG expression (n, g), info)`` where ``info``
            lists genes missing from the file.
        """
        self.check_is_fitted()
        x, info = apply_preprocessing(adata, self.recipe_, path=path)
        z = self._raw_latent(x)
        return (z - self.rotation_["mean"]) @ self.rotation_["matrix"], x, info

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, **metadata: Any) -> Path:
        """Write ``model.safetensors`` + ``config.json`` (kind ``"expression"``).

        The training config, seed, held-out metrics and history go into ``config.json`` with
        any other ``metadata``.
        """
        self.check_is_fitted()
        recorded = {"training": self.train_config_.to_dict(), "seed": self.train_config_.seed,
                    "metrics": self.metrics_, "history": self.history_}
        return super().save(directory, **{**recorded, **metadata})

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ExpressionModel:
        """Rebuild a saved model (strict weight loading); older checkpoints load too."""
        model = super().load(directory)
        model.metrics_ = model.metadata_.get("metrics", {})
        model.history_ = model.metadata_.get("history", [])
        model.train_config_ = model._train_config()
        return model

    def _checkpoint(self) -> tuple[Any, dict]:
        return self.network_, {
            "model": dataclasses.asdict(self.config_), "n_genes": len(self.recipe_["genes"]),
            "tasks": [t.to_dict() for t in self.tasks_], "task_info": self.task_info_,
            "batch": self.batch_, "preprocessing": self.recipe_,
            "rotation": {k: np.asarray(v).tolist() for k, v in self.rotation_.items()}}

    def _restore(self, config: dict, directory: Path) -> None:
        legacy = "params" not in config  # written before the estimator contract (v0)
        if legacy:
            self.set_params(**_legacy_params(config, read_config(directory)))
        self.config_ = self._config()
        self.tasks_ = [TaskSpec.from_dict(t) for t in config["tasks"]]
        self.task_info_, self.batch_ = config["task_info"], config["batch"]
        self.recipe_ = config["preprocessing"]
        self.rotation_ = {k: np.asarray(v, dtype=np.float64)
                          for k, v in config["rotation"].items()}
        n_batches = len(config["batch"]["categories"]) if config["batch"] else 0
        self.network_ = build_network(config["n_genes"], self.tasks_, self.config_,
                                      n_batches=n_batches)
        if legacy:
            _load_v0_weights(self.network_, directory)
        else:
            load_weights(self.network_, directory)
        self.network_.eval()


def _device(module) -> Any:
    return next(module.parameters()).device


def _task_targets(adata, tasks: dict[str, str], path) -> tuple[list, dict, dict]:
    """Specs, targets and label/scale info of the user's tasks, in the given order."""
    specs, targets, info = [], {}, {}
    for name, kind in tasks.items():
        spec, targets[name], info[name] = encode_task(adata, name, kind, path=path)
        specs.append(spec)
    return specs, targets, info


def _reserved_tasks(specs: list, targets: dict, x: np.ndarray, design,
                    config: ExpressionConfig) -> tuple[list, dict]:
    """Add ``reconstruction`` (and ``batch_adversary``) to the user's tasks."""
    specs = [*specs, TaskSpec("reconstruction", "regression", n_outputs=x.shape[1],
                              metrics=("mse",))]
    targets = {**targets, "reconstruction": x}
    if config.adversarial_batch:
        specs.append(TaskSpec("batch_adversary", "classification",
                              n_outputs=len(design.info["categories"])))
        targets["batch_adversary"] = design.codes
    return specs, targets


def _legacy_params(config: dict, doc: dict) -> dict:
    """The hyperparameters of a v0 checkpoint (``ExpressionModel(ExpressionConfig)``)."""
    training = doc.get("training") or {}
    fields = {f.name for f in dataclasses.fields(ExpressionConfig)}
    params = {k: v for k, v in (config.get("model") or {}).items() if k in fields}
    return {**params, **{k: training[k] for k in _TRAINING if k in training}}


#: v0 weight names -> today's (the heads became engine heads behind LatentSlice).
_V0_KEYS = (
    (re.compile(r"^heads\.reconstruction\.(weight|bias)$"), r"heads.reconstruction.net.1.\1"),
    (re.compile(r"^heads\.batch_adversary\.2\."), "heads.batch_adversary.head.net.1."),
    (re.compile(r"^heads\.batch_adversary\.4\."), "heads.batch_adversary.head.net.4."),
    (re.compile(r"^heads\.(.+)\.1\.(weight|bias)$"), r"heads.\1.head.net.1.\2"),
)


def _v1_key(key: str) -> str:
    for pattern, new in _V0_KEYS:
        if pattern.search(key):
            return pattern.sub(new, key)
    return key


def _load_v0_weights(network, directory: Path) -> None:
    """Load a v0 ``model.safetensors`` under today's weight names (strictly).

    The v0 batch adversary had a ReLU where the engine's adversarial head has a GELU: its
    weights load, but its predictions differ (the latent, decoder and task heads are exact).
    """
    path = Path(directory) / "model.safetensors"
    try:
        tensors = {_v1_key(k): v for k, v in load_file(str(path)).items()}
        network.load_state_dict(tensors, strict=True)
    except (OSError, RuntimeError) as exc:  # missing/corrupt file, missing or unexpected keys
        raise CheckpointError(f"{path}: weights do not match the model ({exc})") from None
