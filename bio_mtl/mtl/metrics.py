"""The one home of the generic metrics: pure functions, arrays in, a float out.

Callers pass only the labelled positions (masking belongs to them). Undefined values (a constant
input for a correlation, one class only for AUROC) are NaN, never a warning. Domain metrics live
with their application and call these: Q3 and SOV in :mod:`bio_mtl.structure.metrics`, PW20 in
:mod:`bio_mtl.dosing.metrics`, batch mixing in :mod:`bio_mtl.dissect.metrics`. Each function is
checked against scikit-learn or SciPy in ``tests/mtl/test_mtl_metrics.py``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["accuracy", "auroc", "macro_f1", "mae", "mcc", "mse", "pearson", "r2"]


def _arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y_true), np.asarray(y_pred)


def accuracy(y_true, y_pred) -> float:
    """Share of equal labels (NaN for no labels).

    >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
    0.75
    """
    t, p = _arrays(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def macro_f1(y_true, y_pred, n_classes: int | None = None) -> float:
    """Unweighted mean F1 over the classes that occur in either labels or predictions.

    >>> round(macro_f1([0, 0, 1, 1], [0, 1, 1, 1]), 4)
    0.7333
    """
    t, p = _arrays(y_true, y_pred)
    classes = range(n_classes) if n_classes is not None else np.union1d(t, p)
    scores = []
    for c in classes:
        tp = np.sum((p == c) & (t == c))
        fp = np.sum((p == c) & (t != c))
        fn = np.sum((p != c) & (t == c))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else float("nan")


def mcc(y_true, y_pred) -> float:
    """Matthews correlation coefficient of binary labels (NaN when a margin is empty).

    >>> round(mcc([1, 1, 0, 0], [1, 0, 0, 0]), 4)
    0.5774
    """
    t, p = _arrays(y_true, y_pred)
    tp = float(np.sum((p == 1) & (t == 1)))
    tn = float(np.sum((p == 0) & (t == 0)))
    fp = float(np.sum((p == 1) & (t == 0)))
    fn = float(np.sum((p == 0) & (t == 1)))
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denom if denom else float("nan")


def auroc(y_true, score) -> float:
    """Area under the ROC curve of ``score`` for ``y_true == 1`` (Mann-Whitney, ties halved).

    >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from scipy.stats import rankdata

    t, s = _arrays(y_true, score)
    pos = t == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pearson(y_true, y_pred) -> float:
    """Pearson correlation (NaN for fewer than 2 values or a constant input).

    >>> pearson([1, 2, 3], [2, 4, 7])
    0.9933992677987828
    """
    t, p = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred))
    if t.size < 2 or np.std(t) == 0 or np.std(p) == 0:
        return float("nan")
    return float(np.corrcoef(t, p)[0, 1])


def mae(y_true, y_pred) -> float:
    """Mean absolute error.

    >>> mae([1, 2, 3], [2, 2, 5])
    1.0
    """
    t, p = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred))
    return float(np.mean(np.abs(t - p))) if t.size else float("nan")


def mse(y_true, y_pred) -> float:
    """Mean squared error.

    >>> mse([1, 2, 3], [2, 2, 5])
    1.6666666666666667
    """
    t, p = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred))
    return float(np.mean((t - p) ** 2)) if t.size else float("nan")


def r2(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (NaN for a constant target).

    >>> r2([1, 2, 3], [1, 2, 4])
    0.5
    """
    t, p = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred))
    ss_tot = float(np.sum((t - t.mean()) ** 2)) if t.size else 0.0
    return 1 - float(np.sum((t - p) ** 2)) / ss_tot if ss_tot else float("nan")
