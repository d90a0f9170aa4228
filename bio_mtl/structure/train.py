"""The training recipe of structure models: labelled chains -> batches -> a trained network.

:class:`~bio_mtl.structure.estimator.StructureModel` ``.fit`` runs these steps: read and join the
labelled files and split off validation chains (:func:`training_chains`), then train the
network with the engine's :class:`~bio_mtl.mtl.trainer.Trainer` (:func:`train_network`). How
chains become batches is one frozen config, :class:`StructureDataConfig`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import file_sha256
from .._progress import ProgressCallback
from .._random import seed_everything
from ..errors import ConfigError, InputError
from ..mtl.trainer import Trainer
from .alphabet import SS8_TO_SS3_INDEX
from .data import CB513_OVERLAP_IDS, Chain, TokenBatches, join_rsa, read_chains, split_chains
from .model import StructureModelConfig, build_structure_model, structure_tasks

__all__ = ["StructureDataConfig", "TrainedNetwork", "compare_ss3_sources", "data_fingerprint",
           "default_monitor", "limit_rsa_labels", "train_network", "training_chains"]


@dataclass(frozen=True)
class StructureDataConfig:
    """How labelled chains become training and validation batches.

    Parameters
    ----------
    batch_tokens
        Padded residues per batch.
    max_len
        Training crop length (``None``: whole chains).
    ss_fraction, rsa_repeat
        Per epoch: the fraction of SS-only chains drawn and the repeats of the RSA-labelled
        chains (see :class:`~bio_mtl.structure.data.TokenBatches`).
    val_fraction, rsa_val_fraction
        Without explicit validation files: the fractions of the SS and of the RSA chains held
        out by a deterministic hash of the chain id.
    max_ss_chains
        Use only the first ``max_ss_chains`` SS training chains (after the split), for small
        experiments.
    rsa_label_chains
        Keep RSA labels on only this many training chains (the lowest SHA-256 of the chain id),
        for label-scarcity experiments; validation chains keep all their labels.
    select_best
        ``True``: keep the epoch with the best monitored validation score. ``False``: keep the
        last epoch and score the validation set once, at the end.
    exclude_ids
        Chain ids never trained on (default: the two NetSurfP-2.0 chains identical to CB513
        chains).

    Examples
    --------
    >>> StructureDataConfig(batch_tokens=4096).max_len
    512
    """

    batch_tokens: int = 8192
    max_len: int | None = 512
    ss_fraction: float = 1.0
    rsa_repeat: int = 1
    val_fraction: float = 0.05
    rsa_val_fraction: float = 0.1
    max_ss_chains: int | None = None
    rsa_label_chains: int | None = None
    select_best: bool = True
    exclude_ids: tuple[str, ...] = tuple(sorted(CB513_OVERLAP_IDS))

    def __post_init__(self) -> None:
        if self.batch_tokens < 1 or (self.max_len is not None and self.max_len < 1):
            raise ConfigError("data: batch_tokens and max_len must be >= 1")
        if not (0 <= self.val_fraction < 1 and 0 <= self.rsa_val_fraction < 1):
            raise ConfigError("data: val_fraction and rsa_val_fraction must be in [0, 1)")
        if not 0 <= self.ss_fraction <= 1 or self.rsa_repeat < 1:
            raise ConfigError("data: ss_fraction must be in [0, 1] and rsa_repeat >= 1")
        if self.rsa_label_chains is not None and self.rsa_label_chains < 0:
            raise ConfigError(f"data: rsa_label_chains must be >= 0, got "
                              f"{self.rsa_label_chains}")


@dataclass
class TrainedNetwork:
    """What :func:`train_network` returns: the network (on the CPU), its config (``ss3_source``
    chosen on validation), validation metrics and the trainer's per-epoch records."""

    module: object
    config: StructureModelConfig
    metrics: dict
    history: list


def default_monitor(tasks: Sequence[str]) -> str:
    """The validation score that picks the best epoch: SS8 accuracy, else the loss."""
    return "ss8/accuracy" if "ss8" in tasks else "loss"


def _load(paths, *, exclude, use_disorder=True) -> list[Chain]:
    """Chains of ``paths``; training and RSA files' masks mark disorder (NetSurfP-2.0)."""
    out: list[Chain] = []
    for p in paths:
        out.extend(read_chains(p, use_disorder=use_disorder, exclude_ids=exclude))
    return out


