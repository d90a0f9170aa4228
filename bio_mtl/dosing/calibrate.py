"""Few-shot calibration of a trained dosing model to a new site (``biomtl calibrate-dose``).

A new clinic's patients and practice differ from the training sites (target INR, diet,
co-medication habits, how "stable dose" is recorded), so a model trained elsewhere is often
off by a site-specific amount. Calibration keeps the shared pathway layer frozen and fits a
small site head on the clinic's first patients with a known stable dose, on the model's target
scale (``sqrt`` or ``log`` mg/week), as an *offset* to the global head's output ``t_g``:

``intercept``
    ``t = t_g + a``
``scale``
    ``t = t_g + a + b (t_g - m) / s``
``head``
    ``t = t_g + a + sum_j c_j (z_j - mu_j) / sigma_j`` over the head's linear inputs ``z``
    (the four pathway log activities and the shared clinical score).

The offsets are ridge regressions on the residuals ``t_obs - t_g`` with every coefficient
shrunk toward 0, i.e. toward the global head: the penalty ``lam`` counts pseudo-patients at
the global head (``a = sum(r) / (n + lam)`` for the intercept), so five patients move the head
by a fraction of their mean residual only. The level (``none`` included) and ``lam`` are chosen
by exact leave-one-out validation on the site's patients (the hat-matrix identity for ridge;
Hastie, Tibshirani & Friedman, The Elements of Statistical Learning, 2nd ed., 2009, eq. 7.52),
scored by the mean absolute leave-one-out residual, with the one-standard-error rule (ibid.,
section 7.10): the simplest candidate (fewer columns, then more shrinkage) within one standard
error of the best wins, so a handful of patients rarely buys a richer head. A level needs a
minimum number of patients (:data:`MIN_PATIENTS`).

Every offset is linear in ``t_g`` and ``z``, so the calibrated head is the same
:class:`~bio_mtl.dosing.pathway.DrugHead` with edited weights: the result is an ordinary
:class:`~bio_mtl.dosing.model.DosingModel` checkpoint (kind ``"dosing"``) that
``biomtl dose --model`` reads as usual. With at least ``min_interval_patients`` patients the
split-conformal quantile is re-estimated from the chosen candidate's leave-one-out residuals
(the jackknife form of conformal prediction; Barber et al., Ann Stat 2021;49:486-507);
otherwise the global interval is kept.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError, InputError, MissingColumnError
from ._inputs import drug_column
from .conformal import TRANSFORMS, conformal_quantile
from .features import feature_table, read_dose_table
from .iwpc import is_iwpc_format, trainable_mask

if TYPE_CHECKING:
    from .model import DosingModel

__all__ = ["LEVELS", "MIN_PATIENTS", "PENALTIES", "OffsetFit", "calibrate_site",
           "offset_dose", "read_calibration_table", "save_calibrated", "select_offset"]

#: Site-head candidates, simplest first.
LEVELS = ("none", "intercept", "scale", "head")
#: Fewest patients a level is tried with.
MIN_PATIENTS = {"none": 0, "intercept": 2, "scale": 10, "head": 25}
#: Ridge penalties in pseudo-patients at the global head.
PENALTIES = (1.0, 3.0, 10.0, 30.0, 100.0)
_OUTCOME = {"iwpc": "Therapeutic Dose of Warfarin", "tidy": "dose_mg_per_week"}


@dataclass(frozen=True)
class OffsetFit:
    """A chosen site offset on the target scale (see the module docstring).

    Attributes
    ----------
    level
        One of :data:`LEVELS`.
    penalty
        The ridge penalty in pseudo-patients (0 for ``"none"``).
    columns
        Names of the design columns (``"intercept"``, ``"scale"``, ``"z0"``, ...).
    coef
        One coefficient per column.
    center, spread
        Centring and scaling of each column (1 and 0 / 1 for the intercept).
    loo_residuals
        Leave-one-out residuals of the chosen candidate, one per patient.
    scores
        ``{"level/penalty": mean absolute leave-one-out residual}`` of every candidate tried.
    """

    level: str
    penalty: float
    columns: tuple[str, ...]
    coef: np.ndarray
    center: np.ndarray
    spread: np.ndarray
    loo_residuals: np.ndarray
    scores: dict = field(default_factory=dict)

    def offset(self, t_pred: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """The offset to add to ``t_pred`` (target scale) for new patients."""
        if not self.columns:
            return np.zeros(len(t_pred))
        return _design(self.columns, t_pred, features, self.center, self.spread) @ self.coef


def _columns(level: str, n_features: int) -> tuple[str, ...]:
    extra = {"none": (), "intercept": (), "scale": ("scale",),
             "head": tuple(f"z{j}" for j in range(n_features))}[level]
    return () if level == "none" else ("intercept", *extra)


def _raw_column(name: str, t_pred: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    if name == "intercept":
        return np.ones(len(t_pred))
    if name == "scale":
        return np.asarray(t_pred, dtype=float)
    return np.asarray(features, dtype=float)[:, int(name[1:])]


def _design(columns, t_pred, features, center, spread) -> np.ndarray:
    raw = np.column_stack([_raw_column(c, t_pred, features) for c in columns])
    return (raw - center) / spread


def _standardise(columns, t_pred, features) -> tuple[np.ndarray, np.ndarray]:
    raw = np.column_stack([_raw_column(c, t_pred, features) for c in columns])
    center = np.where(np.array(columns) == "intercept", 0.0, raw.mean(axis=0))
    spread = np.where(np.array(columns) == "intercept", 1.0, raw.std(axis=0))
    return center, np.where(spread > 1e-8, spread, np.inf)  # a constant column drops out


def _ridge_loo(x: np.ndarray, r: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge coefficients toward 0 and the exact leave-one-out residuals."""
    inv = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    coef = inv @ x.T @ r
    hat = np.einsum("ij,jk,ik->i", x, inv, x)
    return coef, (r - x @ coef) / (1.0 - hat)


