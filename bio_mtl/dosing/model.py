"""DosingModel: a shared metabolic-pathway layer with one head per drug (sklearn contract).

Trained with the bio_mtl engine (:class:`~bio_mtl.mtl.MultiTaskModel` + :class:`Trainer`,
one regression :class:`~bio_mtl.mtl.TaskSpec` per drug) on a long table of (patient, drug,
stable dose) rows: each row carries a target for its own drug only, so losses are masked and a
patient may have doses for one drug or several. Prediction intervals are split-conformal,
calibrated on a deterministic held-out share of each drug's patients.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._random import hash_split
from ..errors import InputError, NotFittedError
from .conformal import TRANSFORMS, conformal_interval, conformal_quantile
from .features import (
    CLINICAL_FEATURES,
    COMED_FEATURES,
    GENE_FEATURES,
    GENETIC_FEATURES,
    PATHWAY_GENES,
    feature_table,
)

__all__ = ["DosingModel"]

_CONT = ("age_decades", "height_cm", "weight_kg")


class DosingModel:
    """Multi-drug dose model: pathway layer (shared) + per-drug log-linear heads.

    Parameters
    ----------
    hidden
        Width of each head's residual MLP (0 = purely log-linear heads).
    target
        ``"log"`` or ``"sqrt"``: the dose scale the heads predict and the loss uses.
    loss
        ``"mse"``, ``"huber"`` or ``"l1"`` on the ``target`` scale.
    vkorc1_by_ancestry
        Let the VKORC1 -1639A effect differ between Asian, Black and other patients.
    epochs, lr, batch_size, weight_decay
        Optimisation (AdamW, cosine decay) through :class:`bio_mtl.mtl.trainer.Trainer`.
    alpha
        Conformal miscoverage: intervals aim at ``1 - alpha`` coverage.
    calibration_fraction
        Share of each drug's patients held out (by a hash of ``patient_id``) to calibrate the
        intervals; 0 disables intervals.
    seed
        Seeds weights, batch order and nothing else (the calibration split is hash-based).

    Attributes
    ----------
    drugs_ : list of str
        Drugs with a head.
    pathway_names_ : list of str
        Names of the pathway activities.
    conformal_q_ : dict
        Calibrated quantile per drug on the ``target`` scale.
    standardisation_ : dict
        Medians (imputation), means and standard deviations of the clinical covariates and
        their training ranges.
    untrained_genes_ : list of str
        Genes never genotyped in the training rows; their effect cannot be learned, so they are
        treated as unknown at prediction time (with a warning when given).

    References
    ----------
    Klein TE et al. N Engl J Med 2009;360:753-64 (IWPC); Caruana R. Multitask learning.
    Mach Learn 1997;28:41-75; CPIC guidelines (cpicpgx.org).
    """

    def __init__(self, *, hidden: int = 0, target: str = "log", loss: str = "mse",
                 vkorc1_by_ancestry: bool = True, epochs: int = 80, lr: float = 0.03,
                 batch_size: int = 512, weight_decay: float = 1e-4, alpha: float = 0.1,
                 calibration_fraction: float = 0.15, seed: int = 0) -> None:
        self.hidden = hidden
        self.target = target
        self.loss = loss
        self.vkorc1_by_ancestry = vkorc1_by_ancestry
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.alpha = alpha
        self.calibration_fraction = calibration_fraction
        self.seed = seed

    # -- sklearn contract ---------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """Hyperparameters as a dict (sklearn contract)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def set_params(self, **params) -> DosingModel:
        """Set hyperparameters; return ``self``."""
        for key, value in params.items():
            if key not in self.get_params():
                msg = f"unknown parameter {key!r}; valid: {', '.join(self.get_params())}"
                raise ValueError(msg)
            setattr(self, key, value)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            msg = "this DosingModel is not fitted yet; call fit() or DosingModel.load(dir)"
            raise NotFittedError(msg)

    # -- tensors ------------------------------------------------------------------------------
    def _fit_standardisation(self, feats: pd.DataFrame) -> None:
        std = {}
        for col in _CONT:
            values = feats[col].dropna().to_numpy()
            med = float(np.median(values)) if values.size else 0.0
            filled = feats[col].fillna(med).to_numpy()
            std[col] = {"median": med, "mean": float(filled.mean()),
                        "std": float(filled.std() or 1.0),
                        "min": float(values.min()) if values.size else med,
                        "max": float(values.max()) if values.size else med}
        self.standardisation_ = std

    def _mask_untrained(self, feats: pd.DataFrame) -> pd.DataFrame:
        feats = feats.copy()  # all-zero inputs: the gene's weights get no gradient, stay 0
        for gene in getattr(self, "untrained_genes_", ()):
            cols, flag = GENE_FEATURES[gene]
            feats[[*cols, flag]] = 0.0
        return feats

    def _tensors(self, feats: pd.DataFrame) -> dict:
        import torch

        feats = self._mask_untrained(feats)
        clin = feats[list(CLINICAL_FEATURES)].copy()
        for col, s in self.standardisation_.items():
            clin[col] = (clin[col].fillna(s["median"]) - s["mean"]) / s["std"]
        def tensor(frame):
            return torch.tensor(frame.to_numpy(), dtype=torch.float32)

        return {"genetic": tensor(feats[list(GENETIC_FEATURES)]),
                "comed": tensor(feats[list(COMED_FEATURES)]), "clinical": tensor(clin)}

    def _targets(self, frame: pd.DataFrame, path=None) -> np.ndarray:
        dose = pd.to_numeric(frame["dose_mg_per_week"], errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(dose) & (dose > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError("dose_mg_per_week must be a positive number for training",
                             path=path, record=f"row {i + 1}")
        return TRANSFORMS[self.target][0](dose)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None, *, progress=None) -> DosingModel:
        """Fit on a long tidy table (one row per patient and drug with ``dose_mg_per_week``).

        Parameters
        ----------
        X
            Tidy patients (:func:`~bio_mtl.dosing.features.tidy_patients`) with ``drug`` and
            ``dose_mg_per_week``.
        y
            Ignored (the dose is a column of ``X``).
        progress
            Optional :class:`~bio_mtl._progress.ProgressCallback`.

        Returns
        -------
        DosingModel
            ``self``.
        """
        from ..mtl import MultiTaskModel
        from .pathway import DrugHead, PathwayEncoder, pathway_spec

        if self.target not in TRANSFORMS or self.loss not in ("mse", "huber", "l1"):
            from ..errors import ConfigError

            raise ConfigError(f"dosing: unknown target {self.target!r} or loss {self.loss!r}; "
                              "choose target log or sqrt and loss mse, huber or l1")
        X = X.reset_index(drop=True)
        feats, _ = feature_table(X)
        t = self._targets(X)
        self._fit_standardisation(feats)
        self.untrained_genes_ = [g for g, (_, flag) in GENE_FEATURES.items()
                                 if bool((feats[flag] == 1).all())]
        drugs = list(dict.fromkeys(X["drug"].astype(str)))
        cal = self._calibration_mask(X)
        import torch

        torch.manual_seed(self.seed)
        encoder = PathwayEncoder(pathway_spec(vkorc1_by_ancestry=self.vkorc1_by_ancestry))
        width = encoder.n_linear + len(CLINICAL_FEATURES)
        heads = {d: DrugHead(encoder.n_linear, width, self.hidden,
                             float(np.mean(t[(X["drug"] == d).to_numpy()]))) for d in drugs}
        self.module_ = MultiTaskModel(encoder, heads)
        self.drugs_ = drugs
        self.pathway_names_ = encoder.names
        self._train(feats[~cal], X["drug"].to_numpy()[~cal], t[~cal], drugs, progress)
        self.conformal_q_ = {}
        self._calibrate(feats, X["drug"].to_numpy(), t, cal, drugs)
        return self

    def _calibration_mask(self, X: pd.DataFrame) -> np.ndarray:
        if not self.calibration_fraction:
            return np.zeros(len(X), dtype=bool)
        keys = (X["drug"].astype(str) + ":" + X["patient_id"].astype(str)).tolist()
        return hash_split(keys, self.calibration_fraction, salt=f"dose-cal-{self.seed}")

    def _calibrate(self, feats, drug, t, cal, drugs) -> None:
        pred = self._predict_t(feats, drug)
        for d in drugs:
            keep = cal & (drug == d)
            self.conformal_q_[d] = conformal_quantile(np.abs(t[keep] - pred[keep]), self.alpha)

    def _batches(self, feats, drug, t, drugs, *, extra=None):
        from ._batches import _Batches

        return _Batches(self._tensors(feats), drug, t, drugs, self.batch_size, self.seed,
                        extra=extra)

    def _train(self, feats, drug, t, drugs, progress, *, tasks_all=None, extra=None) -> None:
        import torch

        from ..mtl import TaskSpec
        from ..mtl.trainer import TrainConfig, Trainer

        names = tasks_all or drugs
        tasks = [TaskSpec(name=d, kind="regression", loss=self.loss, metrics=("mae",))
                 for d in names]
        cfg = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                          weight_decay=self.weight_decay, grad_clip=5.0, seed=self.seed)
        trainer = Trainer(self.module_, tasks, cfg, progress=progress)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a model this small is fastest (and deterministic) on one
        try:
            trainer.fit(self._batches(feats, drug, t, names, extra=extra))
        finally:
            torch.set_num_threads(threads)
        self.history_ = trainer.history_

    # -- add a drug ---------------------------------------------------------------------------
    def add_drug(self, X: pd.DataFrame, *, rehearsal: pd.DataFrame | None = None,
                 finetune_pathways: bool = False, progress=None) -> DosingModel:
        """Add one new drug's head, trained against the frozen pathway layer.

        Parameters
        ----------
        X
            Long tidy rows of the new drug only (``drug`` and ``dose_mg_per_week``).
        rehearsal
            Patients of earlier drugs (tidy rows with ``drug``). With ``finetune_pathways``
            their current predictions are replayed as targets (rehearsal by distillation) so
            earlier drugs keep their predictions.
        finetune_pathways
            Also fine-tune the pathway layer (earlier heads stay frozen). Without it, earlier
            drugs' predictions are unchanged exactly.
        progress
            Optional progress callback.

        Returns
        -------
        DosingModel
            ``self``.
        """
        from ._continual import add_drug

        self._check_fitted()
        return add_drug(self, X, rehearsal=rehearsal, finetune_pathways=finetune_pathways,
                        progress=progress)

    # -- predict ------------------------------------------------------------------------------
    def _predict_t(self, feats: pd.DataFrame, drug: np.ndarray) -> np.ndarray:
        import torch

        inputs = self._tensors(feats)
        self.module_.eval()
        out = np.full(len(feats), np.nan)
        with torch.no_grad():
            shared = self.module_.encode(inputs)
            for d in set(drug):
                if d not in self.module_.heads:
                    raise InputError(f"no head for drug {d!r}; this model knows "
                                     f"{', '.join(self.drugs_)}")
                keep = drug == d
                out[keep] = self.module_.heads[d](shared[torch.from_numpy(keep)]).numpy()
        return out

    def _drug_column(self, X: pd.DataFrame, drug: str | None) -> np.ndarray:
        if drug is not None:
            return np.full(len(X), drug, dtype=object)
        if "drug" in X:
            return X["drug"].astype(str).to_numpy()
        return np.full(len(X), self.drugs_[0], dtype=object)

    def predict(self, X: pd.DataFrame, *, drug: str | None = None) -> np.ndarray:
        """Predicted stable dose in mg/week for each row.

        Parameters
        ----------
        X
            Tidy patients; each row's ``drug`` column picks the head (or ``drug``).
        drug
            Predict this drug for every row.
        """
        self._check_fitted()
        X = X.reset_index(drop=True)
        feats, _ = feature_table(X)
        return TRANSFORMS[self.target][1](self._predict_t(feats, self._drug_column(X, drug)))

    def predict_interval(self, X: pd.DataFrame, *, drug: str | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(dose, lower, upper)`` in mg/week with split-conformal ``1 - alpha`` intervals."""
        pred = self.predict(X, drug=drug)
        drugs = self._drug_column(X.reset_index(drop=True), drug)
        lo, hi = np.full(len(pred), np.nan), np.full(len(pred), np.nan)
        for d in set(drugs):
            keep = drugs == d
            lo[keep], hi[keep] = conformal_interval(pred[keep], self.conformal_q_.get(d, np.inf),
                                                    transform=self.target)
        return pred, lo, hi

    def pathway_activity(self, X: pd.DataFrame) -> pd.DataFrame:
        """Enzyme activities relative to the reference patient (1.0), one column per pathway.

        A pathway whose gene was never genotyped in training is NaN (not identifiable).
        """
        import torch

        self._check_fitted()
        feats, _ = feature_table(X.reset_index(drop=True))
        t = self._tensors(feats)
        with torch.no_grad():
            act = self.module_.encoder.log_activity(t["genetic"], t["comed"]).exp().numpy()
        out = pd.DataFrame(act, columns=self.pathway_names_, index=X.index)
        for name, gene in PATHWAY_GENES.items():
            if gene in self.untrained_genes_ and name in out:
                out[name] = np.nan
        return out

    def range_warnings(self, X: pd.DataFrame) -> list[list[str]]:
        """Per-row warnings for covariates outside the training range or imputed."""
        self._check_fitted()
        feats, warnings = feature_table(X.reset_index(drop=True))
        for i, row in enumerate(feats[list(_CONT)].itertuples(index=False)):
            for col, value in zip(_CONT, row, strict=True):
                s = self.standardisation_[col]
                if np.isnan(value):
                    warnings[i].append(f"{col} missing (imputed with the training median "
                                       f"{s['median']:.4g})")
                elif not s["min"] <= value <= s["max"]:
                    warnings[i].append(f"{col}={value:.4g} outside the training range "
                                       f"[{s['min']:.4g}, {s['max']:.4g}]")
        for gene in getattr(self, "untrained_genes_", ()):
            flag = GENE_FEATURES[gene][1]
            for i in np.flatnonzero(feats[flag].to_numpy() == 0):
                warnings[i].append(f"{gene} genotype given but this model was trained without "
                                   f"{gene} genotypes; treated as unknown")
        for i, drug in enumerate(self._drug_column(X.reset_index(drop=True), None)):
            if not np.isfinite(self.conformal_q_.get(drug, np.inf)):
                warnings[i].append(f"no calibrated interval for {drug}")
        return warnings

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, **metadata) -> Path:
        """Save to ``directory`` (``model.safetensors`` + ``config.json``, kind ``"dosing"``).

        Parameters
        ----------
        directory
            Output folder (created).
        **metadata
            More JSON-ready data for ``config.json`` (data fingerprint, metrics, ...).
        """
        from ._persist import save_dosing_model

        self._check_fitted()
        return save_dosing_model(self, directory, **metadata)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> DosingModel:
        """Rebuild a saved model (strict weight check).

        Parameters
        ----------
        directory
            A folder written by :meth:`save`.
        """
        from ._persist import load_dosing_model

        return load_dosing_model(cls, directory)
