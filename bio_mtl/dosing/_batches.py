"""Re-iterable shuffled mini-batches of the long (patient, drug, dose) table for the Trainer."""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


class _Batches:
    """Re-iterable shuffled mini-batches (reshuffled per epoch via ``set_epoch``)."""

    def __init__(self, tensors, drug, t, drugs, batch_size, seed, *, extra=None) -> None:
        import torch

        self.tensors, self.batch_size, self.seed, self.epoch = tensors, batch_size, seed, 0
        self.n = len(t)
        self.targets = {}
        for d in drugs:
            col = np.where(drug == d, t, np.nan)
            self.targets[d] = torch.tensor(col, dtype=torch.float32)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return max(1, -(-self.n // self.batch_size))

    def __iter__(self):
        import torch

        order = np.random.default_rng(self.seed * 1000 + self.epoch).permutation(self.n)
        for start in range(0, self.n, self.batch_size):
            idx = torch.from_numpy(order[start:start + self.batch_size])
            yield {"inputs": {k: v[idx] for k, v in self.tensors.items()},
                   "targets": {d: v[idx] for d, v in self.targets.items()}}
