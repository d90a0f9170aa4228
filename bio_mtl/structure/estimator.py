"""Structure estimators: one structure network, or an ensemble of them.

Both follow the engine's estimator contract (:class:`~bio_mtl.mtl.estimator.Estimator`):
hyperparameters are frozen configs stored unchanged by ``__init__`` (the network,
:class:`~bio_mtl.structure.model.StructureModelConfig`; optimisation,
:class:`~bio_mtl.mtl.trainer.TrainConfig`; batching,
:class:`~bio_mtl.structure.train.StructureDataConfig`; distillation from a teacher), ``fit``
trains and returns ``self``, and what it learns ends in ``_``:

- ``module_``: the torch network (a :class:`~bio_mtl.mtl.MultiTaskModel`, or a
  :class:`~bio_mtl.structure.ensemble.StructureEnsemble` of them);
- ``config_``: the :class:`~bio_mtl.structure.model.StructureModelConfig` the network was built
  with (``ss3_source`` chosen on validation, ``input_dim`` from the embedder);
- ``metrics_`` and ``history_``: validation metrics and per-epoch records.

``save`` / ``load`` write and read checkpoints of kind ``"structure"`` and
``"structure-ensemble"`` (the kinds of the shipped models, whose older ``config.json`` have no
``"params"``: they load with default hyperparameters and ``model`` set to their network).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_write
from .._progress import ProgressCallback
from .._versions import versions
from ..errors import CheckpointError, ConfigError, InputError
from ..mtl._dataclasses import dataclass_to_dict
from ..mtl.checkpoint import FORMAT, load_weights, read_config
from ..mtl.estimator import Estimator
from ..mtl.train_config import TrainConfig
from ..resources import shipped_path
from .distill import add_soft_targets
from .ensemble import ENSEMBLE_KIND, StructureEnsemble, ensemble_config
from .folders import member_folders
from .model import StructureModelConfig, build_structure_model, structure_tasks, upgrade_state_key
from .predict import predict_structure
from .results import StructurePrediction
from .train import (
    StructureDataConfig,
    data_fingerprint,
    default_monitor,
    train_network,
    training_chains,
)

__all__ = ["StructureEnsembleModel", "StructureModel", "load_structure"]


def _paths(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    return [str(v) for v in value]


class _StructureEstimator(Estimator):
    """What both structure estimators share: prediction from a fitted ``module_``."""

    module_: Any
    config_: StructureModelConfig

    def predict(self, records: Iterable, *, batch_tokens: int = 16384, chunk_size: int = 1000,
                overlap: int = 100, embedder=None,
                progress: ProgressCallback | None = None) -> list[StructurePrediction]:
        """SS8, SS3 and RSA of every sequence (see :func:`~bio_mtl.structure.predict_structure`).

        Parameters
        ----------
        records
            ``(id, seq)`` pairs, Biopython records or plain strings.
        batch_tokens, chunk_size, overlap
            Padded residues per forward pass; window length and overlap for long sequences.
        embedder
            Per-residue features for models trained on them
            (:func:`~bio_mtl.structure.embeddings.embedder_for`).
        progress
            Optional progress callback, advanced by residues.

        Returns
        -------
        list of StructurePrediction
        """
        return predict_structure(records, self, batch_tokens=batch_tokens,
                                 chunk_size=chunk_size, overlap=overlap, embedder=embedder,
                                 progress=progress)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> _StructureEstimator:
        """Rebuild a saved model (strict weight check); see :meth:`Estimator.load`."""
        est = super().load(directory)
        est.metrics_ = est.metadata_.get("metrics") or getattr(est, "metrics_", {})
        est.history_ = est.metadata_.get("history") or getattr(est, "history_", [])
        return est


class StructureModel(_StructureEstimator):
    """A structure network: SS8, SS3, RSA and disorder per residue from a sequence.

    Parameters
    ----------
    model
        The network (default :class:`StructureModelConfig` ``()``, or the architecture of
        ``init_from``).
    training
        Optimisation (default: ``TrainConfig(monitor="ss8/accuracy")``, or ``"loss"`` without
        an SS8 head).
    data
        Batching and validation split (default :class:`StructureDataConfig` ``()``).
    teacher, distill_alpha
        Knowledge distillation: a structure model or ensemble (checkpoint folder or shipped
        name) whose predictions on the training chains become soft targets, blended with the
        labels as ``distill_alpha * label + (1 - distill_alpha) * teacher``
        (:func:`bio_mtl.structure.distill.add_soft_targets`). Validation uses the labels only.
    init_from
        Start from the weights of this checkpoint folder or shipped model (fine-tuning or a
        warm restart); its architecture is used and ``model`` must be ``None`` or equal to it.

    Examples
    --------
    >>> from bio_mtl.structure import load_model
    >>> est = load_model("ss_rsa_resdcnn_nsp2_v1")
    >>> est.kind, est.config_.conv_layers
    ('structure', 12)
    >>> ubiquitin = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
    >>> est.predict([("ubq", ubiquitin)])[0].ss3[:40]
    'CCEEEEECCCCEEEEEECCCCHHHHHHHHHHHCCCCCCCC'
    """

    kind = "structure"

    def __init__(self, *, model: StructureModelConfig | None = None,
                 training: TrainConfig | None = None, data: StructureDataConfig | None = None,
                 teacher: str | None = None, distill_alpha: float = 0.5,
                 init_from: str | None = None) -> None:
        self.model = model
        self.training = training
        self.data = data
        self.teacher = teacher
        self.distill_alpha = distill_alpha
        self.init_from = init_from

    @classmethod
    def from_network(cls, network, config: StructureModelConfig) -> StructureModel:
        """A fitted estimator around a network built (and trained) elsewhere.

        Parameters
        ----------
        network
            A module of :func:`~bio_mtl.structure.model.build_structure_model` ``(config)``.
        config
            Its config.

        Examples
        --------
        >>> from bio_mtl.structure.model import build_structure_model
        >>> cfg = StructureModelConfig(conv_channels=8, conv_layers=1, lstm_layers=0)
        >>> StructureModel.from_network(build_structure_model(cfg), cfg).is_fitted()
        True
        """
        est = cls(model=config)
        est.module_, est.config_ = network.eval(), config
        est.metrics_, est.history_, est.provenance_ = {}, [], {}
        return est

    def fit(self, train_paths=None, *, rsa_paths=None, val_paths=None, embedder=None,
            progress: ProgressCallback | None = None,
            checkpoint_dir: str | os.PathLike | None = None,
            log_path: str | os.PathLike | None = None) -> StructureModel:
        """Train on labelled chains; return ``self``.

        Parameters
        ----------
        train_paths
            JSON-lines (or NetSurfP-2.0 ``.npz``) file(s) of SS8-labelled chains.
        rsa_paths
            File(s) of RSA-labelled chains; their RSA is joined onto training chains with the
            same sequence and the rest are trained as extra chains.
        val_paths
            Explicit validation file(s); without them a deterministic hash split holds out
            ``data.val_fraction`` / ``data.rsa_val_fraction`` of the chains.
        embedder
            Optional per-residue feature extractor (e.g.
            :class:`~bio_mtl.structure.embeddings.ESMEmbedder`); the network's ``input_dim``
            becomes its ``dim``. Pass the same backbone when predicting.
        progress, checkpoint_dir, log_path
            Progress callback, resumable trainer state (a re-run resumes) and a per-epoch
            JSON-lines log. Under ``torchrun`` the trainer runs DistributedDataParallel.

        Raises
        ------
        InputError
            No training file, or no chain with a label for the model's tasks.
        ConfigError
            ``init_from`` is an ensemble or has another architecture than ``model``.
        """
        files = _paths(train_paths), _paths(rsa_paths), _paths(val_paths)
        if not files[0] and not files[1]:
            raise InputError("no training data given (pass --train and/or --rsa-train)")
        data = self.data or StructureDataConfig()
        start = self._start()
        config = self.model or (start.config_ if start is not None else StructureModelConfig())
        if embedder is not None:
            config = dataclasses.replace(config, input_dim=int(embedder.dim),
                                         backbone=getattr(embedder, "source", None)
                                         or config.backbone)
        training = self.training or TrainConfig(monitor=default_monitor(config.tasks))
        train, val = training_chains(config.tasks, data, train_files=files[0],
                                     rsa_files=files[1], val_files=files[2])
        if self.teacher is not None:
            train = add_soft_targets(train, load_structure(self.teacher), device=training.device,
                                     alpha=self.distill_alpha)
        run = train_network(config, train, val, training=training, data=data,
                            init_state=None if start is None else start.module_.state_dict(),
                            embedder=embedder, progress=progress,
                            checkpoint_dir=checkpoint_dir, log_path=log_path)
        self.module_, self.config_ = run.module.eval(), run.config
        self.metrics_, self.history_ = run.metrics, run.history
        self.provenance_ = self._provenance(training, files)
        return self

    def _start(self) -> StructureModel | None:
        """The model ``init_from`` names (checked against ``model``), or ``None``."""
        if self.init_from is None:
            return None
        start = load_structure(self.init_from)
        if not isinstance(start, StructureModel):
            raise ConfigError(f"init_from {self.init_from}: an ensemble cannot be fine-tuned as "
                              "one model; fine-tune one of its member folders (member_0, ...)")
        if self.model is not None and self.model != start.config_:
            raise ConfigError(f"init_from {self.init_from}: its architecture differs from the "
                              "given model config; leave the model config out to fine-tune it")
        return start

    def _provenance(self, training: TrainConfig, files) -> dict:
        """Facts about the run recorded in the checkpoint beside the parameters."""
        import torch

        facts = {"seed": training.seed, "data": [data_fingerprint(p) for f in files for p in f],
                 "torch_threads": torch.get_num_threads()}
        if self.init_from is not None:
            facts["init_from"] = str(self.init_from)
        return facts

    # -- persistence --------------------------------------------------------------------------
    def _checkpoint(self) -> tuple[Any, dict]:
        tasks = [t.to_dict() for t in structure_tasks(self.config_.tasks)]
        return self.module_, {"model": self.config_.to_dict(), "tasks": tasks}

    def save(self, directory: str | os.PathLike, **metadata: Any) -> Path:
        """Save as a ``kind="structure"`` checkpoint with the run's metrics, history, seed and
        data fingerprints (``metadata`` adds or overrides facts)."""
        self.check_is_fitted()
        facts = {**self.provenance_, "metrics": self.metrics_, "history": self.history_}
        return super().save(directory, **{**facts, **metadata})

    def _restore(self, config: dict, directory: Path) -> None:
        try:
            network = StructureModelConfig.from_dict(config["model"])
        except (KeyError, TypeError, ConfigError) as exc:
            raise CheckpointError(f"{directory}: bad structure model config ({exc})") from None
        module = build_structure_model(network)
        load_weights(module, directory, rename=upgrade_state_key)
        if "params" not in config:  # written before the estimator (the shipped models)
            self.model = network
        self.module_, self.config_ = module.eval(), network

    @classmethod
    def load(cls, directory: str | os.PathLike) -> StructureModel:
        """Rebuild a saved structure model (strict weight check)."""
        est = super().load(directory)
        est.provenance_ = {k: est.metadata_[k] for k in ("seed", "data", "torch_threads",
                                                          "init_from") if k in est.metadata_}
        return est


class StructureEnsembleModel(_StructureEstimator):
    """The mean of several structure networks (NetSurfP-2.0 style ensembling).

    ``fit`` trains one :class:`StructureModel` per seed (same network, data and distillation
    settings); :meth:`from_members` averages models trained elsewhere. Fitted: ``members_``
    (the :class:`StructureModel` members) besides ``module_`` and ``config_``.

    Parameters
    ----------
    model, training, data, teacher, distill_alpha
        As in :class:`StructureModel`, for every member.
    seeds
        One member per seed (replacing ``training.seed``).

    Examples
    --------
    >>> from bio_mtl.structure import load_model
    >>> ens = load_model("ss_rsa_cnnbilstm_ens2_nsp2_v1")
    >>> ens.kind, len(ens.members_)
    ('structure-ensemble', 2)
    """

    kind = ENSEMBLE_KIND

    def __init__(self, *, model: StructureModelConfig | None = None,
                 training: TrainConfig | None = None, data: StructureDataConfig | None = None,
                 teacher: str | None = None, distill_alpha: float = 0.5,
                 seeds: tuple[int, ...] = (0, 1)) -> None:
        self.model = model
        self.training = training
        self.data = data
        self.teacher = teacher
        self.distill_alpha = distill_alpha
        self.seeds = seeds

    @classmethod
    def from_members(cls, members: Sequence[StructureModel]) -> StructureEnsembleModel:
        """A fitted ensemble of fitted :class:`StructureModel` members (default parameters).

        Raises
        ------
        ConfigError
            No members, or members that read different inputs.
        """
        return cls()._set_members(list(members))

    def _set_members(self, members: list[StructureModel]) -> StructureEnsembleModel:
        for m in members:
            m.check_is_fitted()
        self.config_ = ensemble_config([m.config_ for m in members])
        self.module_ = StructureEnsemble([m.module_ for m in members],
                                         [m.config_.ss3_source for m in members]).eval()
        self.members_ = members
        self.metrics_ = {"members": [m.metrics_ for m in members]}
        self.history_ = [m.history_ for m in members]
        return self

    def fit(self, train_paths=None, *, rsa_paths=None, val_paths=None, embedder=None,
            progress: ProgressCallback | None = None,
            checkpoint_dir: str | os.PathLike | None = None,
            log_path: str | os.PathLike | None = None) -> StructureEnsembleModel:
        """Train one member per seed (see :meth:`StructureModel.fit`); return ``self``.

        Member ``k`` keeps its trainer state in ``checkpoint_dir/member_<k>`` and logs to
        ``log_path`` with ``.member_<k>`` before the suffix.
        """
        base = self.training or TrainConfig(
            monitor=default_monitor((self.model or StructureModelConfig()).tasks))
        members = []
        for k, seed in enumerate(self.seeds):
            member = StructureModel(model=self.model, data=self.data, teacher=self.teacher,
                                    training=dataclasses.replace(base, seed=seed),
                                    distill_alpha=self.distill_alpha)
            log = None if log_path is None else \
                Path(log_path).with_suffix(f".member_{k}{Path(log_path).suffix}")
            members.append(member.fit(
                train_paths, rsa_paths=rsa_paths, val_paths=val_paths, embedder=embedder,
                progress=progress, log_path=log,
                checkpoint_dir=None if checkpoint_dir is None else
                Path(checkpoint_dir) / f"member_{k}"))
        return self._set_members(members)

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, **metadata: Any) -> Path:
        """Write one checkpoint per member (``member_<k>/``) and the ensemble ``config.json``."""
        self.check_is_fitted()
        directory = Path(directory)
        names = [f"member_{k}" for k in range(len(self.members_))]
        for name, member in zip(names, self.members_, strict=True):
            member.save(directory / name)
        params = {k: dataclass_to_dict(v) if dataclasses.is_dataclass(v) else
                  list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        doc = {"format": FORMAT, "kind": self.kind, "members": names,
               "config": {"params": params}, "versions": versions(),
               "metrics": self.metrics_, **metadata}
        with atomic_write(directory / "config.json") as handle:
            json.dump(doc, handle, indent=2, default=str)
        return directory

    def _restore(self, config: dict, directory: Path) -> None:
        self.seeds = tuple(self.seeds)  # JSON gives a list
        self._set_members([StructureModel.load(folder) for folder in member_folders(directory)])


def load_structure(name_or_path: str | os.PathLike
                   ) -> StructureModel | StructureEnsembleModel:
    """Load a saved or shipped structure model or ensemble (the loader core).

    Parameters
    ----------
    name_or_path
        A checkpoint folder or a shipped model name (:data:`bio_mtl.resources.SHIPPED`).

    Raises
    ------
    CheckpointError
        Missing, corrupt or foreign checkpoint (e.g. a dosing model), or mismatching weights.
    """
    with shipped_path(name_or_path) as directory:
        if read_config(directory).get("kind") == ENSEMBLE_KIND:
            return StructureEnsembleModel.load(directory)
        return StructureModel.load(directory)
