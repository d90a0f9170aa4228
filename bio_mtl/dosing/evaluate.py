"""Cross-validated comparison of dosing models on one cohort.

Every model sees the same patients and folds: 5-fold cross-validation (shuffled, seeded) and a
leave-sites-out split (group k-fold on the project site), reported as MAE (mg/week), PW20 and
R² overall, per ancestry and per dose range (low <= 21, high >= 49 mg/week). Missing height and
weight are imputed with the training fold's medians for every model, the published IWPC
algorithms included (the IWPC itself fit on complete cases).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from .features import CLINICAL_FEATURES, COMED_FEATURES, GENETIC_FEATURES, feature_table
from .iwpc import (
    CLINICAL_COEFFICIENTS,
    PHARMACOGENETIC_COEFFICIENTS,
    iwpc_clinical_dose,
    iwpc_design_matrix,
    iwpc_pharmacogenetic_dose,
)
from .metrics import coverage, dose_metrics, grouped_metrics, range_metrics
from .table_genotypes import iwpc_genotype_columns

__all__ = ["MODELS", "IWPCPublished", "IWPCRefit", "SklearnDoseModel", "cross_validate",
           "cv_folds", "evaluate_cohort", "make_model", "n_sites"]


def _impute(frame: pd.DataFrame, medians: dict) -> pd.DataFrame:
    """Missing covariates filled with training medians; canonical IWPC genotype columns (from
    every genotype column the table has, through the one genotype parser)."""
    out = iwpc_genotype_columns(frame)
    for col, med in medians.items():
        out[col] = pd.to_numeric(out[col], errors="coerce").fillna(med)
    return out


def _medians(frame: pd.DataFrame) -> dict:
    return {c: float(pd.to_numeric(frame[c], errors="coerce").median())
            for c in ("age_decades", "height_cm", "weight_kg")}


class IWPCPublished:
    """The published IWPC algorithm (``"pharmacogenetic"`` or ``"clinical"``); fit only imputes.

    Parameters
    ----------
    algorithm
        ``"pharmacogenetic"`` or ``"clinical"``.
    """

    def __init__(self, algorithm: str = "pharmacogenetic") -> None:
        self.algorithm = algorithm

    def fit(self, X: pd.DataFrame) -> IWPCPublished:
        """Store the training medians used to impute missing covariates."""
        self.medians_ = _medians(X)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Weekly dose (mg)."""
        f = iwpc_pharmacogenetic_dose if self.algorithm == "pharmacogenetic" \
            else iwpc_clinical_dose
        return f(_impute(X, self.medians_))


class IWPCRefit:
    """The IWPC linear form (same indicators, sqrt dose) refit by least squares."""

    def __init__(self, algorithm: str = "pharmacogenetic") -> None:
        self.algorithm = algorithm

    def _design(self, X):
        names = PHARMACOGENETIC_COEFFICIENTS if self.algorithm == "pharmacogenetic" \
            else CLINICAL_COEFFICIENTS
        d = iwpc_design_matrix(_impute(X, self.medians_))
        return np.column_stack([np.ones(len(d))] + [d[k] for k in names if k != "intercept"])

    def fit(self, X: pd.DataFrame) -> IWPCRefit:
        """Least squares on ``sqrt(dose)``."""
        self.medians_ = _medians(X)
        y = np.sqrt(X["dose_mg_per_week"].to_numpy(float))
        self.coef_, *_ = np.linalg.lstsq(self._design(X), y, rcond=None)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Weekly dose (mg)."""
        return np.square(self._design(X) @ self.coef_)


class SklearnDoseModel:
    """A scikit-learn regressor on the dosing features, fit to ``sqrt(dose)``.

    Parameters
    ----------
    kind
        ``"ridge"`` (RidgeCV on standardised features) or ``"gbm"``
        (HistGradientBoostingRegressor).
    seed
        Random state of the gradient boosting.
    """

    def __init__(self, kind: str = "ridge", seed: int = 0) -> None:
        self.kind = kind
        self.seed = seed

    def _x(self, X):
        feats, _ = feature_table(X.reset_index(drop=True))
        cols = list(GENETIC_FEATURES + COMED_FEATURES + CLINICAL_FEATURES)
        return feats[cols].fillna(self.medians_).to_numpy()

    def fit(self, X: pd.DataFrame) -> SklearnDoseModel:
        """Fit on tidy training rows."""
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.medians_ = _medians(X)
        if self.kind == "ridge":
            self.model_ = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 11)))
        else:
            self.model_ = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05,
                                                        max_leaf_nodes=15, random_state=self.seed)
        self.model_.fit(self._x(X), np.sqrt(X["dose_mg_per_week"].to_numpy(float)))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Weekly dose (mg)."""
        return np.square(np.clip(self.model_.predict(self._x(X)), 0, None))


