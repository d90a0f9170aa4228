"""Training recipe for structure models: data from user-given paths -> trained checkpoint."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import file_sha256
from .._progress import ProgressCallback
from ..errors import ConfigError, InputError
from .alphabet import SS8_TO_SS3_INDEX
from .data import CB513_OVERLAP_IDS, Chain, TokenBatches, join_rsa, read_chains, split_chains
from .model import StructureModelConfig, build_structure_model, structure_tasks

__all__ = ["StructureTrainResult", "compare_ss3_sources", "limit_rsa_labels",
           "save_structure_model", "train_structure"]


@dataclass
class StructureTrainResult:
    """What :func:`train_structure` returns.

    Attributes
    ----------
    model
        The trained model (best epoch by the monitored validation metric).
    metrics
        Validation metrics of that model, including the SS3 head versus SS8-derived comparison.
    history
        The trainer's per-epoch records.
    """

    model: object
    metrics: dict
    history: list


def _paths(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    return [str(v) for v in value]


def _load(paths, *, use_ss, use_rsa, exclude, use_disorder=True) -> list[Chain]:
    """Chains of ``paths``; training and RSA files' masks mark disorder (NetSurfP-2.0)."""
    out: list[Chain] = []
    for p in paths:
        out.extend(read_chains(p, use_ss=use_ss, use_rsa=use_rsa, use_disorder=use_disorder,
                               exclude_ids=exclude))
    return out


