"""Split-conformal prediction intervals on a transformed (log or sqrt) dose scale.

With ``n`` held-out calibration residuals ``r_i = |t(y_i) - t(yhat_i)|`` the interval
``t^-1(t(yhat) -+ q)`` with ``q`` the ``ceil((n + 1)(1 - alpha)) / n`` empirical quantile of
``r`` covers a new exchangeable patient with probability at least ``1 - alpha`` (Vovk et al.,
Algorithmic Learning in a Random World, 2005; Lei et al., J Am Stat Assoc 2018;113:1094-111).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TRANSFORMS", "conformal_interval", "conformal_quantile"]

#: transform name -> (forward, inverse) on mg/week doses.
TRANSFORMS = {
    "log": (np.log, np.exp),
    "sqrt": (np.sqrt, lambda t: np.square(np.clip(t, 0.0, None))),
}


def conformal_quantile(residuals, alpha: float = 0.1) -> float:
    """Finite-sample-corrected ``1 - alpha`` quantile of absolute calibration residuals.

    Parameters
    ----------
    residuals
        Absolute residuals on the transformed scale (NaNs ignored).
    alpha
        Miscoverage level (0.1 gives 90 % intervals).

    Returns
    -------
    float
        ``inf`` when there are too few residuals for the level (``n < 1/alpha - 1``).

    Examples
    --------
    >>> conformal_quantile([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], alpha=0.2)
    0.8
    """
    r = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)))
    r = r[np.isfinite(r)]
    n = r.size
    if not 0 < alpha < 1:
        msg = f"alpha must be in (0, 1), got {alpha}"
        raise ValueError(msg)
    k = math.ceil((n + 1) * (1 - alpha))
    if n == 0 or k > n:
        return float("inf")
    return float(r[k - 1])


def conformal_interval(pred, q: float, *, transform: str = "log"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` in mg/week around predictions ``pred`` (mg/week).

    Parameters
    ----------
    pred
        Point predictions in mg/week.
    q
        The calibrated quantile on the transformed scale (:func:`conformal_quantile`).
    transform
        ``"log"`` or ``"sqrt"`` (:data:`TRANSFORMS`).

    Examples
    --------
    >>> lo, hi = conformal_interval([35.0], 0.25, transform="sqrt")
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (32.104, 38.021)
    """
    fwd, inv = TRANSFORMS[transform]
    t = fwd(np.asarray(pred, dtype=np.float64))
    return inv(t - q), inv(t + q)