def training_chains(tasks: Sequence[str], data: StructureDataConfig, *, train_files: Sequence,
                    rsa_files: Sequence = (), val_files: Sequence = ()
                    ) -> tuple[list[Chain], list[Chain]]:
    """The (training, validation) chains, each keeping the labels of ``tasks`` only.

    All labels are read and joined first, so single-task and multi-task runs see the same
    chains and the same validation split; labels of absent tasks are dropped afterwards.

    Parameters
    ----------
    tasks
        The model's tasks.
    data
        The split fractions, chain limits and excluded ids.
    train_files, rsa_files, val_files
        SS-labelled, RSA-labelled and (optional) explicit validation files.

    Raises
    ------
    InputError
        If no training chain carries a label for ``tasks``.
    """
    exclude = set(data.exclude_ids)
    ss_chains, rsa_chains = join_rsa(_load(train_files, exclude=exclude),
                                     _load(rsa_files, exclude=exclude))
    if val_files:
        ss_train, rsa_train = ss_chains, rsa_chains
        # an explicit validation file may be CB513, whose mask is not disorder
        val = _load(val_files, exclude=(), use_disorder=False)
    else:
        ss_train, ss_val = split_chains(ss_chains, data.val_fraction)
        rsa_train, rsa_val = split_chains(rsa_chains, data.rsa_val_fraction)
        val = ss_val + rsa_val
    if data.max_ss_chains is not None:
        ss_train = ss_train[:data.max_ss_chains]
    if data.rsa_label_chains is not None:
        ss_train, rsa_train = (limit_rsa_labels(x, ss_train + rsa_train, data.rsa_label_chains)
                               for x in (ss_train, rsa_train))
    train = [k for k in (_only(c, tasks) for c in ss_train + rsa_train) if k is not None]
    val = [k for k in (_only(c, tasks) for c in val) if k is not None]
    if not train:
        raise InputError("no training chain carries a label for the model's tasks "
                         f"({', '.join(tasks)})", path=", ".join(map(str, [*train_files,
                                                                           *rsa_files])))
    return train, val


def _only(chain: Chain, tasks: Sequence[str]) -> Chain | None:
    """``chain`` with the labels of ``tasks`` only, or ``None`` if none is left."""
    use_ss, use_rsa = "ss8" in tasks or "ss3" in tasks, "rsa" in tasks
    use_disorder = "disorder" in tasks
    c = dataclasses.replace(chain, ss8=chain.ss8 if use_ss else np.full_like(chain.ss8, -100),
                            rsa=chain.rsa if use_rsa else np.full_like(chain.rsa, np.nan),
                            disorder=chain.disorder if use_disorder else None)
    keep = (use_ss and c.has_ss) or (use_rsa and c.has_rsa) or (use_disorder and c.has_disorder)
    return c if keep else None


def train_network(config: StructureModelConfig, train: list[Chain], val: list[Chain], *,
                  training, data: StructureDataConfig, init_state: dict | None = None,
                  embedder=None, progress: ProgressCallback | None = None,
                  checkpoint_dir: str | os.PathLike | None = None,
                  log_path: str | os.PathLike | None = None) -> TrainedNetwork:
    """Train a structure network on ``train``, validating on ``val``.

    Parameters
    ----------
    config
        The network.
    train, val
        Labelled chains (training chains may carry soft targets).
    training, data
        Optimisation (:class:`~bio_mtl.mtl.trainer.TrainConfig`) and batching settings.
    init_state
        Start from this ``state_dict`` instead of a random initialisation.
    embedder
        Optional per-residue feature extractor (``config.input_dim`` must match).
    progress, checkpoint_dir, log_path
        Passed to the :class:`~bio_mtl.mtl.trainer.Trainer` (resumable state, JSON-lines log).

    Returns
    -------
    TrainedNetwork
    """
    common = {"batch_tokens": data.batch_tokens, "tasks": config.tasks, "embedder": embedder}
    train_batches = TokenBatches(train, shuffle=True, seed=training.seed,
                                 ss_fraction=data.ss_fraction, rsa_repeat=data.rsa_repeat,
                                 max_len=data.max_len, **common)
    val_batches = list(TokenBatches(val, **common)) if val else None
    seed_everything(training.seed)
    module = build_structure_model(config)
    if init_state is not None:
        module.load_state_dict(init_state)
    trainer = Trainer(module, structure_tasks(config.tasks), training, progress=progress,
                      log_path=log_path, checkpoint_dir=checkpoint_dir)
    trainer.fit(train_batches, val_batches if data.select_best else None)
    metrics, config = _validation_metrics(trainer, module, config, val_batches)
    metrics["n_train_chains"], metrics["n_val_chains"] = len(train), len(val)
    metrics["best_epoch"] = trainer.best_epoch_
    return TrainedNetwork(module.cpu(), config, metrics, trainer.history_)


