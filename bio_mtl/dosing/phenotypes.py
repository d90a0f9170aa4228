"""CPIC activity scores and metabolizer phenotypes of star-allele diplotypes.

CYP2C9 has a CPIC activity score (sum of the allele activity values: normal 1, decreased 0.5,
no function 0) and phenotypes from it (Theken et al. 2020). CYP2C19 has phenotypes only, from
the CPIC diplotype table (Lee et al. 2022): no activity score is defined or shown for it.

References
----------
Theken KN et al. CPIC guideline for CYP2C9 and NSAIDs. Clin Pharmacol Ther 2020;108:191-200.
Lee CR et al. CPIC guideline for CYP2C19 and clopidogrel, 2022 update. Clin Pharmacol Ther
2022;112:959-67.
"""

from __future__ import annotations

import math
import re

from ..errors import InputError, UnknownAlleleError
from .alleles import find_gene, genes, is_star_gene

__all__ = ["ACTIVITY_SCORE_GENES", "CPIC_PHENOTYPE_GENES", "activity_score", "allele_value_sum",
           "diplotype_phenotype", "parse_diplotype", "phenotype"]

#: Genes with a CPIC phenotype here (from the diplotype).
CPIC_PHENOTYPE_GENES = ("CYP2C9", "CYP2C19")
#: Genes for which CPIC defines an activity score (CYP2C19 has phenotypes only).
ACTIVITY_SCORE_GENES = ("CYP2C9",)
# CYP2C19 (Lee 2022 diplotype table) on the sums of the table's ordinal allele values (no
# function 0, normal 1, increased 1.5): internal, never shown as an activity score.
_CYP2C19_PHENOTYPES = {3.0: "ultrarapid metabolizer", 2.5: "rapid metabolizer",
                       2.0: "normal metabolizer", 1.5: "intermediate metabolizer",
                       1.0: "intermediate metabolizer", 0.0: "poor metabolizer"}
def parse_diplotype(gene: str, text: str) -> tuple[str, str]:
    """``"*3/*1"`` -> ``("*1", "*3")`` for a star-allele gene of the table.

    Parameters
    ----------
    gene
        The table's spelling of the gene (:func:`~bio_mtl.dosing.alleles.find_gene`).
    text
        Two star alleles separated by ``/`` or ``|``.

    Returns
    -------
    tuple
        The two alleles, lower number first.

    Raises
    ------
    InputError
        Not exactly two alleles.
    UnknownAlleleError
        An allele the table does not define (the message lists the known ones).
    """
    known = genes()[gene]
    parts = [p.strip() for p in re.split(r"[/|]", text.strip())]
    if len(parts) != 2 or not all(parts):
        raise InputError(f"{gene} diplotype {text.strip()!r} must name exactly two alleles, "
                         "e.g. *1/*3")
    for p in parts:
        if p not in known:
            raise UnknownAlleleError(f"{gene} allele {p!r} is not defined; known alleles: "
                                     f"{', '.join(known)}")
    return tuple(sorted(parts, key=lambda s: int(s[1:])))


def allele_value_sum(gene: str, diplotype: str) -> float:
    """Sum of the allele table's values of a diplotype.

    CPIC activity values for CYP2C9 (the activity score); for CYP2C19 the table's ordinal
    values (no function 0, normal 1, increased 1.5), used internally only: CPIC defines no
    CYP2C19 activity score.

    Parameters
    ----------
    gene
        A star-allele gene with values (CYP2C9, CYP2C19).
    diplotype
        Two star alleles.

    Returns
    -------
    float

    Raises
    ------
    UnknownAlleleError
        A gene without allele values, or an unknown allele.
    """
    g = find_gene(gene)
    alleles = parse_diplotype(g, diplotype) if is_star_gene(g) else ()
    if not alleles or any(genes()[g][a].activity is None for a in alleles):
        raise UnknownAlleleError(f"{g} has no activity values; genes with activity values: "
                                 f"{', '.join(ACTIVITY_SCORE_GENES)}")
    return float(sum(genes()[g][a].activity for a in alleles))


