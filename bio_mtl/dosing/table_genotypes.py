"""Genotypes of patient-table rows, read by the one parser that ``--genotype`` uses.

A tidy patient table gives genotypes as one ``genotype`` string (the ``--genotype`` syntax)
and/or per-gene columns (:data:`GENE_COLUMNS`: ``cyp2c9`` diplotype, ``vkorc1`` -1639 genotype
on either strand, ``cyp4f2`` rs2108622 genotype or diplotype, ``cyp2c19`` diplotype). Each row's
cells are joined into one ``--genotype`` string and parsed by
:func:`~bio_mtl.dosing.genotypes.parse_genotype_string`, so ``T/T``, ``AA`` and ``a/a`` read
the same in a table as on the command line.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from ..errors import InputError
from .genotypes import PatientGenotype, parse_genotype_string

__all__ = ["GENE_COLUMNS", "genetic_values", "iwpc_genotype_columns", "row_genotypes"]

#: Per-gene table columns and their genes.
GENE_COLUMNS = (("cyp2c9", "CYP2C9"), ("vkorc1", "VKORC1"), ("cyp4f2", "CYP4F2"),
                ("cyp2c19", "CYP2C19"))
_FEATURE_KEYS = {"cyp2c9_activity": "CYP2C9_activity", "cyp2c9_star2": "CYP2C9_star2_count",
                 "cyp2c9_star3": "CYP2C9_star3_count", "vkorc1_a": "VKORC1_1639A_count",
                 "cyp4f2_t": "CYP4F2_rs2108622_T_count",
                 "cyp2c19_function": "CYP2C19_function_sum"}
_NONE_TYPED = "not genotyped (modelled as unknown): CYP2C9, CYP2C19, VKORC1, CYP4F2"


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> PatientGenotype:
    return parse_genotype_string(text)


def _row_genotype(rec: dict) -> PatientGenotype | None:
    given = rec.get("genotype")
    if hasattr(given, "features"):
        return given
    parts = [] if _blank(given) else [str(given)]
    parts += [f"{gene}={rec[col]}" for col, gene in GENE_COLUMNS if not _blank(rec.get(col))]
    return _parse("; ".join(parts)) if parts else None


def row_genotypes(frame: pd.DataFrame, *, path: object = None) -> list[PatientGenotype | None]:
    """Each row's :class:`~bio_mtl.dosing.genotypes.PatientGenotype` (``None``: none given).

    The results may be shared between equal rows: do not change them.

    Parameters
    ----------
    frame
        A tidy patient table (:func:`~bio_mtl.dosing.features.tidy_patients`).
    path
        The file name, for error messages.

    Raises
    ------
    InputError
        A genotype that does not parse (an :class:`~bio_mtl.errors.UnknownAlleleError` for an
        unknown gene, allele or base), naming the row.
    """
    out = []
    for i, rec in enumerate(frame.to_dict("records")):
        try:
            out.append(_row_genotype(rec))
        except InputError as exc:
            raise type(exc)(exc.problem, path=path or exc.path, record=f"row {i + 1}") from None
    return out


def genetic_values(frame: pd.DataFrame, *, path: object = None
                   ) -> tuple[pd.DataFrame, list[list[str]]]:
    """Numeric genotype values per row, with warnings.

    Parameters
    ----------
    frame
        A tidy patient table (:func:`~bio_mtl.dosing.features.tidy_patients`).
    path
        The file name, for error messages.

    Returns
    -------
    tuple
        ``(values, warnings)``: a frame with ``cyp2c9_activity`` (CPIC activity score),
        ``cyp2c9_star2, cyp2c9_star3, vkorc1_a, cyp4f2_t`` (allele counts) and
        ``cyp2c19_function`` (the allele table's ordinal sum; CPIC defines no CYP2C19 activity
        score), NaN = unknown, and one warning list per row.

    Raises
    ------
    UnknownAlleleError
        An allele, gene or rsID the genotype tables do not define (the message names the row).
    """
    rows, warnings = [], []
    for geno in row_genotypes(frame, path=path):
        if geno is None:
            rows.append(dict.fromkeys(_FEATURE_KEYS, np.nan))
            warnings.append([_NONE_TYPED])
            continue
        feats = geno.features()
        rows.append({k: float(feats[v]) for k, v in _FEATURE_KEYS.items()})
        warnings.append([str(w) for w in geno.warnings])
    return pd.DataFrame(rows, columns=list(_FEATURE_KEYS), index=frame.index), warnings


def iwpc_genotype_columns(frame: pd.DataFrame, *, path: object = None) -> pd.DataFrame:
    """``frame`` with canonical ``cyp2c9`` (diplotype) and ``vkorc1`` (``G/G``, ``A/G``,
    ``A/A``) columns for the published IWPC formula, from whatever genotype columns it has.

    Parameters
    ----------
    frame
        A tidy patient table.
    path
        The file name, for error messages.

    Examples
    --------
    >>> t = pd.DataFrame({"genotype": ["CYP2C9=*3/*1; rs9923231=T/T", None]})
    >>> iwpc_genotype_columns(t)[["cyp2c9", "vkorc1"]].values.tolist()
    [['*1/*3', 'A/A'], [nan, nan]]
    """
    cyp, vk = [], []
    for geno in row_genotypes(frame, path=path):
        feats = geno.features() if geno is not None else {}
        count = feats.get("VKORC1_1639A_count", math.nan)
        cyp.append(geno.diplotypes.get("CYP2C9", np.nan) if geno is not None else np.nan)
        vk.append(np.nan if math.isnan(count) else ("G/G", "A/G", "A/A")[int(count)])
    return frame.assign(cyp2c9=cyp, vkorc1=vk)