#: model name -> factory(seed) (the table's rows, in order).
MODELS = {
    "IWPC pharmacogenetic (published)": lambda seed: IWPCPublished("pharmacogenetic"),
    "IWPC clinical (published)": lambda seed: IWPCPublished("clinical"),
    "IWPC linear form (refit)": lambda seed: IWPCRefit("pharmacogenetic"),
    "ridge": lambda seed: SklearnDoseModel("ridge", seed),
    "gradient boosting": lambda seed: SklearnDoseModel("gbm", seed),
    "DosingModel (pathway layer)": None,  # filled lazily (torch import)
}


def make_model(name: str, seed: int = 0, **params):
    """Build a fresh model from :data:`MODELS` by name."""
    if name == "DosingModel (pathway layer)":
        from .model import DosingModel

        return DosingModel(seed=seed, **params)
    return MODELS[name](seed)


def cv_folds(frame: pd.DataFrame, scheme: str = "kfold", *, n_splits: int = 5,
             seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` row indices: shuffled k-fold, or leave-sites-out (``"sites"``).

    Leave-sites-out is group k-fold on the ``site`` column (at most one fold per site).

    Raises
    ------
    ConfigError
        ``n_splits`` below 2 (or not an integer), or an unknown scheme.
    InputError
        Fewer rows than folds (k-fold), or fewer than 2 sites (leave-sites-out).

    Examples
    --------
    >>> frame = pd.DataFrame({"site": ["a", "a", "b", "c"]})
    >>> [test.tolist() for _, test in cv_folds(frame, "sites")]
    [[0, 1], [3], [2]]
    """
    from sklearn.model_selection import GroupKFold, KFold

    _check_splits(frame, scheme, n_splits)
    if scheme == "kfold":
        return list(KFold(n_splits, shuffle=True, random_state=seed).split(frame))
    groups = frame["site"].astype(str).to_numpy()
    n = min(n_splits, len(set(groups)))
    return list(GroupKFold(n).split(frame, groups=groups))


def n_sites(frame: pd.DataFrame) -> int:
    """Distinct values of the ``site`` column (0 without one).

    Parameters
    ----------
    frame
        A tidy patient table.
    """
    return int(frame["site"].astype(str).nunique()) if "site" in frame else 0


def _check_splits(frame: pd.DataFrame, scheme: str, n_splits: int) -> None:
    """Refuse fold counts that cannot split ``frame`` (before any splitting)."""
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) \
            or n_splits < 2:
        raise ConfigError(f"n_splits (--folds) must be an integer of at least 2, got "
                          f"{n_splits!r}")
    if scheme not in ("kfold", "sites"):
        raise ConfigError(f"unknown scheme {scheme!r}; choose kfold or sites")
    if scheme == "kfold" and len(frame) < n_splits:
        raise InputError(f"{len(frame)} patient(s) with a stable dose cannot be split into "
                         f"{n_splits} folds (each fold needs at least one): give at most "
                         f"{max(len(frame), 2)} folds or more patients")
    if scheme == "sites" and n_sites(frame) < 2:
        raise InputError(f"leave-sites-out needs at least 2 distinct values in column 'site'; "
                         f"found {n_sites(frame)}")


def cross_validate(frame: pd.DataFrame, *, scheme: str = "kfold", n_splits: int = 5,
                   seed: int = 0, models: list[str] | None = None,
                   dosing_params: dict | None = None, progress=None) -> dict:
    """Out-of-fold predictions and metrics of each model.

    Parameters
    ----------
    frame
        Tidy trainable rows (one drug) with ``dose_mg_per_week``, ``site`` and ``ancestry``.
    scheme
        ``"kfold"`` (shuffled, seeded) or ``"sites"`` (group k-fold on ``site``).
    n_splits
        Number of folds.
    seed
        Fold shuffling and model seeds.
    models
        Names from :data:`MODELS` (default all).
    dosing_params
        Extra DosingModel hyperparameters.
    progress
        Optional callback; ``advance`` is called once per fitted fold.

    Returns
    -------
    dict
        ``{"scheme", "n_splits", "models": {name: {"overall", "by_ancestry", "by_dose_range"}},
        "coverage"}`` (conformal coverage of the DosingModel on the test folds).
    """
    frame = frame.reset_index(drop=True)
    names = models or list(MODELS)
    folds = cv_folds(frame, scheme, n_splits=n_splits, seed=seed)
    y = frame["dose_mg_per_week"].to_numpy(float)
    preds = {n: np.full(len(frame), np.nan) for n in names}
    lo, hi = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    nominal = None
    for train, test in folds:
        for name in names:
            model = make_model(name, seed, **(dosing_params or {})
                               if name.startswith("DosingModel") else {})
            model.fit(frame.iloc[train])
            if hasattr(model, "predict_interval"):
                p, lo[test], hi[test] = model.predict_interval(frame.iloc[test])
                nominal = 1 - model.alpha
            else:
                p = model.predict(frame.iloc[test])
            preds[name][test] = p
            if progress is not None:
                progress.advance(1)
    report = {"scheme": scheme, "n_splits": len(folds), "n_patients": len(frame), "models": {}}
    for name in names:
        report["models"][name] = {
            "overall": dose_metrics(y, preds[name]),
            "by_ancestry": grouped_metrics(y, preds[name], frame["ancestry"]),
            "by_dose_range": range_metrics(y, preds[name])}
    if np.isfinite(lo).any():
        report["coverage"] = {"nominal": nominal, "empirical": coverage(y, lo, hi),
                              "median_width": float(np.nanmedian(hi - lo))}
    return report


def evaluate_cohort(frame: pd.DataFrame, *, seed: int = 0, n_splits: int = 5,
                    models: list[str] | None = None, dosing_params: dict | None = None,
                    progress=None) -> dict:
    """Both schemes (5-fold CV and leave-sites-out) for every model.

    Parameters
    ----------
    frame
        Tidy trainable rows.
    seed
        Fold and model seed.
    n_splits
        Folds per scheme.
    models
        Model names (default all of :data:`MODELS`).
    dosing_params
        Extra DosingModel hyperparameters.
    progress
        Optional progress callback.

    Returns
    -------
    dict
        ``{"kfold": report, "sites": report}`` (see :func:`cross_validate`); ``"sites"`` is
        ``{"scheme", "skipped": reason}`` when the table has fewer than 2 sites.

    Raises
    ------
    ConfigError
        ``n_splits`` below 2.
    InputError
        Fewer patients than folds.
    """
    _check_splits(frame, "kfold", n_splits)
    report = {scheme: cross_validate(frame, scheme=scheme, n_splits=n_splits, seed=seed,
                                     models=models, dosing_params=dosing_params,
                                     progress=progress)
              for scheme in ("kfold", "sites") if scheme == "kfold" or n_sites(frame) >= 2}
    if "sites" not in report:
        report["sites"] = {"scheme": "sites", "skipped": "leave-sites-out needs at least 2 "
                           f"distinct values in column 'site'; found {n_sites(frame)}"}
    return report

