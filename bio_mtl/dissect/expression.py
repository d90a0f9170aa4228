"""The multi-task expression model: MLP encoder -> latent z -> task heads + linear decoder.

``ExpressionModel`` follows the scikit-learn contract (``fit`` returns ``self``; fitted state
ends in ``_``). The network is a :class:`bio_mtl.mtl.MultiTaskModel` trained by the engine's
:class:`~bio_mtl.mtl.trainer.Trainer`; the reconstruction head and the batch adversary are just
two more tasks:

- one head per labelled task (``obs`` columns; missing labels masked, not dropped);
- ``reconstruction``: a *linear* decoder from z back to the standardised HVG expression, so the
  latent also captures variation no label names, and its weights are per-gene loadings
  (as in LDVAE, Svensson et al. 2020, and factor models such as MOFA+);
- ``batch_adversary`` (with ``adversarial_batch``): a classifier of the batch behind a gradient
  reversal layer (Ganin & Lempitsky 2015), which pushes the encoder to remove batch from z.
  The decoder then also receives the batch one-hot (as in scVI), so reconstructing the
  batch-shifted genes does not fight the adversary.

After training, the latent is whitened and varimax-rotated (:mod:`.rotation`); the rotated axes
are what :func:`bio_mtl.dissect.dissect` analyses.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputError, NotFittedError

__all__ = ["RESERVED_TASKS", "ExpressionConfig", "ExpressionModel", "build_network"]

RESERVED_TASKS = ("reconstruction", "batch_adversary")


@dataclass(frozen=True)
class ExpressionConfig:
    """Architecture and preprocessing of an expression model.

    Parameters
    ----------
    latent_dim
        Width of the latent z.
    hidden_dim
        Width of the encoder's hidden layer.
    dropout
        Dropout after the hidden layer.
    n_top_genes
        Highly variable genes kept (Seurat flavour).
    target_sum
        ``normalize_total`` target for count input.
    adversarial_batch
        Add the gradient-reversal batch adversary (needs a batch key).
    adversary_alpha
        Strength of the reversed gradient. 0.1 by default: with 1.0 the encoder out-runs the
        adversary and learns to encode the batch *inverted* (measured on the simulator: batch
        eta^2 0.62 with alpha 1.0 vs 0.00 with alpha 0.1; see docs/dissect.md).
    rotation
        ``"varimax"`` or ``"none"``: the post-hoc rotation of the latent.
    val_fraction
        Share of samples (chosen by hashing their names) held out for the reported metrics.
    """

    latent_dim: int = 10
    hidden_dim: int = 128
    dropout: float = 0.1
    n_top_genes: int = 2000
    target_sum: float = 1e4
    adversarial_batch: bool = False
    adversary_alpha: float = 0.1
    rotation: str = "varimax"
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or self.hidden_dim < 1 or self.n_top_genes < 2:
            raise ConfigError("expression model: latent_dim, hidden_dim must be >= 1 and "
                              "n_top_genes >= 2")
        if self.rotation not in ("varimax", "none"):
            raise ConfigError(f"expression model: unknown rotation {self.rotation!r}; choose "
                              "one of varimax, none")
        if not 0 <= self.val_fraction < 0.9:
            raise ConfigError("expression model: val_fraction must be in [0, 0.9)")


def build_network(n_genes: int, tasks, config: ExpressionConfig, *, n_batches: int = 0):
    """Build the :class:`~bio_mtl.mtl.MultiTaskModel` for ``tasks`` (TaskSpecs, incl. reserved).

    The encoder returns ``[z, batch one-hot]`` (the one-hot only with the adversary); task
    heads and the adversary read ``z`` only, the decoder reads both.
    """
    import torch
    from torch import nn

    from ..mtl import GradientReversal, MultiTaskModel

    k = config.latent_dim
    n_cond = n_batches if config.adversarial_batch else 0

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(n_genes, config.hidden_dim), nn.ReLU(),
                                     nn.Dropout(config.dropout), nn.Linear(config.hidden_dim, k))

        def forward(self, inputs: dict) -> torch.Tensor:
            z = self.net(inputs["x"])  # (N, k)
            return torch.cat([z, inputs["batch"]], dim=1) if n_cond else z  # (N, k + n_cond)

    class TakeLatent(nn.Module):
        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return features[:, :k]

    heads = {}
    for task in tasks:
        if task.name == "reconstruction":
            heads[task.name] = nn.Linear(k + n_cond, n_genes)
        elif task.name == "batch_adversary":
            heads[task.name] = nn.Sequential(
                TakeLatent(), GradientReversal(config.adversary_alpha),
                nn.Linear(k, config.hidden_dim), nn.ReLU(),
                nn.Linear(config.hidden_dim, task.n_outputs))
        else:
            out = task.n_outputs
            heads[task.name] = nn.Sequential(TakeLatent(), nn.Linear(k, out))
    return MultiTaskModel(Encoder(), heads)


class _Batches:
    """Re-iterable mini-batches of the trainer's dict form (shuffled with torch's global RNG)."""

    def __init__(self, x, batch_onehot, targets: dict, batch_size: int, *, shuffle: bool) -> None:
        self.x, self.b, self.targets = x, batch_onehot, targets
        self.batch_size, self.shuffle = batch_size, shuffle

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        import torch

        n = len(self.x)
        order = torch.randperm(n) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield {"inputs": {"x": self.x[idx], "batch": self.b[idx]},
                   "targets": {name: t[idx] for name, t in self.targets.items()}}


def _encode_task(adata, name: str, kind: str, *, path: object = None):
    """TaskSpec, target array and label/scale info for one ``obs`` column."""
    import pandas as pd

    from ..mtl import TaskSpec

    if name not in adata.obs.columns:
        raise InputError(f"task column {name!r} is not in obs; available columns: "
                         f"{', '.join(map(str, adata.obs.columns))}", path=path)
    if name in RESERVED_TASKS:
        raise ConfigError(f"task name {name!r} is reserved; rename the obs column")
    col = adata.obs[name]
    if kind == "classification":
        cat = col.astype("category") if not isinstance(col.dtype, pd.CategoricalDtype) else col
        labels = [str(c) for c in cat.cat.categories]
        if len(labels) < 2:
            raise InputError(f"task {name!r} has fewer than 2 classes ({labels})", path=path)
        codes = np.asarray(cat.cat.codes, dtype=np.int64)
        codes[codes < 0] = -100
        return TaskSpec(name, "classification", n_outputs=len(labels),
                        labels=tuple(labels)), codes, {"labels": labels}
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    if np.all(np.isnan(values)):
        raise InputError(f"regression task {name!r} has no numeric values", path=path)
    mean, std = float(np.nanmean(values)), float(np.nanstd(values) or 1.0)
    return (TaskSpec(name, "regression", n_outputs=1, metrics=("pearson", "mae")),
            ((values - mean) / std).astype(np.float32), {"mean": mean, "std": std})


class ExpressionModel:
    """Multi-task expression model (sklearn-style).

    Parameters
    ----------
    config
        An :class:`ExpressionConfig`.

    Attributes
    ----------
    network_ : bio_mtl.mtl.MultiTaskModel
    tasks_ : list of TaskSpec (user tasks, then reserved ones)
    recipe_ : dict (preprocessing recipe with gene list, means, stds)
    task_info_ : dict (label vocabularies, regression scaling)
    batch_ : dict or None (``{"key", "categories"}``)
    rotation_ : dict (``mean``, ``matrix``) mapping raw z to the rotated latent
    history_, metrics_ : training records and held-out metrics
    """

    def __init__(self, config: ExpressionConfig | None = None) -> None:
        self.config = config or ExpressionConfig()

    def fit(self, adata, tasks: dict[str, str], *, batch_key: str | None = None,
            train_config=None, progress=None, path: object = None) -> ExpressionModel:
        """Preprocess ``adata``, train the network, fit the latent rotation; return ``self``.

        Parameters
        ----------
        adata
            Training AnnData (counts or log-normalised).
        tasks
            ``{obs column: "classification" | "regression"}``.
        batch_key
            ``obs`` column of the batch (needed for ``adversarial_batch``).
        train_config
            A :class:`bio_mtl.mtl.trainer.TrainConfig` (default: 60 epochs, batch 64, lr 2e-3).
        progress
            Optional progress callback.
        path
            File name for error messages.
        """
        import torch

        from .._random import hash_split, seed_everything
        from ..mtl import TaskSpec
        from ..mtl.trainer import TrainConfig, Trainer
        from ._preprocess import fit_preprocessing

        cfg = self.config
        train_config = train_config or TrainConfig(epochs=60, batch_size=64, lr=2e-3)
        if cfg.adversarial_batch and batch_key is None:
            raise ConfigError("adversarial_batch needs a batch key (--batch-key)")
        specs, targets, self.task_info_ = [], {}, {}
        for name, kind in tasks.items():
            spec, target, info = _encode_task(adata, name, kind, path=path)
            specs.append(spec)
            targets[name] = torch.as_tensor(target)
            self.task_info_[name] = info
        x, self.recipe_ = fit_preprocessing(adata, n_top_genes=cfg.n_top_genes,
                                            target_sum=cfg.target_sum, path=path)
        onehot, self.batch_ = self._batch_onehot(adata, batch_key, path=path)
        specs.append(TaskSpec("reconstruction", "regression", n_outputs=x.shape[1],
                              metrics=("mse",)))
        targets["reconstruction"] = torch.as_tensor(x)
        if cfg.adversarial_batch:
            specs.append(TaskSpec("batch_adversary", "classification",
                                  n_outputs=len(self.batch_["categories"])))
            targets["batch_adversary"] = torch.as_tensor(self._batch_codes(adata, batch_key))
        seed_everything(train_config.seed)
        self.tasks_ = specs
        self.network_ = build_network(x.shape[1], specs, cfg, n_batches=onehot.shape[1])
        val = hash_split(list(map(str, adata.obs_names)), cfg.val_fraction)
        xt, bt = torch.as_tensor(x), torch.as_tensor(onehot)
        tr = _Batches(xt[~val], bt[~val], {k: v[~val] for k, v in targets.items()},
                      train_config.batch_size, shuffle=True)
        trainer = Trainer(self.network_, specs, train_config, progress=progress).fit(tr)
        self.history_ = trainer.history_
        self.metrics_ = {}
        if val.any():
            va = _Batches(xt[val], bt[val], {k: v[val] for k, v in targets.items()}, 256,
                          shuffle=False)
            self.metrics_ = trainer.evaluate(va)
        self.train_config_ = train_config
        self._fit_rotation(x, onehot)
        return self

    def _batch_onehot(self, adata, batch_key, *, path=None):
        if batch_key is None:
            return np.zeros((adata.n_obs, 0), dtype=np.float32), None
        if batch_key not in adata.obs.columns:
            raise InputError(f"batch key {batch_key!r} is not in obs; available columns: "
                             f"{', '.join(map(str, adata.obs.columns))}", path=path)
        cats = sorted(map(str, adata.obs[batch_key].dropna().unique()))
        info = {"key": batch_key, "categories": cats}
        if not self.config.adversarial_batch:
            return np.zeros((adata.n_obs, 0), dtype=np.float32), info
        codes = np.array([cats.index(str(v)) if str(v) in cats else -1
                          for v in adata.obs[batch_key]])
        onehot = np.zeros((adata.n_obs, len(cats)), dtype=np.float32)
        onehot[codes >= 0, codes[codes >= 0]] = 1.0
        return onehot, info

    def _batch_codes(self, adata, batch_key) -> np.ndarray:
        cats = self.batch_["categories"]
        return np.array([cats.index(str(v)) if str(v) in cats else -100
                         for v in adata.obs[batch_key]], dtype=np.int64)

    def _raw_latent(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.network_.eval()
        with torch.inference_mode():
            return self.network_.encoder.net(torch.as_tensor(x)).numpy().astype(np.float64)

    def _fit_rotation(self, x: np.ndarray, onehot: np.ndarray) -> None:
        from .rotation import fit_latent_rotation

        z = self._raw_latent(x)
        weight = self.network_.heads["reconstruction"].weight.detach().numpy()
        rot = fit_latent_rotation(z, weight[:, : self.config.latent_dim].astype(np.float64),
                                  method=self.config.rotation)
        self.rotation_ = {"mean": rot["mean"], "matrix": rot["matrix"]}

    def _check(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError("this ExpressionModel is not fitted; call fit() or load()")

    @property
    def genes_(self) -> list[str]:
        """The model's genes (HVGs), in decoder order."""
        self._check()
        return list(self.recipe_["genes"])

    def gene_loadings(self) -> np.ndarray:
        """``(genes, rotated dims)`` decoder loadings: ``W @ pinv(matrix).T``."""
        self._check()
        weight = self.network_.heads["reconstruction"].weight.detach().numpy()
        weight = weight[:, : self.config.latent_dim].astype(np.float64)
        return weight @ np.linalg.pinv(self.rotation_["matrix"]).T

    def transform(self, adata, *, path: object = None) -> tuple[np.ndarray, np.ndarray, dict]:
        """Rotated latent of a (new) AnnData.

        Returns
        -------
        tuple
            ``(latent (n, k'), standardised HVG expression (n, g), info)`` where ``info``
            lists genes missing from the file.
        """
        from ._preprocess import apply_preprocessing

        self._check()
        x, info = apply_preprocessing(adata, self.recipe_, path=path)
        z = self._raw_latent(x)
        return (z - self.rotation_["mean"]) @ self.rotation_["matrix"], x, info

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``model.safetensors`` + ``config.json`` (kind ``"expression"``)."""
        from ..mtl import save_checkpoint

        self._check()
        config = {"model": dataclasses.asdict(self.config),
                  "n_genes": len(self.recipe_["genes"]),
                  "tasks": [t.to_dict() for t in self.tasks_], "task_info": self.task_info_,
                  "batch": self.batch_, "preprocessing": self.recipe_,
                  "rotation": {k: np.asarray(v).tolist() for k, v in self.rotation_.items()}}
        save_checkpoint(directory, self.network_, kind="expression", config=config,
                        training=self.train_config_.to_dict(), seed=self.train_config_.seed,
                        metrics=self.metrics_, history=self.history_)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ExpressionModel:
        """Rebuild a saved model (strict weight loading)."""
        from ..mtl import TaskSpec, load_weights, read_config

        doc = read_config(directory, kind="expression")
        conf = doc["config"]
        model = cls(ExpressionConfig(**conf["model"]))
        model.tasks_ = [TaskSpec.from_dict(t) for t in conf["tasks"]]
        model.task_info_, model.batch_ = conf["task_info"], conf["batch"]
        model.recipe_ = conf["preprocessing"]
        model.rotation_ = {k: np.asarray(v, dtype=np.float64) for k, v in conf["rotation"].items()}
        n_batches = len(conf["batch"]["categories"]) if conf["batch"] else 0
        model.network_ = build_network(conf["n_genes"], model.tasks_, model.config,
                                       n_batches=n_batches)
        load_weights(model.network_, directory)
        model.metrics_, model.history_ = doc.get("metrics", {}), doc.get("history", [])
        return model
