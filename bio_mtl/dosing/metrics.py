"""Dose-prediction metrics: pure functions, arrays in, floats out.

All doses are in mg/week. ``pw20`` is the IWPC "percentage within 20 %" of the actual dose
(Klein et al., N Engl J Med 2009;360:753-64), reported here as a fraction in [0, 1]. The domain
metrics (PW20, interval coverage, tables per group and per IWPC dose range) live here; MAE and
R² are the engine's (:mod:`bio_mtl.mtl.metrics`), applied to the pairs where both values are
known.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..mtl import metrics as _engine

__all__ = ["DOSE_RANGES", "coverage", "dose_metrics", "grouped_metrics", "mae", "pw20", "r2",
           "range_metrics"]

#: IWPC dose ranges (mg/week): low <= 21, intermediate in between, high >= 49.
DOSE_RANGES = {"low (<=21)": (-np.inf, 21.0), "intermediate": (21.0, 49.0),
               "high (>=49)": (49.0, np.inf)}


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        msg = f"y_true has {y.size} values but y_pred has {p.size}"
        raise ValueError(msg)
    keep = np.isfinite(y) & np.isfinite(p)
    return y[keep], p[keep]


def mae(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean absolute error (mg/week); pairs with a NaN are ignored; NaN when empty.

    Examples
    --------
    >>> mae([10, 20, 30], [12, 20, 27])
    1.6666666666666667
    """
    return _engine.mae(*_pair(y_true, y_pred))


def pw20(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Fraction of patients whose predicted dose is within 20 % of the actual dose.

    A prediction counts when ``|pred - true| <= 0.2 * true`` (the IWPC definition).

    Examples
    --------
    >>> pw20([10, 20, 30, 40, 50], [12, 25, 30, 31, 60])
    0.6
    """
    y, p = _pair(y_true, y_pred)
    if not y.size:
        return float("nan")
    return float(np.mean(np.abs(p - y) <= 0.2 * y + 1e-12))


def r2(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``; pairs with a NaN are ignored.

    NaN for fewer than 2 values or a constant actual dose.

    Examples
    --------
    >>> r2([1, 2, 3, np.nan], [1, 2, 4, 5])
    0.5
    """
    return _engine.r2(*_pair(y_true, y_pred))


def coverage(y_true: Sequence[float], lower: Sequence[float], upper: Sequence[float]) -> float:
    """Fraction of true values inside ``[lower, upper]``.

    Examples
    --------
    >>> coverage([1, 2, 3, 4], [0, 2.5, 2, 3], [2, 3, 4, 5])
    0.75
    """
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    lo = np.asarray(lower, dtype=np.float64).reshape(-1)
    hi = np.asarray(upper, dtype=np.float64).reshape(-1)
    if not y.size:
        return float("nan")
    return float(np.mean((y >= lo) & (y <= hi)))


def dose_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """``{"n", "mae", "pw20", "r2"}`` of one set of predictions."""
    y, p = _pair(y_true, y_pred)
    return {"n": int(y.size), "mae": mae(y, p), "pw20": pw20(y, p), "r2": r2(y, p)}


def grouped_metrics(y_true: Sequence[float], y_pred: Sequence[float],
                    groups: Sequence[object]) -> dict[str, dict[str, float]]:
    """:func:`dose_metrics` per group label (e.g. ancestry), sorted by label.

    Examples
    --------
    >>> grouped_metrics([10, 20, 30], [10, 25, 30], ["a", "b", "a"])["a"]["mae"]
    0.0
    """
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    g = np.asarray([str(x) for x in np.asarray(groups, dtype=object).reshape(-1)])
    return {label: dose_metrics(y[g == label], p[g == label]) for label in sorted(set(g))}


def range_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, dict]:
    """:func:`dose_metrics` in the IWPC dose ranges of the *actual* dose (:data:`DOSE_RANGES`).

    Parameters
    ----------
    y_true, y_pred
        Actual and predicted weekly doses (mg).

    Returns
    -------
    dict
        ``{range name: dose_metrics(...)}``.
    """
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    out = {}
    for name, (lo, hi) in DOSE_RANGES.items():
        if name.startswith("low"):
            keep = y <= hi
        elif name.startswith("high"):
            keep = y >= lo
        else:
            keep = (y > lo) & (y < hi)
        out[name] = dose_metrics(y[keep], p[keep])
    return out
