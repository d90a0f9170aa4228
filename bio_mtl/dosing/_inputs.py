"""What :class:`~bio_mtl.dosing.model.DosingModel` hands the engine: modules, tensors, batches.

The network is assembled from the engine's registries (``ENCODERS["pathway"]``,
``HEADS["drug"]``); inputs and targets are pure functions of a feature table
(:func:`~bio_mtl.dosing.features.feature_table`) and the fitted standardisation; the
hyperparameters are checked by name and type through the one config loader.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._random import hash_split
from ..errors import ConfigError, InputError
from ..mtl import MultiTaskModel
from ..mtl._dataclasses import dataclass_from_dict
from ..mtl.batches import TensorBatches
from ..mtl.encoders import get_encoder
from ..mtl.heads import get_head
from ..mtl.transfer import distillation_targets
from .conformal import TRANSFORMS
from .features import CLINICAL_FEATURES, COMED_FEATURES, GENE_FEATURES

__all__: list[str] = []

#: Continuous clinical covariates: imputed with the training median, then standardised.
CONTINUOUS = ("age_decades", "height_cm", "weight_kg")
#: Hyperparameters with a fixed set of values.
CHOICES = {"target": tuple(TRANSFORMS), "loss": ("mse", "huber", "l1")}


def build_module(drugs: list[str], intercepts: Mapping[str, float], *, hidden: int,
                 vkorc1_by_ancestry: bool, cyp2c9_poor_metabolizer: bool = False
                 ) -> MultiTaskModel:
    """The pathway encoder and one drug head per drug (initial bias from ``intercepts``)."""
    encoder = get_encoder("pathway", vkorc1_by_ancestry=vkorc1_by_ancestry,
                          cyp2c9_poor_metabolizer=cyp2c9_poor_metabolizer)
    return MultiTaskModel(encoder, {d: drug_head(encoder, intercepts.get(d, 0.0), hidden=hidden)
                                    for d in drugs})


def drug_head(encoder: torch.nn.Module, intercept: float, *, hidden: int) -> torch.nn.Module:
    """A :class:`~bio_mtl.dosing.pathway.DrugHead` fitting ``encoder``'s features."""
    return get_head("drug", encoder.out_dim, 1, n_linear=encoder.n_linear, hidden=hidden,
                    intercept=intercept)


def table_batches(tensors: dict[str, torch.Tensor], drug: np.ndarray, t: np.ndarray,
                  drugs: list[str], *, batch_size: int, seed: int) -> TensorBatches:
    """Shuffled mini-batches; drug ``d``'s target is NaN (missing) on other drugs' rows."""
    targets = {d: torch.tensor(np.where(drug == d, t, np.nan), dtype=torch.float32)
               for d in drugs}
    return TensorBatches(tensors, targets, batch_size=batch_size, shuffle=True, seed=seed)