def _validation_metrics(trainer, module, config: StructureModelConfig, val_batches
                        ) -> tuple[dict, StructureModelConfig]:
    """Validation metrics and the config; with SS3 and SS8 heads, ``ss3_source`` becomes the
    better of the two SS3 predictions on the validation set."""
    if not val_batches:
        return {}, config
    metrics = trainer.evaluate(val_batches)
    if "ss3" in config.tasks:
        metrics["ss3_source"] = compare_ss3_sources(module, val_batches)
        if "ss8" in config.tasks:
            best = max(metrics["ss3_source"], key=metrics["ss3_source"].get)
            config = dataclasses.replace(config, ss3_source=best.removeprefix("q3_"))
    return metrics, config


def compare_ss3_sources(model, batches) -> dict[str, float]:
    """Q3 of the SS3 head and of SS3 derived from the SS8 probabilities, on ``batches``.

    The derived prediction sums the SS8 probabilities per 3-state class (G+H+I, E+B, S+T+C).

    Parameters
    ----------
    model
        A structure network (:func:`~bio_mtl.structure.model.build_structure_model`).
    batches
        Trainer batches with ``ss3`` targets.
    """
    import torch

    right = {"head": 0, "ss8": 0}
    total = 0
    device = next(model.parameters()).device
    index = torch.from_numpy(SS8_TO_SS3_INDEX).to(device)
    model.eval()
    with torch.inference_mode():
        for batch in batches:
            mask = batch.get("forward_kwargs", {}).get("mask")
            out = model(batch["inputs"].to(device),
                        mask=None if mask is None else mask.to(device))
            target = batch["targets"]["ss3"].to(device)
            valid = target >= 0
            if "ss8" in out:
                p8 = out["ss8"].softmax(-1)
                p3 = torch.zeros(*p8.shape[:-1], 3, device=device).index_add_(-1, index, p8)
                right["ss8"] += int((p3.argmax(-1) == target)[valid].sum())
            if "ss3" in out:
                right["head"] += int((out["ss3"].argmax(-1) == target)[valid].sum())
            total += int(valid.sum())
    return {f"q3_{k}": v / total for k, v in right.items()} if total else {}


def limit_rsa_labels(chains: list[Chain], pool: list[Chain], n: int) -> list[Chain]:
    """``chains`` with RSA labels kept only on the ``n`` chosen RSA-labelled chains of ``pool``.

    The chosen chains are those of ``pool`` with RSA labels whose ids have the lowest SHA-256,
    so the subset depends only on the ids (not on file order or the seed). SS labels are kept.

    Examples
    --------
    >>> a = Chain("a", "AC", np.zeros(2, int), np.zeros(2, int), np.ones(2, np.float32))
    >>> b = Chain("b", "AC", np.zeros(2, int), np.zeros(2, int), np.ones(2, np.float32))
    >>> [c.has_rsa for c in limit_rsa_labels([a, b], [a, b], 1)]
    [False, True]
    """
    if n < 0:
        raise InputError(f"rsa_label_chains must be >= 0, got {n}")
    labelled = sorted((c.id for c in pool if c.has_rsa),
                      key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    keep = set(labelled[:n])
    return [c if c.id in keep or not c.has_rsa else
            dataclasses.replace(c, rsa=np.full_like(c.rsa, np.nan)) for c in chains]


def data_fingerprint(path: str | os.PathLike) -> dict:
    """``{"path": file name, "sha256": ...}`` of a training file (recorded in checkpoints)."""
    p = Path(path)
    return {"path": p.name, "sha256": file_sha256(p) if p.is_file() else None}
