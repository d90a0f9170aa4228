"""DosingModel: a shared metabolic-pathway layer with one head per drug (an engine estimator).

A thin estimator on the bio_mtl engine: the :class:`~bio_mtl.mtl.MultiTaskModel` is assembled
from the registries (``ENCODERS["pathway"]``, one ``HEADS["drug"]`` per drug), trained by the
:class:`~bio_mtl.mtl.trainer.Trainer` with one regression :class:`~bio_mtl.mtl.TaskSpec` per
drug on :class:`~bio_mtl.mtl.batches.TensorBatches` of a long table of (patient, drug, stable
dose) rows (each row carries a target for its own drug only, so losses are masked and a patient
may have doses for one drug or several), extended with :mod:`bio_mtl.mtl.transfer`
(:meth:`DosingModel.add_drug`) and saved through :class:`~bio_mtl.mtl.estimator.Estimator`
(checkpoint kind ``"dosing"``). Prediction intervals are split-conformal, calibrated on a
deterministic held-out share of each drug's patients.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .._progress import ProgressCallback
from ..errors import InputError
from ..mtl import MultiTaskModel, TaskSpec
from ..mtl.batches import TensorBatches
from ..mtl.checkpoint import load_weights
from ..mtl.estimator import Estimator
from ..mtl.trainer import TrainConfig, Trainer
from ..mtl.transfer import train_new_task, unfreeze_all
from ._inputs import (
    build_module,
    calibration_mask,
    check_params,
    concat_rows,
    covariate_warnings,
    dose_targets,
    drug_column,
    drug_head,
    fit_standardisation,
    model_tensors,
    one_thread,
    rehearsal_targets,
    table_batches,
)
from .conformal import TRANSFORMS, conformal_interval, conformal_quantile
from .features import (
    CLINICAL_FEATURES,
    COMED_FEATURES,
    GENE_FEATURES,
    PATHWAY_GENES,
    feature_table,
)

__all__ = ["DosingModel"]


class DosingModel(Estimator):
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
    cyp2c9_poor_metabolizer
        Learn an extra lowering of CYP2C9 clearance for CPIC poor metabolizers (activity
        score AS <= 0.5: *2/*3, *3/*3, ...), proportional to ``max(0, 1 - AS)``, on top of the
        per-allele effects, which add up to too little for them (docs/dose.md). Off by default
        so that models saved without it load and retrain unchanged; the shipped
        ``warfarin_iwpc_v1`` uses it.
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

    kind = "dosing"

    def __init__(self, *, hidden: int = 0, target: str = "log", loss: str = "mse",
                 vkorc1_by_ancestry: bool = True, cyp2c9_poor_metabolizer: bool = False,
                 epochs: int = 80, lr: float = 0.03,
                 batch_size: int = 512, weight_decay: float = 1e-4, alpha: float = 0.1,
                 calibration_fraction: float = 0.15, seed: int = 0) -> None:
        self.hidden = hidden
        self.target = target
        self.loss = loss
        self.vkorc1_by_ancestry = vkorc1_by_ancestry
        self.cyp2c9_poor_metabolizer = cyp2c9_poor_metabolizer
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.alpha = alpha
        self.calibration_fraction = calibration_fraction
        self.seed = seed

    # -- engine pieces ------------------------------------------------------------------------
    def _build(self, drugs: list[str], intercepts: dict[str, float] | None = None
               ) -> MultiTaskModel:
        return build_module(drugs, intercepts or {}, hidden=self.hidden,
                            vkorc1_by_ancestry=self.vkorc1_by_ancestry,
                            cyp2c9_poor_metabolizer=self.cyp2c9_poor_metabolizer)

    def _tasks(self, drugs: list[str]) -> list[TaskSpec]:
        return [TaskSpec(name=d, kind="regression", loss=self.loss, metrics=("mae",))
                for d in drugs]

    def _train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           weight_decay=self.weight_decay, grad_clip=5.0, seed=self.seed)

    def _tensors(self, feats: pd.DataFrame) -> dict[str, torch.Tensor]:
        return model_tensors(feats, self.standardisation_, self.untrained_genes_,
                             self.module_.encoder.genetic_inputs)

    def _batches(self, feats: pd.DataFrame, drug: np.ndarray, t: np.ndarray,
                 drugs: list[str]) -> TensorBatches:
        return table_batches(self._tensors(feats), drug, t, drugs,
                             batch_size=self.batch_size, seed=self.seed)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: None = None, *,
            progress: ProgressCallback | None = None) -> DosingModel:
        """Fit on a long tidy table (one row per patient and drug with ``dose_mg_per_week``).

        Under ``torchrun`` (an initialised process group) training runs with
        DistributedDataParallel; every rank ends with the same model.

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

        Raises
        ------
        ConfigError
            A hyperparameter of the wrong type or value (naming it).
        InputError
            A missing or non-positive dose (naming the row).
        """
        check_params(type(self), self.get_params(), where=type(self).__name__)
        X = X.reset_index(drop=True)
        feats, _ = feature_table(X)
        t = dose_targets(X, self.target)
        drug = X["drug"].astype(str).to_numpy()
        drugs = list(dict.fromkeys(drug))
        cal = calibration_mask(X, self.calibration_fraction, self.seed)
        self.standardisation_ = fit_standardisation(feats)
        self.untrained_genes_ = [g for g, (_, flag) in GENE_FEATURES.items()
                                 if bool((feats[flag] == 1).all())]
        torch.manual_seed(self.seed)
        self.module_ = self._build(drugs, {d: float(np.mean(t[drug == d])) for d in drugs})
        self.drugs_ = drugs
        self.pathway_names_ = self.module_.encoder.names
        trainer = Trainer(self.module_, self._tasks(drugs), self._train_config(),
                          progress=progress)
        with one_thread():
            trainer.fit(self._batches(feats[~cal], drug[~cal], t[~cal], drugs))
        self.history_ = trainer.history_
        self.conformal_q_ = {}
        self._calibrate(feats, drug, t, cal, drugs)
        return self

    def _calibrate(self, feats, drug, t, cal, drugs) -> None:
        pred = self._predict_t(feats, drug)
        for d in drugs:
            keep = cal & (drug == d)
            self.conformal_q_[d] = conformal_quantile(np.abs(t[keep] - pred[keep]), self.alpha)

    # -- add a drug (continual learning through mtl/transfer) ---------------------------------
    def add_drug(self, X: pd.DataFrame, *, rehearsal: pd.DataFrame | None = None,
                 finetune_pathways: bool = False,
                 progress: ProgressCallback | None = None) -> DosingModel:
        """Add one new drug's head, trained against the frozen pathway layer.

        The head is added and trained with :func:`bio_mtl.mtl.transfer.train_new_task`;
        earlier heads stay frozen. With ``finetune_pathways`` the shared layer is trained too,
        and rehearsal rows of earlier drugs are replayed with the model's own predictions
        (made before any update, :func:`bio_mtl.mtl.transfer.distillation_targets`) as
        targets, i.e. rehearsal by distillation (Li & Hoiem, IEEE TPAMI 2018;40:2935-47).

        Parameters
        ----------
        X
            Long tidy rows of the new drug only (``drug`` and ``dose_mg_per_week``).
        rehearsal
            Patients of earlier drugs (tidy rows with ``drug``; doses are not needed). Used
            only with ``finetune_pathways``.
        finetune_pathways
            Also fine-tune the pathway layer. Without it, earlier drugs' predictions are
            unchanged exactly.
        progress
            Optional progress callback.

        Returns
        -------
        DosingModel
            ``self``.

        Raises
        ------
        InputError
            Rows of no or several drugs, of a drug the model has, or rehearsal rows of a
            drug it does not have.
        """
        self.check_is_fitted()
        X = X.reset_index(drop=True)
        new = list(dict.fromkeys(X["drug"].astype(str)))
        if len(new) != 1 or new[0] in self.drugs_:
            raise InputError(f"add_drug needs rows of exactly one new drug, got {new}")
        feats, _ = feature_table(X)
        t = dose_targets(X, self.target)
        drug = X["drug"].astype(str).to_numpy()
        cal = calibration_mask(X, self.calibration_fraction, self.seed)
        rows = (feats[~cal], drug[~cal], t[~cal])
        if finetune_pathways:
            replay = self._rehearsal(rehearsal)  # targets from the model before any change
            rows = tuple(concat_rows(a, b) for a, b in zip(rows, replay, strict=True))
            # a gene typed in the new drug's rows becomes learnable
            self.untrained_genes_ = [g for g in self.untrained_genes_
                                     if bool((feats[GENE_FEATURES[g][1]] == 1).all())]
        self._train_new_head(new[0], rows, float(t.mean()), finetune_pathways, progress)
        self.drugs_ = [*self.drugs_, new[0]]
        self._calibrate(feats, drug, t, cal, [new[0]])
        return self

    def _rehearsal(self, rehearsal: pd.DataFrame | None):
        """``(features, drugs, targets)`` of earlier drugs' rows; targets = current output."""
        if rehearsal is None or not len(rehearsal):
            return pd.DataFrame(columns=[]), np.array([], dtype=object), np.array([])
        rehearsal = rehearsal.reset_index(drop=True)
        drugs = rehearsal["drug"].astype(str).to_numpy()
        unknown = sorted(set(drugs) - set(self.drugs_))
        if unknown:
            raise InputError(f"rehearsal rows of drugs the model does not have: {unknown}")
        feats, _ = feature_table(rehearsal)
        return feats, drugs, rehearsal_targets(self.module_, self._tensors(feats), drugs)

    def _train_new_head(self, name: str, rows, intercept: float, finetune: bool,
                        progress: ProgressCallback | None) -> None:
        torch.manual_seed(self.seed)
        head = drug_head(self.module_.encoder, intercept, hidden=self.hidden)
        names = [*self.drugs_, name]
        try:
            with one_thread():
                trainer = train_new_task(
                    self.module_, self._tasks([name])[0], head,
                    old_tasks=self._tasks(self.drugs_),
                    train_batches=self._batches(*rows, names), config=self._train_config(),
                    freeze=not finetune, freeze_old_heads=True, progress=progress)
        except BaseException:
            if name in self.module_.heads:
                del self.module_.heads[name]
            raise
        finally:
            unfreeze_all(self.module_)
        self.history_ = trainer.history_

    # -- predict ------------------------------------------------------------------------------
    def _predict_t(self, feats: pd.DataFrame, drug: np.ndarray) -> np.ndarray:
        """Transformed doses (each row through its drug's head)."""
        inputs = self._tensors(feats)
        self.module_.eval()
        out = np.full(len(feats), np.nan)
        with torch.no_grad():
            shared = self.module_.encode(inputs)
            for d in set(drug):
                keep = drug == d
                out[keep] = self.module_.heads[d](shared[torch.from_numpy(keep)])[:, 0].numpy()
        return out

    def predict(self, X: pd.DataFrame, *, drug: str | None = None) -> np.ndarray:
        """Predicted stable dose in mg/week for each row.

        Parameters
        ----------
        X
            Tidy patients; each row's ``drug`` column picks the head (or ``drug``).
        drug
            Predict this drug for every row.

        Returns
        -------
        numpy.ndarray
            ``(N,)`` doses in mg/week.

        Raises
        ------
        NotFittedError
            Before :meth:`fit` or :meth:`load`.
        InputError
            A drug the model has no head for (naming the row).
        """
        self.check_is_fitted()
        X = X.reset_index(drop=True)
        drugs = drug_column(X, drug, self.drugs_)
        feats, _ = feature_table(X)
        return TRANSFORMS[self.target][1](self._predict_t(feats, drugs))

    def predict_interval(self, X: pd.DataFrame, *, drug: str | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(dose, lower, upper)`` in mg/week with split-conformal ``1 - alpha`` intervals.

        Parameters
        ----------
        X, drug
            As for :meth:`predict`.
        """
        pred = self.predict(X, drug=drug)
        drugs = drug_column(X.reset_index(drop=True), drug, self.drugs_)
        lo, hi = np.full(len(pred), np.nan), np.full(len(pred), np.nan)
        for d in set(drugs):
            keep = drugs == d
            lo[keep], hi[keep] = conformal_interval(pred[keep], self.conformal_q_.get(d, np.inf),
                                                    transform=self.target)
        return pred, lo, hi

    def pathway_activity(self, X: pd.DataFrame) -> pd.DataFrame:
        """Enzyme activities relative to the reference patient (1.0), one column per pathway.

        A pathway whose gene was never genotyped in training is NaN (not identifiable).

        Parameters
        ----------
        X
            Tidy patients.
        """
        self.check_is_fitted()
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
        """Per-row warnings for covariates outside the training range or imputed.

        Parameters
        ----------
        X
            Tidy patients.
        """
        self.check_is_fitted()
        feats, warnings = feature_table(X.reset_index(drop=True))
        covariate_warnings(feats, warnings, self.standardisation_, self.untrained_genes_)
        for i, drug in enumerate(drug_column(X.reset_index(drop=True), None, self.drugs_)):
            if not np.isfinite(self.conformal_q_.get(drug, np.inf)):
                warnings[i].append(f"no calibrated interval for {drug}")
        return warnings

    # -- persistence (Estimator) --------------------------------------------------------------
    def _checkpoint(self) -> tuple[MultiTaskModel, dict]:
        return self.module_, {
            "drugs": self.drugs_, "untrained_genes": list(self.untrained_genes_),
            "pathways": self.pathway_names_, "standardisation": self.standardisation_,
            "conformal_q": {k: (None if not np.isfinite(v) else v)
                            for k, v in self.conformal_q_.items()},
            "features": {"genetic": list(self.module_.encoder.genetic_inputs),
                         "comed": list(COMED_FEATURES),
                         "clinical": list(CLINICAL_FEATURES)}}

    def _restore(self, config: dict, directory: Path) -> None:
        self.module_ = load_weights(self._build(list(config["drugs"])), directory).eval()
        self.drugs_ = list(config["drugs"])
        self.pathway_names_ = self.module_.encoder.names
        self.standardisation_ = config["standardisation"]
        self.untrained_genes_ = list(config.get("untrained_genes", []))
        self.conformal_q_ = {k: (np.inf if v is None else float(v))
                             for k, v in config["conformal_q"].items()}

    def save(self, directory: str | os.PathLike, **metadata) -> Path:
        """Save to ``directory`` (``model.safetensors`` + ``config.json``, kind ``"dosing"``).

        Parameters
        ----------
        directory
            Output folder (created).
        **metadata
            More JSON-ready data for ``config.json`` (data fingerprint, metrics, ...); the
            seed is recorded too.

        Returns
        -------
        Path
            ``directory``.
        """
        return super().save(directory, **{"seed": self.seed, **metadata})

