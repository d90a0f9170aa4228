"""VKORC1 -1639G>A genotypes of patient tables, and the IWPC imputation from linked SNPs.

Every -1639G>A cell (``rs9923231``) goes through the one genotype parser,
:func:`~bio_mtl.dosing.alleles.parse_variant_call`, that ``--genotype`` uses: ``A/G``,
``G/A``, ``AA``, ``a/a`` (gene strand) and ``C/T``, ``T/T`` (plus strand) all read the same,
and a cell that is not a -1639 genotype is an error naming the row, never a silent "unknown".
The IWPC imputation rules (Klein et al. 2009, appendix S1d) read the linked SNPs 2255C>T
(rs2359612), 1173C>T (rs9934438) and 1542G>C (rs8050894) on the gene strand, as the IWPC
spreadsheet writes them, through the same tokenizer
(:func:`~bio_mtl.dosing.alleles.split_genotype`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from .alleles import parse_variant_call, split_genotype, variants

__all__ = ["LINKED_SNPS", "impute_vkorc1", "vkorc1_genotype"]

_LABELS = ("G/G", "A/G", "A/A")
#: Linked SNP -> ({gene-strand genotype, alleles sorted: -1639 genotype}, applies to Black and
#: missing/mixed-race patients too).
LINKED_SNPS = {
    "rs2359612": ({"C/C": "G/G", "C/T": "A/G", "T/T": "A/A"}, False),    # 2255C>T
    "rs9934438": ({"C/C": "G/G", "C/T": "A/G", "T/T": "A/A"}, True),     # 1173C>T
    "rs8050894": ({"G/G": "G/G", "C/G": "A/G", "C/C": "A/A"}, False),    # 1542G>C
}


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def vkorc1_genotype(value) -> str | float:
    """A -1639G>A cell as ``"G/G"``, ``"A/G"`` or ``"A/A"`` (blank -> NaN).

    Parameters
    ----------
    value
        The cell, on the gene strand (``A/G``) or the plus strand (``C/T``), any case, with or
        without a separator.

    Raises
    ------
    InputError
        Not two alleles, or bases that are neither -1639G>A allele on either strand (or mix
        the strands).

    Examples
    --------
    >>> [vkorc1_genotype(v) for v in ("T/T", "AA", "a/a", "G/A", "C/C")]
    ['A/A', 'A/A', 'A/A', 'A/G', 'G/G']
    """
    if _blank(value):
        return np.nan
    allele = variants()["rs9923231"]
    call = parse_variant_call(allele, str(value))
    return _LABELS[call.alleles.count(allele.alt)]


def _linked(value, table: dict) -> str | float:
    if _blank(value):
        return np.nan
    parts, _ = split_genotype(str(value))
    key = "/".join(sorted(parts))
    if key not in table:
        raise InputError(f"genotype {str(value).strip()!r} is not one of "
                         f"{', '.join(table)} (gene strand, as the IWPC table writes it)")
    return table[key]


def _map_rows(series: pd.Series, parse, what: str) -> pd.Series:
    out = []
    for i, value in enumerate(series):
        try:
            out.append(parse(value))
        except InputError as exc:
            raise type(exc)(f"{what}: {exc.problem}", record=f"row {i + 1}") from None
    return pd.Series(out, index=series.index, dtype=object)


def impute_vkorc1(rs9923231: pd.Series, *, rs2359612: pd.Series, rs9934438: pd.Series,
                  rs8050894: pd.Series, ancestry: pd.Series) -> pd.Series:
    """VKORC1 -1639G>A genotype, imputed from linked SNPs where missing (IWPC rules).

    Parameters
    ----------
    rs9923231, rs2359612, rs9934438, rs8050894
        Genotype strings (NaN = missing) of -1639G>A, 2255C>T, 1173C>T and 1542G>C.
    ancestry
        Tidy ancestry labels; rules using rs2359612 and rs8050894 are applied only when it is
        neither ``"black"`` nor ``"other"`` (missing/mixed race), as in Klein et al. 2009.

    Returns
    -------
    pandas.Series
        ``"G/G"``, ``"A/G"``, ``"A/A"`` or NaN.

    Raises
    ------
    InputError
        A cell that is not a genotype of its SNP (naming the SNP and the row).
    """
    out = _map_rows(rs9923231, vkorc1_genotype, "VKORC1 -1639G>A (rs9923231)")
    eligible = ~ancestry.isin(["black", "other"])
    for snp, series in (("rs2359612", rs2359612), ("rs9934438", rs9934438),
                        ("rs8050894", rs8050894)):
        table, everyone = LINKED_SNPS[snp]
        guess = _map_rows(series, lambda g, t=table: _linked(g, t), f"VKORC1 {snp}")
        fill = out.isna() & guess.notna()
        if not everyone:
            fill &= eligible
        out = out.where(~fill, guess)
    return out
