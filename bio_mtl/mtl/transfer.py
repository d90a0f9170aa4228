"""Transfer and continual learning: freezing, adding tasks, and rehearsal with a replay buffer.

Adding a task to a trained model risks catastrophic forgetting of the old ones (McCloskey &
Cohen 1989). Three standard defences are offered: freezing the shared encoder (feature
extraction; only the new head learns, so old tasks cannot change through the encoder) and, when
the encoder is fine-tuned, freezing the old heads (:func:`freeze_heads`); rehearsal (experience
replay; Robins 1995, Rolnick et al. 2019 NeurIPS), which mixes stored batches of earlier tasks
into the new task's training; and rehearsal by distillation (Li & Hoiem, Learning without
Forgetting, IEEE TPAMI 2018;40:2935-47), where old tasks' targets are the model's own outputs
before the update (:func:`distillation_targets`), so no old labels are needed. The buffer keeps a
uniform sample of everything it was offered with reservoir sampling (Vitter 1985, ACM TOMS
11:37, Algorithm R).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._progress import ProgressCallback
from .._random import make_rng
from ..errors import ConfigError, ModelError
from .architectures import shared_modules
from .tasks import TaskSpec

__all__ = ["ReplayBuffer", "ReplayMix", "add_task", "distillation_targets", "freeze_encoder",
           "freeze_heads", "train_new_task", "unfreeze_all", "unfreeze_encoder"]


def freeze_encoder(model: nn.Module) -> nn.Module:
    """Stop gradients to the shared part (``encoder`` / MMoE experts); return ``model``.

    Frozen parameters are left out of the trainer's optimizer, so they stay bit-identical
    (no weight decay either).
    """
    for module in shared_modules(model):
        for p in module.parameters():
            p.requires_grad_(False)
    return model


def unfreeze_encoder(model: nn.Module) -> nn.Module:
    """Undo :func:`freeze_encoder` (for fine-tuning everything); return ``model``."""
    for module in shared_modules(model):
        for p in module.parameters():
            p.requires_grad_(True)
    return model


def freeze_heads(model: nn.Module, *, keep: Iterable[str] = ()) -> nn.Module:
    """Stop gradients to every task head (and MMoE gate) except those of ``keep``.

    With the encoder fine-tuned, frozen old heads can still drift through the encoder; pair
    this with rehearsal (:func:`distillation_targets` or a :class:`ReplayBuffer`).

    Parameters
    ----------
    model
        A model with a ``heads`` ModuleDict.
    keep
        Tasks whose heads keep learning (keyword-only).

    Returns
    -------
    nn.Module
        ``model``.

    Raises
    ------
    ModelError
        If the model has no per-task heads, or ``keep`` names a task it does not have.

    Examples
    --------
    >>> from bio_mtl.mtl import MultiTaskModel
    >>> m = MultiTaskModel(nn.Linear(3, 4), {"a": nn.Linear(4, 1), "b": nn.Linear(4, 1)})
    >>> [p.requires_grad for p in freeze_heads(m, keep=["b"]).heads.parameters()]
    [False, False, True, True]
    """
    heads = getattr(model, "heads", None)
    if not isinstance(heads, nn.ModuleDict):
        raise ModelError(f"freeze_heads: {type(model).__name__} has no per-task heads")
    keep = set(keep)
    unknown = sorted(keep - set(heads))
    if unknown:
        raise ModelError(f"freeze_heads: no task {', '.join(map(repr, unknown))}; the model "
                         f"has {', '.join(heads)}")
    for group in ("heads", "gates"):
        modules = getattr(model, group, None)
        if isinstance(modules, nn.ModuleDict):
            for name, module in modules.items():
                module.requires_grad_(name in keep)
    return model


def unfreeze_all(model: nn.Module) -> nn.Module:
    """Let every parameter learn again (undoes :func:`freeze_encoder` and :func:`freeze_heads`)."""
    return model.requires_grad_(True)


@torch.no_grad()
def distillation_targets(model: nn.Module, inputs: Any,
                         rows: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The model's current outputs as targets: rehearsal by distillation (Li & Hoiem 2018).

    Replaying earlier tasks' inputs with these targets while a new task trains keeps their
    predictions where they were, without needing their labels.

    Parameters
    ----------
    model
        A multi-task model whose ``forward(inputs)`` returns ``{task: output}``.
    inputs
        The rehearsal inputs (a tensor or a dict of tensors, ``N`` rows).
    rows
        ``{task: (N,) boolean mask}``: the rows to rehearse for each task; the others get NaN
        (a missing label).

    Returns
    -------
    dict
        ``{task: float tensor of the output's shape}`` (evaluation mode, no gradient).

    Examples
    --------
    >>> from bio_mtl.mtl import MultiTaskModel
    >>> m = MultiTaskModel(nn.Identity(), {"y": nn.Linear(1, 1)})
    >>> _ = nn.init.ones_(m.heads["y"].weight), nn.init.zeros_(m.heads["y"].bias)
    >>> distillation_targets(m, torch.tensor([[2.0], [3.0]]), {"y": [True, False]})["y"]
    tensor([[2.],
            [nan]])
    """
    training = model.training
    model.eval()
    try:
        outputs = model(inputs, tasks=list(rows))
    finally:
        model.train(training)
    targets = {}
    for task, keep in rows.items():
        value = outputs[task].detach().float().clone()
        value[~torch.as_tensor(keep, dtype=torch.bool)] = float("nan")
        targets[task] = value
    return targets


