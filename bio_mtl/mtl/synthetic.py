"""Tabular multi-task data: a seeded synthetic generator, a CSV loader, splits and batches.

Batches are the engine's :class:`~bio_mtl.mtl.batches.TensorBatches` (:func:`tabular_batches`),
shuffled by the batcher family's one seeding rule.

The generator follows the usual synthetic MTL benchmark recipe (e.g. Ma et al. 2018, KDD,
section 3, where task relatedness is the cosine between the tasks' weight vectors): every
task reads the same latent factors ``Z = tanh(X W)``, through a loading that mixes a shared
direction and a task-private one, ``A_t = sqrt(r) S + sqrt(1 - r) P_t`` with relatedness
``r``. Classification labels are the argmax of ``Z A_t + noise``, regression targets
``Z A_t + noise``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .._random import make_rng
from ..errors import ConfigError, InputError, MissingColumnError
from .batches import TensorBatches
from .tasks import TaskSpec

__all__ = ["TabularData", "fingerprint", "make_synthetic", "read_csv_tasks", "split_indices",
           "standardize", "tabular_batches"]

MISSING_CLASS = -100


@dataclass
class TabularData:
    """Samples with one feature matrix and one label array per task.

    Parameters
    ----------
    X
        ``(N, F)`` float32 features.
    targets
        ``{task: array}``: int64 class indices (``-100`` = missing) or float32 values
        (``NaN`` = missing), ``(N,)`` or ``(N, D)``.
    feature_names
        Names of the ``F`` columns.
    ids
        Sample ids.
    mean, scale
        The standardisation applied to ``X`` (see :func:`standardize`), or ``None``.
    """

    X: np.ndarray
    targets: dict[str, np.ndarray]
    feature_names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)


def make_synthetic(tasks: Sequence[TaskSpec], *, n_samples: int = 512, n_features: int = 16,
                   latent_dim: int = 4, relatedness: float = 0.8, noise: float = 0.1,
                   missing: float = 0.0, seed: int = 0) -> TabularData:
    """Generate seeded multi-task data whose tasks share a latent structure.

    Parameters
    ----------
    tasks
        Sequence-level classification or regression tasks.
    n_samples, n_features, latent_dim
        Sizes of ``X`` ``(n_samples, n_features)`` and of the latent ``Z``.
    relatedness
        ``r`` in [0, 1]: 1 = all tasks read the same latent direction, 0 = independent ones.
    noise
        Standard deviation of the label noise (relative to the unit-scale signal).
    missing
        Fraction of each task's labels removed at random (``-100`` / ``NaN``).
    seed
        Seed of everything random here.

    Examples
    --------
    >>> from bio_mtl.mtl import TaskSpec
    >>> d = make_synthetic([TaskSpec("a", "classification", 3)], n_samples=10, seed=0)
    >>> d.X.shape, d.targets["a"].shape
    ((10, 16), (10,))
    """
    token = [t.name for t in tasks if t.is_token_level]
    if token:
        raise ConfigError(f"synthetic data: token-level tasks are not supported ({token})")
    rng = make_rng(seed)
    x = rng.standard_normal((n_samples, n_features))
    w = rng.standard_normal((n_features, latent_dim)) / np.sqrt(n_features)
    z = np.tanh(2.0 * x @ w)                                          # (N, K)
    width = max(t.n_outputs for t in tasks)
    shared = rng.standard_normal((latent_dim, width))
    targets = {}
    for task in tasks:
        private = rng.standard_normal((latent_dim, task.n_outputs))
        loading = np.sqrt(relatedness) * shared[:, :task.n_outputs] + \
            np.sqrt(1 - relatedness) * private
        signal = z @ loading
        signal = (signal - signal.mean(0)) / (signal.std(0) + 1e-8)
        y = signal + noise * rng.standard_normal(signal.shape)
        drop = rng.random(n_samples) < missing
        if task.is_classification:
            labels = y.argmax(1) if task.n_outputs > 1 else (y[:, 0] > 0).astype(np.int64)
            labels = labels.astype(np.int64)
            labels[drop] = MISSING_CLASS
            targets[task.name] = labels
        else:
            values = (y[:, 0] if task.n_outputs == 1 else y).astype(np.float32)
            values[drop] = np.nan
            targets[task.name] = values
    return TabularData(x.astype(np.float32), targets, [f"x{i}" for i in range(n_features)],
                       [str(i) for i in range(n_samples)])


def _labels(task: TaskSpec, column, path, ids) -> np.ndarray:
    import pandas as pd

    if not task.is_classification:
        values = pd.to_numeric(column, errors="coerce")
        bad = column.notna() & values.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"task {task.name!r}: value {column.iloc[i]!r} is not a number",
                             path=path, record=ids[i])
        return values.to_numpy(dtype=np.float32)
    names = {str(lab): i for i, lab in enumerate(task.labels or ())}
    out = np.full(len(column), MISSING_CLASS, dtype=np.int64)
    for i, value in enumerate(column):
        if pd.isna(value):
            continue
        key = str(value)
        if names:
            idx = names.get(key)
        else:
            idx = int(float(key)) if key.replace(".", "", 1).lstrip("-").isdigit() else None
        if idx is None or not 0 <= idx < task.n_outputs:
            valid = ", ".join(names) if names else f"integers 0..{task.n_outputs - 1}"
            raise InputError(f"task {task.name!r}: unknown label {key!r}; valid labels: "
                             f"{valid} (empty = missing)", path=path, record=ids[i])
        out[i] = idx
    return out


def read_csv_tasks(path: str | os.PathLike, tasks: Sequence[TaskSpec], *,
                   feature_columns: Sequence[str] | None = None,
                   task_columns: Mapping[str, str] | None = None,
                   id_column: str | None = None) -> TabularData:
    """Read feature columns and one label column per task from a CSV file.

    Parameters
    ----------
    path
        CSV (or gzipped CSV) file with a header row.
    tasks
        The tasks; classification labels are class names from ``TaskSpec.labels`` or integer
        indices; empty cells are missing labels.
    feature_columns
        Feature columns (``None``: all columns that are neither a task nor the id).
    task_columns
        ``{task: column}`` where the column is not named like the task.
    id_column
        Optional column of sample ids (used in error messages).

    Raises
    ------
    MissingColumnError
        If a named column is absent (the message lists the file's columns).
    InputError
        For non-numeric features or values, unknown class labels, or an empty file.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read CSV: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                         f"offset {exc.start}); is it a binary or gzip-compressed file?",
                         path=path) from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read CSV ({str(exc).splitlines()[0]})", path=path) from None
    columns = {t.name: (task_columns or {}).get(t.name, t.name) for t in tasks}
    used = set(columns.values()) | ({id_column} if id_column else set())
    features = list(feature_columns) if feature_columns else \
        [c for c in frame.columns if c not in used]
    for col in [*columns.values(), *features, *([id_column] if id_column else [])]:
        if col not in frame.columns:
            raise MissingColumnError(f"no column {col!r}; columns are "
                                     f"{', '.join(map(str, frame.columns))}", path=path)
    if len(frame) == 0 or not features:
        raise InputError("no samples or no feature columns", path=path)
    ids = [str(v) for v in frame[id_column]] if id_column else \
        [f"row {i + 2}" for i in range(len(frame))]
    features_frame = frame[features].apply(pd.to_numeric, errors="coerce")
    bad = features_frame.isna().to_numpy()
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise InputError(f"feature {features[col]!r}: {frame[features[col]].iloc[row]!r} is "
                         "not a number (features may not be missing)", path=path,
                         record=ids[row])
    targets = {t.name: _labels(t, frame[columns[t.name]], path, ids) for t in tasks}
    return TabularData(features_frame.to_numpy(dtype=np.float32), targets, features, ids)