def rehearsal_targets(module: MultiTaskModel, tensors: dict[str, torch.Tensor],
                      drugs: np.ndarray) -> np.ndarray:
    """Each row's current output for its own drug: targets for rehearsal by distillation."""
    rows = {d: drugs == d for d in dict.fromkeys(drugs)}
    targets = distillation_targets(module, tensors, rows)
    t = np.full(len(drugs), np.nan)
    for d, keep in rows.items():
        t[keep] = targets[d][torch.from_numpy(keep), 0].numpy()
    return t


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Train on one torch thread: a model this small is fastest (and deterministic) on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def fit_standardisation(feats: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Median, mean, standard deviation and training range of each continuous covariate."""
    std = {}
    for col in CONTINUOUS:
        values = feats[col].dropna().to_numpy()
        med = float(np.median(values)) if values.size else 0.0
        filled = feats[col].fillna(med).to_numpy()
        std[col] = {"median": med, "mean": float(filled.mean()),
                    "std": float(filled.std() or 1.0),
                    "min": float(values.min()) if values.size else med,
                    "max": float(values.max()) if values.size else med}
    return std


def model_tensors(feats: pd.DataFrame, standardisation: Mapping[str, Mapping[str, float]],
                  untrained_genes: list[str], genetic: Sequence[str]
                  ) -> dict[str, torch.Tensor]:
    """``{"genetic", "comed", "clinical"}`` float32 tensors, the pathway encoder's inputs.

    ``genetic`` names the genetic columns, in the encoder's order
    (:attr:`~bio_mtl.dosing.pathway.PathwayEncoder.genetic_inputs`).

    Genes in ``untrained_genes`` are zeroed (their weights never received a gradient, so they
    stay at 0: the gene is treated as not genotyped).
    """
    feats = feats.copy()
    for gene in untrained_genes:
        cols, flag = GENE_FEATURES[gene]
        feats[[*cols, flag]] = 0.0
    clin = feats[list(CLINICAL_FEATURES)].copy()
    for col, s in standardisation.items():
        clin[col] = (clin[col].fillna(s["median"]) - s["mean"]) / s["std"]

    def tensor(frame: pd.DataFrame) -> torch.Tensor:
        return torch.tensor(frame.to_numpy(), dtype=torch.float32)

    return {"genetic": tensor(feats[list(genetic)]),
            "comed": tensor(feats[list(COMED_FEATURES)]), "clinical": tensor(clin)}


def dose_targets(frame: pd.DataFrame, target: str, *, path: object = None) -> np.ndarray:
    """The ``dose_mg_per_week`` column on the ``target`` scale (log or sqrt).

    Raises
    ------
    InputError
        For a dose that is missing, not a number or not positive (naming the row).
    """
    dose = pd.to_numeric(frame["dose_mg_per_week"], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(dose) & (dose > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("dose_mg_per_week must be a positive number for training",
                         path=path, record=f"row {i + 1}")
    return TRANSFORMS[target][0](dose)


def calibration_mask(frame: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Rows held out for conformal calibration: a hash of ``drug:patient_id`` (no RNG)."""
    if not fraction:
        return np.zeros(len(frame), dtype=bool)
    keys = (frame["drug"].astype(str) + ":" + frame["patient_id"].astype(str)).tolist()
    return hash_split(keys, fraction, salt=f"dose-cal-{seed}")


@functools.cache
def _params_dataclass(cls: type) -> type:
    """A frozen dataclass mirroring ``cls.__init__``'s keyword parameters and annotations."""
    hints = typing.get_type_hints(cls.__init__)
    fields = [(name, hints.get(name, Any), dataclasses.field(default=p.default))
              for name, p in inspect.signature(cls.__init__).parameters.items()
              if name != "self"]
    return dataclasses.make_dataclass(f"{cls.__name__}Params", fields, frozen=True)


def check_params(cls: type, values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Check estimator hyperparameters by name, type and allowed values.

    Goes through the one config loader
    (:func:`~bio_mtl.mtl._dataclasses.dataclass_from_dict`) with a dataclass made from the
    ``__init__`` signature, so the names and types are those of the estimator itself.

    Returns
    -------
    dict
        ``values`` (unchanged).

    Raises
    ------
    ConfigError
        Naming the key: unknown (listing the valid ones), of the wrong type, or not one of
        :data:`CHOICES`.
    """
    dataclass_from_dict(_params_dataclass(cls), dict(values), where=where)
    for key, allowed in CHOICES.items():
        if key in values and values[key] not in allowed:
            raise ConfigError(f"{where}: {key}: {values[key]!r} is not one of "
                              f"{', '.join(allowed)}")
    return dict(values)


def concat_rows(a, b):
    """Rows of ``b`` below those of ``a`` (feature tables or arrays)."""
    if isinstance(a, pd.DataFrame):
        return pd.concat([a, b], ignore_index=True) if len(b) else a
    return np.concatenate([a, b]) if len(b) else a


def drug_column(frame: pd.DataFrame, drug: str | None, known: list[str]) -> np.ndarray:
    """Each row's drug: ``drug``, else the ``drug`` column, else the first of ``known``.

    Raises
    ------
    InputError
        A drug outside ``known`` (naming the first such row).
    """
    message = "no model head for drug {!r}; this model knows " + ", ".join(known)
    if drug is not None:
        if drug not in known:
            raise InputError(message.format(drug))
        return np.full(len(frame), drug, dtype=object)
    if "drug" not in frame:
        return np.full(len(frame), known[0], dtype=object)
    drugs = frame["drug"].astype(str).to_numpy()
    unknown = np.flatnonzero(~np.isin(drugs, known))
    if unknown.size:
        i = int(unknown[0])
        raise InputError(message.format(drugs[i]), record=f"row {i + 1}")
    return drugs


def covariate_warnings(feats: pd.DataFrame, warnings: list[list[str]],
                       standardisation: Mapping[str, Mapping[str, float]],
                       untrained_genes: list[str]) -> list[list[str]]:
    """Add per-row warnings: imputed or out-of-range covariates, genes the model ignores."""
    for i, row in enumerate(feats[list(CONTINUOUS)].itertuples(index=False)):
        for col, value in zip(CONTINUOUS, row, strict=True):
            s = standardisation[col]
            if np.isnan(value):
                warnings[i].append(f"{col} missing (imputed with the training median "
                                   f"{s['median']:.4g})")
            elif not s["min"] <= value <= s["max"]:
                warnings[i].append(f"{col}={value:.4g} outside the training range "
                                   f"[{s['min']:.4g}, {s['max']:.4g}]")
    for gene in untrained_genes:
        flag = GENE_FEATURES[gene][1]
        for i in np.flatnonzero(feats[flag].to_numpy() == 0):
            warnings[i].append(f"{gene} genotype given but this model was trained without "
                               f"{gene} genotypes; treated as unknown")
    return warnings