def select_offset(t_pred, t_obs, *, features=None, levels=LEVELS,
                  penalties=PENALTIES) -> OffsetFit:
    """Choose and fit a shrunken site offset by exact leave-one-out validation.

    Parameters
    ----------
    t_pred
        ``(n,)`` global predictions on the target scale.
    t_obs
        ``(n,)`` observed doses on the same scale.
    features
        ``(n, F)`` head inputs for the ``"head"`` level (``None``: that level is skipped).
    levels
        Candidates from :data:`LEVELS` (``"none"`` is always tried).
    penalties
        Ridge penalties (pseudo-patients) tried for every level but ``"none"``.

    Returns
    -------
    OffsetFit

    Raises
    ------
    ConfigError
        An unknown level or a penalty that is not positive.

    Examples
    --------
    Three patients whose doses sit 1.0 above the global head, with a penalty of 1
    pseudo-patient: the intercept is shrunk to 3 / (3 + 1) of the mean residual.

    >>> fit = select_offset([5.0, 6.0, 7.0], [6.0, 7.0, 8.0], levels=("intercept",),
    ...                     penalties=(1.0,))
    >>> fit.level, float(fit.coef[0])
    ('intercept', 0.75)
    """
    unknown = sorted(set(levels) - set(LEVELS))
    if unknown or any(not p > 0 for p in penalties):
        raise ConfigError(f"calibration: levels must be among {', '.join(LEVELS)} and "
                          f"penalties > 0; got levels {list(levels)}, penalties "
                          f"{list(penalties)}")
    t_pred, r = np.asarray(t_pred, float), np.asarray(t_obs, float) - np.asarray(t_pred, float)
    none = OffsetFit("none", 0.0, (), np.zeros(0), np.zeros(0), np.zeros(0), r.copy())
    fits = [none]  # simplest first: by level, then by decreasing penalty
    for level in LEVELS[1:]:
        if level not in levels or len(r) < MIN_PATIENTS[level] or \
                (level == "head" and features is None):
            continue
        cols = _columns(level, 0 if features is None else np.shape(features)[1])
        center, spread = _standardise(cols, t_pred, features)
        x = _design(cols, t_pred, features, center, spread)
        for lam in sorted(penalties, reverse=True):
            coef, loo = _ridge_loo(x, r, float(lam))
            fits.append(OffsetFit(level, float(lam), cols, coef, center, spread, loo))
    chosen = _one_standard_error(fits)
    scores = {_key(f): float(np.mean(np.abs(f.loo_residuals))) if len(r) else float("nan")
              for f in fits}
    return OffsetFit(chosen.level, chosen.penalty, chosen.columns, chosen.coef, chosen.center,
                     chosen.spread, chosen.loo_residuals, scores)