def add_task(model: nn.Module, spec: TaskSpec, head: nn.Module, *,
             freeze: bool = True) -> nn.Module:
    """Attach a new task head to a trained model (and an MMoE gate if the model has gates).

    Parameters
    ----------
    model
        A model with a ``heads`` ModuleDict (hard sharing or MMoE).
    spec
        The new task.
    head
        Its head module (input width = the shared feature width).
    freeze
        Freeze the shared encoder (keyword-only).

    Raises
    ------
    ModelError
        If the model has no per-task heads or already has a task of that name.
    """
    if not isinstance(getattr(model, "heads", None), nn.ModuleDict):
        raise ModelError(f"add_task: {type(model).__name__} has no per-task heads; use a "
                         "hard-sharing or MMoE model")
    if spec.name in model.heads:
        raise ModelError(f"add_task: the model already has a task {spec.name!r}")
    model.heads[spec.name] = head
    gates = getattr(model, "gates", None)
    if isinstance(gates, nn.ModuleDict):
        template = next(iter(gates.values()))
        gates[spec.name] = nn.Linear(template.in_features, template.out_features)
    if freeze:
        freeze_encoder(model)
    return model


class ReplayBuffer:
    """A fixed-size uniform sample of past batches (reservoir sampling, Algorithm R).

    After ``n`` batches were offered, each is in the buffer with probability
    ``min(1, capacity / n)``, whatever the order, so old tasks stay represented.

    Parameters
    ----------
    capacity
        Maximum number of stored batches.
    seed
        Seed of the reservoir and of :meth:`sample`.
    """

    def __init__(self, capacity: int, *, seed: int = 0) -> None:
        if capacity < 1:
            raise ConfigError(f"ReplayBuffer: capacity must be >= 1, got {capacity}")
        self.capacity, self.seed = capacity, seed
        self._rng = make_rng(seed)
        self.batches: list[dict] = []
        self.n_seen_ = 0

    def add(self, batch: dict) -> None:
        """Offer one batch (Algorithm R: keep it with probability ``capacity / n_seen``)."""
        self.n_seen_ += 1
        if len(self.batches) < self.capacity:
            self.batches.append(batch)
            return
        j = int(self._rng.integers(self.n_seen_))
        if j < self.capacity:
            self.batches[j] = batch

    def extend(self, batches: Iterable[dict]) -> ReplayBuffer:
        """Offer every batch of ``batches``; return ``self``."""
        for batch in batches:
            self.add(batch)
        return self

    def sample(self, k: int) -> list[dict]:
        """``k`` stored batches drawn uniformly with replacement."""
        if not self.batches:
            return []
        return [self.batches[int(i)] for i in self._rng.integers(len(self.batches), size=k)]

    def __len__(self) -> int:
        return len(self.batches)


class ReplayMix:
    """New-task batches interleaved with replayed ones: ``ratio`` replays after each new batch.

    Re-iterable; the replay draw of epoch ``e`` is seeded by ``seed + e`` (see
    :meth:`set_epoch`), so runs repeat exactly.

    Parameters
    ----------
    batches
        The new task's batches.
    buffer
        Stored batches of earlier tasks.
    ratio
        Replay batches per new batch (a float: 0.5 = one replay every other batch).
    seed
        Seed of the replay draws.
    """

    def __init__(self, batches: Iterable[dict], buffer: ReplayBuffer, *, ratio: float = 1.0,
                 seed: int = 0) -> None:
        self.batches, self.buffer, self.ratio, self.seed = batches, buffer, ratio, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (passed on to the new-task batches if they support it)."""
        self.epoch = epoch
        if hasattr(self.batches, "set_epoch"):
            self.batches.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.batches)  # type: ignore[arg-type]
        return n + (int(n * self.ratio) if len(self.buffer) else 0)

    def __iter__(self) -> Iterator[dict]:
        rng = make_rng(self.seed + self.epoch)
        credit = 0.0
        for batch in self.batches:
            yield batch
            credit += self.ratio
            while credit >= 1.0 and len(self.buffer):
                credit -= 1.0
                yield self.buffer.batches[int(rng.integers(len(self.buffer)))]


def train_new_task(model: nn.Module, spec: TaskSpec, head: nn.Module, *,
                   old_tasks: Sequence[TaskSpec], train_batches: Iterable[dict], config: Any,
                   buffer: ReplayBuffer | None = None, replay_ratio: float = 1.0,
                   freeze: bool = True, freeze_old_heads: bool = False,
                   val_batches: Iterable[dict] | None = None,
                   progress: ProgressCallback | None = None) -> Any:
    """Add task ``spec`` to a trained model and train it, rehearsing old tasks from ``buffer``.

    Parameters
    ----------
    model
        The trained multi-task model (changed in place).
    spec, head
        The new task and its head.
    old_tasks
        The model's current tasks.
    train_batches
        Batches labelled for the new task.
    config
        A :class:`~bio_mtl.mtl.trainer.TrainConfig`.
    buffer
        Stored batches of the old tasks (``None``: no rehearsal).
    replay_ratio
        Replay batches per new batch.
    freeze
        Freeze the shared encoder first.
    freeze_old_heads
        Freeze every other head (:func:`freeze_heads`), e.g. when the encoder is fine-tuned
        with rehearsal by distillation. Frozen parts stay frozen afterwards
        (:func:`unfreeze_all` undoes it).
    val_batches
        Optional validation batches (any subset of tasks).
    progress
        Optional progress callback.

    Returns
    -------
    Trainer
        The fitted trainer (``trainer.model`` is ``model``).
    """
    from .trainer import Trainer

    add_task(model, spec, head, freeze=freeze)
    if freeze_old_heads:
        freeze_heads(model, keep=[spec.name])
    batches = ReplayMix(train_batches, buffer, ratio=replay_ratio, seed=config.seed) \
        if buffer is not None and len(buffer) else train_batches
    trainer = Trainer(model, [*old_tasks, spec], config, progress=progress)
    return trainer.fit(batches, val_batches)