def compare_ss3_sources(model, batches) -> dict[str, float]:
    """Q3 of the SS3 head and of SS3 derived from the SS8 probabilities, on ``batches``.

    The derived prediction sums the SS8 probabilities per 3-state class (G+H+I, E+B, S+T+C).
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


def train_structure(train_paths, *, rsa_paths=None, val_paths=None, val_fraction: float = 0.05,
                    rsa_val_fraction: float = 0.1,
                    model_config: StructureModelConfig | None = None,
                    train_config=None, seed: int | None = None, batch_tokens: int = 8192,
                    max_len: int | None = 512, ss_fraction: float = 1.0, rsa_repeat: int = 1,
                    max_ss_chains: int | None = None, rsa_label_chains: int | None = None,
                    select_best: bool = True, exclude_ids=CB513_OVERLAP_IDS,
                    out_dir: str | os.PathLike | None = None,
                    checkpoint_dir: str | os.PathLike | None = None,
                    log_path: str | os.PathLike | None = None,
                    progress: ProgressCallback | None = None,
                    embedder=None, init_from=None, teacher=None,
                    distill_alpha: float = 0.5) -> StructureTrainResult:
    """Train a structure model on labelled chains.

    Parameters
    ----------
    train_paths
        JSON-lines file(s) of SS8-labelled chains (e.g. NetSurfP-2.0 ``train.jsonl.gz``).
    rsa_paths
        File(s) of chains with RSA labels; their RSA is joined onto training chains with the
        same sequence and the rest are trained as extra chains.
    val_paths
        Explicit validation file(s). Without them, a deterministic hash split holds out
        ``val_fraction`` of the SS chains and ``rsa_val_fraction`` of the RSA chains.
    model_config, train_config
        :class:`StructureModelConfig` and :class:`bio_mtl.mtl.trainer.TrainConfig`.
    seed
        Overrides ``train_config.seed`` (seeds data order, initialisation and dropout).
    batch_tokens, max_len, ss_fraction, rsa_repeat
        Batching: padded residues per batch, training crop length, fraction of SS-only chains
        drawn per epoch and repeats of the RSA chains per epoch (see :class:`TokenBatches`).
    max_ss_chains
        Use only the first ``max_ss_chains`` training chains of ``train_paths`` (after the split),
        for small experiments.
    rsa_label_chains
        Keep RSA labels on only this many training chains (a fixed subset: the lowest SHA-256
        of the chain id), dropping the RSA labels of the others but keeping their SS labels;
        for label-scarcity experiments. Validation chains keep all their labels.
    select_best
        ``True``: restore the epoch with the best monitored validation score. ``False``: keep
        the last epoch and score the validation set once, at the end (a fixed-epoch protocol
        that treats every task alike, and skips the per-epoch validation passes).
    exclude_ids
        Ids never trained on (default: the two NetSurfP-2.0 chains identical to CB513 chains).
    out_dir
        If given, the final checkpoint is written there (``kind="structure"``).
    checkpoint_dir
        Resumable per-epoch trainer state (a re-run resumes).
    log_path, progress
        Per-epoch JSON-lines log and a progress callback.
    embedder
        Optional per-residue feature extractor (e.g. :class:`~bio_mtl.structure.embeddings.
        ESMEmbedder`); the model's ``input_dim`` is set to its ``dim``. Its identity is not
        saved with the model: pass the same backbone when predicting.
    init_from
        Start from the weights of this checkpoint directory or shipped model name (fine-tuning
        or a warm restart) instead of a random initialisation. Its architecture is used and
        ``model_config`` must be ``None`` or equal to it.
    teacher, distill_alpha
        Knowledge distillation: a structure model, ensemble, checkpoint folder or shipped model
        name whose predictions on the training chains become soft targets, blended with the
        labels as ``distill_alpha * label + (1 - distill_alpha) * teacher``
        (:func:`bio_mtl.structure.distill.add_soft_targets`). Validation uses the labels only.

    Raises
    ------
    InputError
        If no training file is given or no chain carries a label for the model's tasks.
    ConfigError
        If ``init_from`` has a different architecture than ``model_config``.
    """
    import torch

    from .._random import seed_everything
    from ..mtl.trainer import TrainConfig, Trainer

    init_model, mcfg = _model_config(model_config, init_from, embedder)
    tcfg = train_config or TrainConfig(monitor="ss8/accuracy" if "ss8" in mcfg.tasks else "loss")
    if seed is not None:
        tcfg = dataclasses.replace(tcfg, seed=seed)
    files = _paths(train_paths), _paths(rsa_paths), _paths(val_paths)
    if not files[0] and not files[1]:
        raise InputError("no training data given (pass --train and/or --rsa-train)")
    exclude = set(exclude_ids or ())
    train, val = _chains(mcfg.tasks, *files, val_fraction=val_fraction,
                         rsa_val_fraction=rsa_val_fraction, max_ss_chains=max_ss_chains,
                         rsa_label_chains=rsa_label_chains, exclude=exclude)
    if teacher is not None:
        from .distill import add_soft_targets
        from .pretrained import load_model

        teacher_model = load_model(teacher) if isinstance(teacher, (str, os.PathLike)) \
            else teacher
        train = add_soft_targets(train, teacher_model, alpha=distill_alpha, device=tcfg.device)
    train_batches = TokenBatches(train, batch_tokens=batch_tokens, tasks=mcfg.tasks, shuffle=True,
                                 seed=tcfg.seed, ss_fraction=ss_fraction, rsa_repeat=rsa_repeat,
                                 max_len=max_len, embedder=embedder)
    val_batches = list(TokenBatches(val, batch_tokens=batch_tokens, tasks=mcfg.tasks,
                                    embedder=embedder)) if val else None
    seed_everything(tcfg.seed)
    model = build_structure_model(mcfg)
    if init_model is not None:
        model.load_state_dict(init_model.state_dict())
    trainer = Trainer(model, structure_tasks(mcfg.tasks), tcfg, progress=progress,
                      log_path=log_path, checkpoint_dir=checkpoint_dir)
    trainer.fit(train_batches, val_batches if select_best else None)
    metrics = _validation_metrics(trainer, model, val_batches)
    metrics["n_train_chains"], metrics["n_val_chains"] = len(train), len(val)
    metrics["best_epoch"] = trainer.best_epoch_
    model.cpu()  # saved and returned on the CPU, whatever device trained it
    if out_dir is not None:
        batching = {"batch_tokens": batch_tokens, "max_len": max_len, "ss_fraction": ss_fraction,
                    "rsa_repeat": rsa_repeat, "val_fraction": val_fraction,
                    "rsa_val_fraction": rsa_val_fraction, "max_ss_chains": max_ss_chains,
                    "rsa_label_chains": rsa_label_chains, "select_best": select_best,
                    "exclude_ids": sorted(exclude),
                    "teacher": None if teacher is None or not isinstance(teacher, (str, os.PathLike))
                    else str(teacher), "distill_alpha": distill_alpha if teacher is not None
                    else None}
        save_structure_model(model, out_dir, train_config=tcfg.to_dict(), seed=tcfg.seed,
                             data=[_fingerprint(p) for f in files for p in f], metrics=metrics,
                             history=trainer.history_, batching=batching,
                             torch_threads=torch.get_num_threads(),
                             init_from=None if init_from is None else str(init_from))
    return StructureTrainResult(model, metrics, trainer.history_)


def _model_config(model_config, init_from, embedder):
    """``(model to start from or None, StructureModelConfig)`` for :func:`train_structure`."""
    init_model = None
    if init_from is not None:
        from .pretrained import load_model

        init_model = load_model(init_from)
        if hasattr(init_model, "members"):
            raise ConfigError(f"init_from {init_from}: an ensemble cannot be fine-tuned as one "
                              "model; fine-tune one of its member folders (member_0, ...)")
        if model_config is not None and model_config != init_model.structure_config:
            raise ConfigError(f"init_from {init_from}: its architecture differs from the given "
                              "model config; leave the model config out to fine-tune it")
        model_config = init_model.structure_config
    mcfg = model_config or StructureModelConfig()
    if embedder is not None:
        mcfg = dataclasses.replace(mcfg, input_dim=int(embedder.dim),
                                   backbone=getattr(embedder, "source", None) or mcfg.backbone)
    return init_model, mcfg


def _chains(tasks, train_files, rsa_files, val_files, *, val_fraction, rsa_val_fraction,
            max_ss_chains, rsa_label_chains, exclude) -> tuple[list[Chain], list[Chain]]:
    """The (training, validation) chains, each keeping the labels of ``tasks`` only.

    All labels are read and joined first, so single-task and multi-task runs see the same
    chains and the same validation split; labels of absent tasks are dropped afterwards.
    """
    use_ss = any(t in tasks for t in ("ss8", "ss3"))
    use_rsa = "rsa" in tasks
    use_disorder = "disorder" in tasks
    ss_chains = _load(train_files, use_ss=True, use_rsa=True, exclude=exclude)
    rsa_chains = _load(rsa_files, use_ss=True, use_rsa=True, exclude=exclude)
    ss_chains, rsa_chains = join_rsa(ss_chains, rsa_chains)
    if val_files:
        ss_train, rsa_train = ss_chains, rsa_chains
        # an explicit validation file may be CB513, whose mask is not disorder
        val = _load(val_files, use_ss=True, use_rsa=True, exclude=(), use_disorder=False)
    else:
        ss_train, ss_val = split_chains(ss_chains, val_fraction)
        rsa_train, rsa_val = split_chains(rsa_chains, rsa_val_fraction)
        val = ss_val + rsa_val
    if max_ss_chains is not None:
        ss_train = ss_train[:max_ss_chains]
    if rsa_label_chains is not None:
        ss_train, rsa_train = (limit_rsa_labels(x, ss_train + rsa_train, rsa_label_chains)
                               for x in (ss_train, rsa_train))

    def keep(c: Chain) -> Chain | None:
        c = dataclasses.replace(c, ss8=c.ss8 if use_ss else np.full_like(c.ss8, -100),
                                rsa=c.rsa if use_rsa else np.full_like(c.rsa, np.nan),
                                disorder=c.disorder if use_disorder else None)
        return c if (use_ss and c.has_ss) or (use_rsa and c.has_rsa) \
            or (use_disorder and c.has_disorder) else None

    train = [k for k in map(keep, ss_train + rsa_train) if k is not None]
    val = [k for k in map(keep, val) if k is not None]
    if not train:
        raise InputError("no training chain carries a label for the model's tasks "
                         f"({', '.join(tasks)})", path=", ".join(train_files + rsa_files))
    return train, val


def _validation_metrics(trainer, model, val_batches) -> dict:
    """Validation metrics; with SS3 and SS8 heads, also which SS3 source is better (stored in
    ``model.structure_config.ss3_source``)."""
    if not val_batches:
        return {}
    metrics = trainer.evaluate(val_batches)
    mcfg = model.structure_config
    if "ss3" in mcfg.tasks:
        metrics["ss3_source"] = compare_ss3_sources(model, val_batches)
        if "ss8" in mcfg.tasks:
            best = max(metrics["ss3_source"], key=metrics["ss3_source"].get)
            model.structure_config = dataclasses.replace(mcfg,
                                                         ss3_source=best.removeprefix("q3_"))
    return metrics


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
    import hashlib

    if n < 0:
        raise InputError(f"rsa_label_chains must be >= 0, got {n}")
    labelled = sorted((c.id for c in pool if c.has_rsa),
                      key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    keep = set(labelled[:n])
    return [c if c.id in keep or not c.has_rsa else
            dataclasses.replace(c, rsa=np.full_like(c.rsa, np.nan)) for c in chains]


def _fingerprint(path: str) -> dict:
    p = Path(path)
    return {"path": p.name, "sha256": file_sha256(p) if p.is_file() else None}


def save_structure_model(model, directory, **metadata) -> Path:
    """Save a structure model as a ``kind="structure"`` checkpoint (safetensors + JSON)."""
    from ..mtl.checkpoint import save_checkpoint

    cfg: StructureModelConfig = model.structure_config
    tasks = [t.to_dict() for t in structure_tasks(cfg.tasks)]
    return save_checkpoint(directory, model, kind="structure",
                           config={"model": cfg.to_dict(), "tasks": tasks}, **metadata)