def _key(fit: OffsetFit) -> str:
    return fit.level if fit.level == "none" else f"{fit.level}/{fit.penalty:g}"


def _one_standard_error(fits: list[OffsetFit]) -> OffsetFit:
    """The simplest fit whose leave-one-out MAE is within one standard error of the best."""
    n = len(fits[0].loo_residuals)
    if n < 2:
        return fits[0]
    errors = [np.abs(f.loo_residuals) for f in fits]
    best = int(np.argmin([e.mean() for e in errors]))
    bound = errors[best].mean() + errors[best].std(ddof=1) / np.sqrt(n)
    return next(f for f, e in zip(fits, errors, strict=True) if e.mean() <= bound)


def read_calibration_table(source) -> tuple[pd.DataFrame, dict]:
    """A site's patients with an observed stable dose, in table order.

    Parameters
    ----------
    source
        A CSV/TSV/XLS(X) path in IWPC or tidy format (as ``biomtl dose --input`` reads).

    Returns
    -------
    tuple
        ``(tidy rows with a stable positive dose, info)``; ``info["counts"]`` says how many
        rows were read and skipped.

    Raises
    ------
    MissingColumnError
        The table has no outcome column (``Therapeutic Dose of Warfarin`` in IWPC format,
        ``dose_mg_per_week`` in tidy format).
    InputError
        As for :func:`~bio_mtl.dosing.features.read_dose_table`, or no row with a stable dose.
    """
    raw, frame, info = read_dose_table(source)
    layout = "iwpc" if is_iwpc_format(raw.columns) else "tidy"
    wanted = _OUTCOME[layout]
    if wanted.lower() not in {str(c).strip().lower() for c in raw.columns}:
        raise MissingColumnError(
            f"calibration needs each patient's observed stable dose: no {wanted!r} column "
            f"({layout} format); predicting without it is 'biomtl dose --input'", path=source)
    ok = trainable_mask(frame) if "dose_mg_per_week" in frame else np.zeros(len(frame), bool)
    if not ok.any():
        raise InputError(f"no row has a stable positive dose in {wanted!r}", path=source)
    info = {**info, "rows": len(frame), "used": int(ok.sum()), "skipped": int((~ok).sum())}
    return frame[ok].reset_index(drop=True), info


def _head_inputs(model: DosingModel, rows: pd.DataFrame, drug: str):
    """``(t_g, z)``: the global head's output and its linear inputs, per row."""
    inputs = model._tensors(feature_table(rows)[0])
    head = model.module_.heads[drug]
    model.module_.eval()
    with torch.no_grad():
        shared = model.module_.encode(inputs)
        t_g = head(shared)[:, 0].double().numpy()
    return t_g, shared[:, :head.n_linear].double().numpy()


