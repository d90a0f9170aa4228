"""Dissecting a dosing model: per-patient shared-layer output and covariates as an AnnData.

The shared layer of :class:`~bio_mtl.dosing.DosingModel` turns genotypes and co-medications into
a few log enzyme activities relative to a reference patient
(:meth:`~bio_mtl.dosing.DosingModel.pathway_activity`), and clinical covariates into one shared
clinical score; every drug head reads both. :func:`dose_anndata` puts, per patient:

- ``obsm["X_dose"]``: a DataFrame whose columns are the log pathway activities (named after the
  pathways, e.g. ``CYP2C9 clearance``) and ``clinical score``; dissection names its dimensions
  after these columns;
- ``obs``: ``age_decades``, ``height_cm``, ``weight_kg``, ``ancestry``, ``amiodarone``,
  ``inducer``, the genotypes as categories (``cyp2c9`` diplotype with rare ones pooled as
  ``other``, ``vkorc1`` -1639 genotype), their numeric forms (``cyp2c9_activity`` = CPIC
  activity score, ``vkorc1_a`` = -1639A allele count), the stable dose, and ``site``
  (IWPC project site, the batch-like key);
- ``X``: no columns (a dose latent has no genes; enrichment is skipped).

:func:`dose_source` is the adapter of checkpoint kind ``"dosing"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import torch

from ...dosing.features import CLINICAL_FEATURES, feature_table, genetic_values, read_dose_table
from ...errors import ConfigError
from ...mtl.estimator import Estimator, load_estimator
from ..latent import LatentSource, describe_model

__all__ = ["DOSE_COVARIATES", "dose_anndata", "dose_source", "shared_layer_output"]

#: The ``obs`` columns :func:`dose_anndata` offers as covariates (when present in the table).
DOSE_COVARIATES = ("age_decades", "weight_kg", "height_cm", "ancestry", "amiodarone",
                   "inducer", "cyp2c9", "cyp2c9_activity", "vkorc1", "vkorc1_a",
                   "dose_mg_per_week")


def shared_layer_output(model, patients):
    """Log pathway activities and the shared clinical score of each patient.

    Parameters
    ----------
    model
        A fitted :class:`~bio_mtl.dosing.DosingModel`.
    patients
        A tidy patient table (:func:`bio_mtl.dosing.tidy_patients`).

    Returns
    -------
    pandas.DataFrame
        Index of ``patients``; one column per pathway (``log`` of
        :meth:`~bio_mtl.dosing.DosingModel.pathway_activity`, 0 = the reference patient) and
        ``clinical score`` (the linear clinical term every head shares: covariates imputed with
        the training medians and standardised as the model does, times the layer's weights).
    """
    act = np.log(model.pathway_activity(patients))
    feats, _ = feature_table(patients.reset_index(drop=True))
    clin = feats[list(CLINICAL_FEATURES)].astype(float).copy()
    for col, s in model.standardisation_.items():
        clin[col] = (clin[col].fillna(s["median"]) - s["mean"]) / s["std"]
    weight = model.module_.encoder.clinical.weight.detach().to(torch.float64).numpy()  # (1, C)
    act["clinical score"] = clin.to_numpy(dtype=np.float64) @ weight[0]
    return act


def _group_rare(values, min_count: int):
    s = pd.Series(values, dtype=object)
    counts = s.value_counts()
    rare = set(counts[counts < min_count].index)
    return s.map(lambda v: "other" if v in rare else v).where(s.notna(), None)


def dose_anndata(patients, model, *, min_level_count: int = 10):
    """An AnnData of patients: the dose model's shared-layer output and clinical covariates.

    Parameters
    ----------
    patients
        A tidy patient table (:func:`bio_mtl.dosing.tidy_patients`, or
        ``read_iwpc(...).frame``).
    model
        A fitted :class:`~bio_mtl.dosing.DosingModel`.
    min_level_count
        Genotype categories with fewer patients are pooled as ``"other"``.

    Returns
    -------
    anndata.AnnData
        ``n_patients x 0``: ``obsm["X_dose"]`` (DataFrame, see :func:`shared_layer_output`;
        pathways that are NaN for every patient, i.e. whose gene the model never saw
        genotyped, are left out), ``obs`` with the :data:`DOSE_COVARIATES` that the table has
        and ``site``, ``uns["biomtl_dose_latent"]["params"]`` (dimensions, the dropped ones,
        ``min_level_count``).
    """
    patients = patients.reset_index(drop=True)
    latent = shared_layer_output(model, patients)
    # a pathway whose gene was never genotyped in training is NaN for everyone (not
    # identifiable): it is left out and listed, rather than failing the whole latent
    dropped = [c for c in latent.columns if latent[c].isna().all()]
    latent = latent.drop(columns=dropped)
    obs = pd.DataFrame(index=pd.Index(
        patients["patient_id"].astype(str) if "patient_id" in patients
        else [f"patient{i + 1}" for i in range(len(patients))], name="patient_id"))
    for col in ("age_decades", "weight_kg", "height_cm", "dose_mg_per_week"):
        if col in patients:
            obs[col] = pd.to_numeric(patients[col], errors="coerce").to_numpy()
    for col in ("amiodarone", "inducer"):
        if col in patients:
            obs[col] = patients[col].map({0: "no", 1: "yes"}).to_numpy()
    if "ancestry" in patients:
        obs["ancestry"] = pd.Categorical(patients["ancestry"].astype(str))
    for col in ("cyp2c9", "vkorc1"):
        if col in patients:
            obs[col] = pd.Categorical(_group_rare(patients[col], min_level_count))
    gv, _ = genetic_values(patients)
    obs["cyp2c9_activity"] = gv["cyp2c9_activity"].to_numpy(dtype=float)
    obs["vkorc1_a"] = gv["vkorc1_a"].to_numpy(dtype=float)
    if "site" in patients:
        obs["site"] = pd.Categorical(patients["site"].astype(str))
    if not obs.index.is_unique:
        obs.index = pd.Index([f"{p}#{i + 1}" for i, p in enumerate(obs.index)])
    adata = ad.AnnData(obs=obs)
    latent.index = obs.index
    adata.obsm["X_dose"] = latent
    adata.uns["biomtl_dose_latent"] = {"params": {
        "latent": "log pathway activities and the shared clinical score",
        "dimensions": list(latent.columns), "dropped_all_nan": dropped,
        "min_level_count": min_level_count}}
    return adata


def dose_source(model, data: Sequence, *, n_components: int = 10, seed: int = 0,
                path: object = None) -> LatentSource:
    """Adapter for a dosing model (see :mod:`bio_mtl.dissect.adapters`).

    Parameters
    ----------
    model
        A dosing checkpoint folder, a shipped name (``warfarin_iwpc_v1``) or a fitted
        :class:`~bio_mtl.dosing.DosingModel`.
    data
        One table: ``"iwpc"``, an IWPC-format file or a tidy dosing file.
    n_components, seed, path
        Unused (a dose latent is narrow; nothing is random; inputs are files).

    Returns
    -------
    LatentSource
        ``obsm["X_dose"]``, the :data:`DOSE_COVARIATES` with more than one value, and
        ``site`` as the batch key when there are several sites.

    Raises
    ------
    ConfigError
        Not exactly one table, or an AnnData instead of a table.
    """
    del n_components, seed, path
    if len(data) != 1 or hasattr(data[0], "obs"):
        raise ConfigError(f"a dosing model takes one --data table ('iwpc' or a file), got "
                          f"{len(data) if len(data) != 1 else 'an AnnData'}")
    _, patients, info = read_dose_table(data[0])
    est = model if isinstance(model, Estimator) else load_estimator(model, kind="dosing")
    adata = dose_anndata(patients, est)
    adata.uns["biomtl_dose_latent"]["params"].update(
        model=describe_model(model), source=str(info.get("source")), sha256=info.get("sha256"))
    covariates = [c for c in DOSE_COVARIATES if c in adata.obs
                  and adata.obs[c].notna().any() and adata.obs[c].nunique() > 1]
    batch = "site" if "site" in adata.obs and adata.obs["site"].nunique() > 1 else None
    return LatentSource(adata, "X_dose", ["X_dose"], covariates, batch,
                        model=describe_model(model))
