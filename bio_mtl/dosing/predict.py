"""Dose predictions as a user reads them: one patient in full, or a table of patients.

:func:`predict_patient` gives one patient's dose and interval with everything shown beside it
(genotypes with CPIC phenotypes, pathway activities, the published IWPC dose, warnings);
:func:`predict_table` adds the predictions to a patient table as new columns. ``biomtl dose``
only parses its options and prints these results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputError
from .advice import iwpc_scope_note, warfarin_warnings
from .alleles import genes
from .covariates import PLAUSIBLE, check_plausible
from .features import tidy_patients
from .genotypes import PatientGenotype
from .iwpc import iwpc_pharmacogenetic_dose
from .table_genotypes import row_genotypes

if TYPE_CHECKING:
    from .model import DosingModel

__all__ = ["ADDED_COLUMNS", "NO_ANCESTRY", "PLAUSIBLE", "PatientDose", "ancestry_missing",
           "genotype_rows", "iwpc_dose", "patient_frame", "predict_patient", "predict_table"]

#: Columns :func:`predict_table` adds (plus one ``activity_<gene>`` per pathway before
#: ``warnings``).
ADDED_COLUMNS = ("dose_mg_per_week", "dose_lower", "dose_upper", "warnings")
#: The warning for a patient whose ancestry is not given.
NO_ANCESTRY = "ancestry not given: modelled as IWPC 'missing or mixed race'"


@dataclass
class PatientDose:
    """One patient's predicted dose and what is shown beside it.

    Attributes
    ----------
    drug
        The drug (model head).
    dose, lower, upper
        Predicted weekly dose and its conformal interval (mg/week).
    coverage
        Nominal coverage of the interval (``1 - alpha``).
    iwpc
        The published IWPC pharmacogenetic dose (warfarin only; ``None`` when height or
        weight is missing or for another drug).
    iwpc_note
        What the IWPC formula could not score for this patient (e.g. CYP2C9 *6/*6 scored as
        "genotype unknown"), or ``None``.
    activity
        ``{pathway: activity relative to the reference patient}`` (NaN: gene not learned).
    genotypes
        :func:`genotype_rows` of the patient.
    warnings
        Imputed or out-of-range covariates, ignored genotypes, unknown genes, and for
        warfarin the CPIC 2017 advice and a dose below the smallest dispensable one
        (:func:`~bio_mtl.dosing.advice.warfarin_warnings`).
    """

    drug: str
    dose: float
    lower: float
    upper: float
    coverage: float
    iwpc: float | None
    activity: dict[str, float] = field(default_factory=dict)
    genotypes: list[tuple] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    iwpc_note: str | None = None


def patient_frame(genotype: PatientGenotype, *, age: float, weight: float | None = None,
                  height: float | None = None, ancestry: str | None = None,
                  amiodarone: bool = False, inducer: bool = False,
                  drug: str = "warfarin") -> pd.DataFrame:
    """A one-row tidy patient table (:func:`~bio_mtl.dosing.features.tidy_patients`).

    Parameters
    ----------
    genotype
        The patient's genotypes.
    age, weight, height
        Years, kg and cm (weight and height may be missing).
    ancestry
        ``white``, ``asian``, ``black``, ``other`` or ``None`` (IWPC missing or mixed race).
    amiodarone, inducer
        Co-medications (carbamazepine, phenytoin or rifampin for ``inducer``).
    drug
        The drug to predict.

    Raises
    ------
    InputError
        A value outside :data:`~bio_mtl.dosing.covariates.PLAUSIBLE` (the same bounds as
        for a table of patients).
    """
    for key, name, value in (("age", "age", age), ("weight", "weight_kg", weight),
                             ("height", "height_cm", height)):
        check_plausible(name, value, label=f"--{key}")
    row = {"patient_id": "patient", "age": age, "weight_kg": weight, "height_cm": height,
           "ancestry": ancestry, "amiodarone": int(amiodarone), "inducer": int(inducer),
           "drug": drug, "genotype": "(given)"}
    frame = tidy_patients(pd.DataFrame([row]))
    frame["genotype"] = pd.Series([genotype], index=frame.index, dtype=object)
    return frame


def iwpc_dose(frame: pd.DataFrame, genotype: PatientGenotype) -> float | None:
    """The IWPC pharmacogenetic warfarin dose (mg/week) of a one-row :func:`patient_frame`.

    ``None`` when it cannot be computed (height or weight missing).
    """
    f = frame.copy()
    f["cyp2c9"] = [genotype.diplotypes.get("CYP2C9")]
    count = genotype.features().get("VKORC1_1639A_count", math.nan)
    f["vkorc1"] = [None if math.isnan(count) else {0: "G/G", 1: "A/G", 2: "A/A"}.get(int(count))]
    dose = iwpc_pharmacogenetic_dose(f)[0]
    return None if not np.isfinite(dose) else float(dose)


def genotype_rows(genotype: PatientGenotype) -> list[tuple[str, str, object, str]]:
    """``(gene, genotype, CPIC activity score, CPIC phenotype)`` for every gene of the table.

    Only CYP2C9 has a CPIC activity score; CYP2C19 has a phenotype only (``"-"`` in the score
    column). VKORC1 has no star alleles: its -1639G>A genotype is shown on the gene's (minus)
    strand, i.e. the plus-strand rs9923231 C/T as G/A.

    Examples
    --------
    >>> from bio_mtl.dosing.genotypes import parse_genotype_string
    >>> [r for r in genotype_rows(parse_genotype_string("rs9923231=C/T")) if r[0] == "VKORC1"]
    [('VKORC1', '-1639 G/A', '-', 'no CPIC phenotype')]
    """
    rows = []
    for gene in genes():
        if gene in genotype.phenotypes:
            rows.append((gene, genotype.diplotypes.get(gene, "-"),
                         genotype.activity.get(gene, "-"), genotype.phenotypes[gene]))
            continue
        typed = genotype.diplotypes.get(gene)
        if gene == "VKORC1" and "rs9923231" in genotype.variants:
            minus = genotype.variants["rs9923231"].replace("C", "G").replace("T", "A")
            typed = f"-1639 {minus}"
        rows.append((gene, typed or "-", "-",
                     "no CPIC phenotype" if typed else "unknown (not genotyped)"))
    return rows


def predict_patient(model: DosingModel, genotype: PatientGenotype, *, age: float,
                    weight: float | None = None, height: float | None = None,
                    ancestry: str | None = None, amiodarone: bool = False,
                    inducer: bool = False, drug: str = "warfarin") -> PatientDose:
    """One patient's dose, interval, pathway activities, IWPC dose and warnings.

    Parameters
    ----------
    model
        A fitted :class:`~bio_mtl.dosing.model.DosingModel`.
    genotype, age, weight, height, ancestry, amiodarone, inducer, drug
        As for :func:`patient_frame`. A missing ancestry is not warned about here (see
        :data:`NO_ANCESTRY`).

    Returns
    -------
    PatientDose
        The result.
    """
    frame = patient_frame(genotype, age=age, weight=weight, height=height, ancestry=ancestry,
                          amiodarone=amiodarone, inducer=inducer, drug=drug)
    pred, lo, hi = model.predict_interval(frame, drug=drug)
    act = model.pathway_activity(frame).iloc[0]
    advice = warfarin_warnings(genotype, ancestry=ancestry, dose=float(pred[0])) \
        if drug == "warfarin" else []
    return PatientDose(drug=drug, dose=float(pred[0]), lower=float(lo[0]), upper=float(hi[0]),
                       coverage=1 - model.alpha,
                       iwpc=iwpc_dose(frame, genotype) if drug == "warfarin" else None,
                       activity={k: float(v) for k, v in act.items()},
                       genotypes=genotype_rows(genotype),
                       warnings=model.range_warnings(frame)[0] + advice,
                       iwpc_note=iwpc_scope_note(genotype) if drug == "warfarin" else None)


def ancestry_missing(raw: pd.DataFrame) -> np.ndarray:
    """Rows of a patient table whose ancestry cell is blank (all rows if it has no column)."""
    cols = {str(c).strip().lower(): c for c in raw.columns}
    col = cols.get("ancestry", cols.get("race (omb)"))
    if col is None:
        return np.ones(len(raw), dtype=bool)
    cells = raw[col].reset_index(drop=True)
    return (cells.isna() | cells.astype(str).str.strip().eq("")).to_numpy()


def predict_table(model: DosingModel, raw: pd.DataFrame, frame: pd.DataFrame, *,
                  path: object = None) -> tuple[pd.DataFrame, list[str]]:
    """``raw`` with the predictions added as columns (:data:`ADDED_COLUMNS`).

    Parameters
    ----------
    model
        A fitted :class:`~bio_mtl.dosing.model.DosingModel`.
    raw, frame
        The table as read and its tidy form, row for row
        (:func:`~bio_mtl.dosing.features.read_dose_table`).
    path
        The file the table came from, for error messages.

    Returns
    -------
    tuple
        ``(table, renamed)``: input columns whose name clashes with an added one are kept as
        ``<name>_input`` and listed in ``renamed``.

    Raises
    ------
    InputError
        A drug the model has no head for (naming the file and row).
    """
    try:
        pred, lo, hi = model.predict_interval(frame)
    except InputError as exc:
        if exc.path is not None or path is None:
            raise
        raise InputError(exc.problem, path=path, record=exc.record) from None
    act = model.pathway_activity(frame)
    warnings = model.range_warnings(frame)
    for i in np.flatnonzero(ancestry_missing(raw)):
        warnings[i].insert(0, NO_ANCESTRY)
    drugs = frame["drug"].astype(str).to_numpy() if "drug" in frame else \
        np.full(len(frame), model.drugs_[0])
    ancestry = frame["ancestry"].to_numpy()
    for i, geno in enumerate(row_genotypes(frame, path=path)):
        if drugs[i] == "warfarin":
            warnings[i] += warfarin_warnings(geno, ancestry=ancestry[i], dose=float(pred[i]))
    added = {"dose_mg_per_week": np.round(pred, 2), "dose_lower": np.round(lo, 2),
             "dose_upper": np.round(hi, 2)}
    for col in act.columns:
        added["activity_" + col.split()[0].lower()] = np.round(act[col].to_numpy(), 4)
    added["warnings"] = ["; ".join(w) for w in warnings]
    out = raw.copy().reset_index(drop=True)
    renamed = [c for c in added if c in out.columns]
    out = out.rename(columns={c: f"{c}_input" for c in renamed})
    for col, values in added.items():
        out[col] = values
    return out, renamed