def split_indices(n: int, *, val_fraction: float, test_fraction: float,
                  seed: int) -> dict[str, np.ndarray]:
    """Seeded random ``train`` / ``val`` / ``test`` index arrays (sorted)."""
    order = make_rng(seed).permutation(n)
    n_test, n_val = round(test_fraction * n), round(val_fraction * n)
    return {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
            "train": np.sort(order[n_test + n_val:])}


def standardize(data: TabularData, rows: np.ndarray) -> TabularData:
    """``data`` with features scaled to zero mean and unit variance over ``rows``.

    The statistics (from the training rows) are kept in ``mean`` and ``scale``, so new
    samples can be transformed the same way: ``((X - mean) / scale).astype(float32)``.
    Constant features keep scale 1.

    Examples
    --------
    >>> d = TabularData(np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32), {})
    >>> s = standardize(d, np.arange(2))
    >>> s.X.tolist(), s.mean.tolist(), s.scale.tolist()
    ([[-1.0, 0.0], [1.0, 0.0]], [2.0, 5.0], [1.0, 1.0])
    """
    train = data.X[rows]
    mean, std = train.mean(0), train.std(0)
    scale = np.where(std > 0, std, 1.0).astype(data.X.dtype)
    return dataclasses.replace(data, X=((data.X - mean) / scale).astype(np.float32),
                               mean=mean, scale=scale)


def fingerprint(data: TabularData) -> str:
    """SHA-256 over the features and labels (recorded in checkpoints)."""
    digest = hashlib.sha256(np.ascontiguousarray(data.X).tobytes())
    for name in sorted(data.targets):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(data.targets[name]).tobytes())
    return digest.hexdigest()


def tabular_batches(data: TabularData, rows: np.ndarray, *, batch_size: int = 32,
                    shuffle: bool = False, seed: int = 0,
                    tasks: Sequence[str] | None = None) -> TensorBatches:
    """The engine's :class:`~bio_mtl.mtl.batches.TensorBatches` over some rows of ``data``.

    Parameters
    ----------
    data
        The samples.
    rows
        Which samples (a split).
    batch_size
        Samples per batch (the last batch may be smaller).
    shuffle, seed
        A new order every epoch, drawn by the batcher family's one seeding rule
        (:func:`~bio_mtl.mtl.batches.epoch_rng`).
    tasks
        Only these tasks' targets (``None`` = all).

    Examples
    --------
    >>> from bio_mtl.mtl import TaskSpec
    >>> d = make_synthetic([TaskSpec("a", "classification", 3)], n_samples=10, seed=0)
    >>> [len(b["targets"]["a"]) for b in tabular_batches(d, np.arange(10), batch_size=4)]
    [4, 4, 2]
    """
    names = list(tasks) if tasks is not None else list(data.targets)
    return TensorBatches(torch.from_numpy(data.X),
                         {t: torch.from_numpy(data.targets[t]) for t in names},
                         batch_size=batch_size, shuffle=shuffle, seed=seed, rows=rows)


#: The former batcher class's name, kept for callers not yet moved to :func:`tabular_batches`
#: (same arguments; it returns a :class:`~bio_mtl.mtl.batches.TensorBatches`).
TabularBatches = tabular_batches
