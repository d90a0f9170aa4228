"""Seeding and deterministic split helpers."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import numpy as np

__all__ = ["hash_split", "make_rng", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask torch for deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def make_rng(seed: int | None) -> np.random.Generator:
    """Return a NumPy ``Generator`` for ``seed`` (``None`` gives fresh entropy)."""
    return np.random.default_rng(seed)


def hash_split(ids: Sequence[str], fraction: float, *, salt: str = "bio_mtl") -> np.ndarray:
    """Deterministically choose about ``fraction`` of ``ids`` (a boolean mask).

    The choice depends only on each id and ``salt``, never on order or on the other ids, so a
    validation split stays the same when records are added or reordered.
    """
    out = np.zeros(len(ids), dtype=bool)
    for i, name in enumerate(ids):
        h = hashlib.sha256(f"{salt}:{name}".encode()).digest()
        out[i] = int.from_bytes(h[:8], "big") / 2**64 < fraction
    return out