@torch.no_grad()
def _edit_head(head: torch.nn.Module, fit: OffsetFit) -> None:
    """Fold ``t_g + offset`` into the head's weights (exact up to float32 rounding)."""
    coef = dict(zip(fit.columns, fit.coef, strict=True))
    center = dict(zip(fit.columns, fit.center, strict=True))
    spread = dict(zip(fit.columns, fit.spread, strict=True))
    gain = 1.0 + coef.get("scale", 0.0) / spread.get("scale", np.inf)
    w = head.linear.weight.double() * gain
    bias = head.linear.bias.double() * gain + coef.get("intercept", 0.0)
    bias -= coef.get("scale", 0.0) * center.get("scale", 0.0) / spread.get("scale", np.inf)
    for name in fit.columns:
        if name.startswith("z"):
            j = int(name[1:])
            w[:, j] += coef[name] / spread[name]
            bias -= coef[name] * center[name] / spread[name]
    head.linear.weight.copy_(w.float())
    head.linear.bias.copy_(bias.float())
    if head.mlp is not None:
        head.mlp[2].weight.mul_(gain)
        head.mlp[2].bias.mul_(gain)


def calibrate_site(model: DosingModel, rows: pd.DataFrame, *, drug: str | None = None,
                   levels=LEVELS, penalties=PENALTIES,
                   min_interval_patients: int = 20) -> tuple[DosingModel, dict]:
    """Adapt ``model``'s head for one drug to a new site from its first patients.

    The pathway layer and the other drugs' heads are unchanged; ``model`` itself is not
    modified.

    Parameters
    ----------
    model
        A fitted :class:`~bio_mtl.dosing.model.DosingModel`.
    rows
        The site's patients with ``dose_mg_per_week`` (tidy rows, e.g. from
        :func:`read_calibration_table`).
    drug
        The drug to calibrate (default: the rows' ``drug`` column, else the model's first).
    levels, penalties
        Candidates for :func:`select_offset`.
    min_interval_patients
        Re-estimate the conformal quantile from this many patients on (fewer: keep the
        global one).

    Returns
    -------
    tuple
        ``(calibrated DosingModel, report)``; the report records the patients used, the
        chosen level and penalty, the coefficients and the interval.

    Raises
    ------
    InputError
        Rows of several drugs, of a drug the model has no head for, or without a positive
        dose.
    """
    from ._inputs import dose_targets

    model.check_is_fitted()
    rows = rows.reset_index(drop=True)
    drugs = drug_column(rows, drug, model.drugs_)
    if len(set(drugs)) > 1:
        raise InputError(f"calibration rows hold several drugs ({', '.join(sorted(set(drugs)))})"
                         "; pass --drug")
    name = str(drugs[0]) if len(drugs) else (drug or model.drugs_[0])
    t_obs = dose_targets(rows, model.target)
    t_g, z = _head_inputs(model, rows, name)
    fit = select_offset(t_g, t_obs, features=z, levels=levels, penalties=penalties)
    out = copy.deepcopy(model)
    _edit_head(out.module_.heads[name], fit)
    q_global = model.conformal_q_.get(name, np.inf)
    q = conformal_quantile(np.abs(fit.loo_residuals), model.alpha) \
        if len(rows) >= min_interval_patients else np.inf
    out.conformal_q_[name] = q if np.isfinite(q) else q_global
    report = {"drug": name, "n_patients": len(rows), "target": model.target,
              "level": fit.level, "penalty": fit.penalty,
              "coefficients": {c: float(v) for c, v in zip(fit.columns, fit.coef, strict=True)},
              "loo_mae_target_scale": fit.scores,
              "interval": {"recalibrated": bool(np.isfinite(q)), "alpha": model.alpha,
                           "q_global": _finite(q_global), "q": _finite(out.conformal_q_[name]),
                           "min_patients": min_interval_patients}}
    return out, report


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def save_calibrated(model: DosingModel, report: dict, directory: str | os.PathLike,
                    *, base: str, data: dict) -> None:
    """Save a calibrated model with its report and provenance in ``config.json``."""
    model.save(directory, calibration={**report, "base_model": base, "data": data})


def offset_dose(t_pred, fit: OffsetFit, *, target: str = "sqrt",
                        features=None) -> np.ndarray:
    """Doses in mg/week from target-scale predictions plus a fitted offset."""
    return TRANSFORMS[target][1](np.asarray(t_pred, float) + fit.offset(t_pred, features))
