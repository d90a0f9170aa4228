"""The batcher family: re-iterable trainer batches with one seeding rule.

Every batcher the :class:`~bio_mtl.mtl.trainer.Trainer` consumes is a :class:`Batches`: it can
be iterated many times, has a length, and :meth:`Batches.set_epoch` picks the epoch whose
shuffle the next iteration yields. The random order of epoch ``e`` for seed ``s`` comes from
:func:`epoch_rng` ``(s, e)`` (NumPy's ``SeedSequence`` over both numbers), so it is identical on
every DDP replica, does not depend on how many epochs ran before, and two seeds never share an
epoch's order (``seed + epoch`` would: seed 0 epoch 1 = seed 1 epoch 0).

A batch is a dict ``{"inputs": tensor or dict of tensors, "targets": {task: tensor}}``, plus
optional ``"forward_kwargs"`` passed to the model and ``"masks"`` (per-task validity).
Applications subclass :class:`Batches` for their own shapes (length-bucketed protein chains in
:class:`bio_mtl.structure.data.TokenBatches`) and use :class:`TensorBatches` for tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import torch

__all__ = ["Batches", "TensorBatches", "epoch_rng"]


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of epoch ``epoch`` of a run seeded ``seed`` (the one seeding rule).

    Examples
    --------
    >>> int(epoch_rng(0, 1).integers(1000)) == int(epoch_rng(0, 1).integers(1000))
    True
    >>> epoch_rng(0, 1).random() != epoch_rng(1, 0).random()
    True
    """
    return np.random.default_rng([int(seed), int(epoch)])


class Batches:
    """Base class: re-iterable batches, re-drawn per epoch from :func:`epoch_rng`.

    Parameters
    ----------
    shuffle
        Draw a new random order every epoch (training); ``False`` gives a fixed order
        (validation).
    seed
        Seed of the per-epoch order.
    """

    def __init__(self, *, shuffle: bool = False, seed: int = 0) -> None:
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields (called by the trainer)."""
        self.epoch = int(epoch)

    def rng(self) -> np.random.Generator:
        """This epoch's generator."""
        return epoch_rng(self.seed, self.epoch)

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[dict]:
        raise NotImplementedError


def _take(value, rows: torch.Tensor):
    if isinstance(value, Mapping):
        return {k: _take(v, rows) for k, v in value.items()}
    return value[rows]


def _length(value) -> int:
    if isinstance(value, Mapping):
        return _length(next(iter(value.values())))
    return len(value)


class TensorBatches(Batches):
    """Row mini-batches of tensors (one row per sample).

    Parameters
    ----------
    inputs
        ``(N, ...)`` tensor or a dict of them (all with ``N`` rows).
    targets
        ``{task: (N, ...) tensor}``; missing labels are ``-100`` or NaN as usual.
    batch_size
        Rows per batch (the last batch may be smaller).
    shuffle, seed
        See :class:`Batches`.
    rows
        Use only these row indices (a split); default all.
    forward_kwargs
        Per-row tensors passed to the model's ``forward`` (e.g. a batch one-hot), sliced
        like the inputs.

    Examples
    --------
    >>> b = TensorBatches(torch.arange(5.0)[:, None], {"y": torch.arange(5)}, batch_size=2)
    >>> [batch["targets"]["y"].tolist() for batch in b]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, inputs, targets: Mapping[str, torch.Tensor], *, batch_size: int = 32,
                 shuffle: bool = False, seed: int = 0, rows=None,
                 forward_kwargs: Mapping[str, torch.Tensor] | None = None) -> None:
        super().__init__(shuffle=shuffle, seed=seed)
        self.inputs, self.targets = inputs, dict(targets)
        self.forward_kwargs = dict(forward_kwargs or {})
        self.batch_size = int(batch_size)
        self.rows = np.arange(_length(inputs)) if rows is None else np.asarray(rows)

    def __len__(self) -> int:
        return max(1, -(-len(self.rows) // self.batch_size))

    def __iter__(self) -> Iterator[dict]:
        order = self.rows[self.rng().permutation(len(self.rows))] if self.shuffle else self.rows
        for start in range(0, len(order), self.batch_size):
            rows = torch.from_numpy(order[start:start + self.batch_size])
            batch = {"inputs": _take(self.inputs, rows),
                     "targets": {t: v[rows] for t, v in self.targets.items()}}
            if self.forward_kwargs:
                batch["forward_kwargs"] = _take(self.forward_kwargs, rows)
            yield batch
