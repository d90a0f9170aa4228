"""From an AnnData to the trainer's inputs: task targets, batch design, row batches.

Labels come from ``obs`` columns: a classification column becomes integer codes (``-100`` for
a missing label), a regression column is standardised (NaN stays NaN). Missing labels are
masked by the engine's losses, not dropped, so every sample still trains the shared encoder
and the reconstruction head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..mtl.tasks import TaskSpec
from .network import RESERVED_TASKS

__all__ = ["TASK_KINDS", "BatchDesign", "batch_design", "encode_task"]

#: The task kinds an ``obs`` column can be trained as.
TASK_KINDS = ("classification", "regression")


def _columns(adata) -> str:
    return ", ".join(map(str, adata.obs.columns))


def encode_task(adata, name: str, kind: str, *, path: object = None
                ) -> tuple[TaskSpec, np.ndarray, dict]:
    """TaskSpec, target array and label/scale info for one ``obs`` column.

    Parameters
    ----------
    adata
        The training AnnData.
    name
        The ``obs`` column (also the task name).
    kind
        ``"classification"`` or ``"regression"``.
    path
        File name for error messages.

    Returns
    -------
    tuple
        ``(spec, target, info)``: codes (``int64``, ``-100`` = missing) and
        ``{"labels": [...]}`` for a classification, standardised ``float32`` values (NaN =
        missing) and ``{"mean", "std"}`` for a regression.

    Raises
    ------
    InputError
        A column that is missing (listing the columns), a classification with fewer than 2
        classes, or a regression without numeric values.
    ConfigError
        An unknown kind or a reserved task name.

    Examples
    --------
    >>> import anndata as ad, pandas as pd
    >>> a = ad.AnnData(obs=pd.DataFrame({"age": [30.0, None, 50.0]}, index=list("abc")))
    >>> spec, y, info = encode_task(a, "age", "regression")
    >>> y.tolist()[::2], info
    ([-1.0, 1.0], {'mean': 40.0, 'std': 10.0})
    """
    if kind not in TASK_KINDS:
        raise ConfigError(f"task {name!r}: unknown kind {kind!r}; choose one of "
                          f"{', '.join(TASK_KINDS)}")
    if name not in adata.obs.columns:
        raise InputError(f"task column {name!r} is not in obs; available columns: "
                         f"{_columns(adata)}", path=path)
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


@dataclass
class BatchDesign:
    """The technical batch of each sample.

    Attributes
    ----------
    info : ``{"key", "categories"}`` (sorted levels) or ``None`` without a batch key
    onehot : ``(n, B)`` float32 one-hot (``(n, 0)`` unless the adversary needs it)
    codes : ``(n,)`` int64 level codes, ``-100`` for a missing batch (``None`` without a key)
    """

    info: dict | None
    onehot: np.ndarray
    codes: np.ndarray | None


def batch_design(adata, batch_key: str | None, *, onehot: bool,
                 path: object = None) -> BatchDesign:
    """The batch levels, codes and (when ``onehot``) one-hot of ``adata``.

    Raises
    ------
    InputError
        A batch key that is not an ``obs`` column (listing the columns).

    Examples
    --------
    >>> import anndata as ad, pandas as pd
    >>> a = ad.AnnData(obs=pd.DataFrame({"b": ["y", "x", None]}, index=list("abc")))
    >>> d = batch_design(a, "b", onehot=True)
    >>> d.info["categories"], d.codes.tolist(), d.onehot.tolist()
    (['x', 'y'], [1, 0, -100], [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    """
    n = adata.n_obs
    if batch_key is None:
        return BatchDesign(None, np.zeros((n, 0), dtype=np.float32), None)
    if batch_key not in adata.obs.columns:
        raise InputError(f"batch key {batch_key!r} is not in obs; available columns: "
                         f"{_columns(adata)}", path=path)
    cats = sorted(map(str, adata.obs[batch_key].dropna().unique()))
    index = {c: i for i, c in enumerate(cats)}
    codes = np.array([index.get(str(v), -100) for v in adata.obs[batch_key]], dtype=np.int64)
    matrix = np.zeros((n, len(cats) if onehot else 0), dtype=np.float32)
    if onehot:
        matrix[codes >= 0, codes[codes >= 0]] = 1.0
    return BatchDesign({"key": batch_key, "categories": cats}, matrix, codes)