def activity_score(gene: str, diplotype: str) -> float:
    """CPIC activity score: the sum of the two alleles' activity values (CYP2C9).

    Parameters
    ----------
    gene
        ``"CYP2C9"``. CPIC defines no activity score for CYP2C19 (its phenotypes come from
        the diplotype: :func:`diplotype_phenotype`).
    diplotype
        Two star alleles, e.g. ``"*1/*3"``.

    Returns
    -------
    float

    Raises
    ------
    UnknownAlleleError
        An unknown gene or allele (the message lists the known ones), or a gene without
        a CPIC activity score.

    Examples
    --------
    >>> activity_score("CYP2C9", "*1/*3"), activity_score("CYP2C9", "*2/*3")
    (1.0, 0.5)
    """
    g = find_gene(gene)
    if g not in ACTIVITY_SCORE_GENES:
        raise UnknownAlleleError(f"CPIC defines no activity score for {g}; genes with one: "
                                 f"{', '.join(ACTIVITY_SCORE_GENES)} (for the phenotype use "
                                 "diplotype_phenotype)")
    return allele_value_sum(g, diplotype)


def phenotype(gene: str, score: float) -> str:
    """CPIC metabolizer phenotype from a CYP2C9 activity score (NaN -> ``"unknown"``).

    CYP2C9 (Theken 2020): 2 normal, 1.5 and 1 intermediate, 0.5 and 0 poor metabolizer.

    Parameters
    ----------
    gene
        ``"CYP2C9"``.
    score
        The activity score.

    Returns
    -------
    str

    Raises
    ------
    InputError
        A score that no diplotype can have, or a gene without a CPIC activity score.

    Examples
    --------
    >>> phenotype("CYP2C9", 1.0), phenotype("CYP2C9", 0.5)
    ('intermediate metabolizer', 'poor metabolizer')
    """
    g = find_gene(gene)
    if g not in ACTIVITY_SCORE_GENES:
        raise InputError(f"no CPIC activity score for {g}; genes with one: "
                         f"{', '.join(ACTIVITY_SCORE_GENES)} (use diplotype_phenotype)")
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return "unknown"
    s = float(score)
    if s in (0.0, 0.5, 1.0, 1.5, 2.0):
        return "normal metabolizer" if s == 2 else "intermediate metabolizer" if s >= 1 \
            else "poor metabolizer"
    raise InputError(f"{g} activity score {score!r} is not possible; expected one of "
                     "0, 0.5, 1, 1.5, 2")


def diplotype_phenotype(gene: str, diplotype: str | None) -> str:
    """CPIC metabolizer phenotype of a diplotype (``None`` -> ``"unknown"``).

    CYP2C9 through its activity score (:func:`phenotype`). CYP2C19 from the CPIC diplotype
    table (Lee 2022): *17/*17 ultrarapid, *1/*17 rapid, *1/*1 normal, one no-function allele
    (*1/*2, *2/*17, ...) intermediate, two no-function alleles poor metabolizer.

    Parameters
    ----------
    gene
        ``"CYP2C9"`` or ``"CYP2C19"``.
    diplotype
        Two star alleles, or ``None``.

    Returns
    -------
    str

    Raises
    ------
    InputError
        A gene without CPIC phenotypes here.
    UnknownAlleleError
        An unknown allele.

    Examples
    --------
    >>> diplotype_phenotype("CYP2C19", "*1/*17"), diplotype_phenotype("CYP2C19", "*4/*17")
    ('rapid metabolizer', 'intermediate metabolizer')
    """
    g = find_gene(gene)
    if g not in CPIC_PHENOTYPE_GENES:
        raise InputError(f"no CPIC phenotype for {g}; genes with phenotypes: "
                         f"{', '.join(CPIC_PHENOTYPE_GENES)}")
    if diplotype is None:
        return "unknown"
    if g == "CYP2C9":
        return phenotype(g, activity_score(g, diplotype))
    return _CYP2C19_PHENOTYPES[allele_value_sum(g, diplotype)]
