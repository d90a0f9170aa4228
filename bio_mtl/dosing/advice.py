"""Warfarin warnings from the CPIC 2017 guideline, the IWPC formula's scope and tablet sizes.

CPIC 2017 (Johnson et al., figure 2 and its footnotes) says, for adults:

* patients of African ancestry: CYP2C9 *5, *6, *8 and *11 matter (45-50 % carry one of them or
  rs12777823); "if CYP2C9*5, *6, *8, and *11 were not tested, dose warfarin clinically";
* "consider an alternative agent in individuals with genotypes associated with CYP2C9 poor
  metabolism (e.g. CYP2C9*3/*3, *2/*3, *3/*3) or both increased sensitivity (VKORC1 A/G or
  A/A) and CYP2C9 poor metabolism".

A predicted dose below :data:`MIN_WEEKLY_DOSE_MG` cannot be dispensed as a daily regimen: the
smallest marketed warfarin tablet is 1 mg (:data:`TABLET_STRENGTHS_MG`; Coumadin, Jantoven and
generics, RxNorm), scored so that half a tablet, 0.5 mg, is the smallest daily dose, which is
also where the lowest range of the FDA label's genotype table starts (0.5-2 mg/day).

The published IWPC formula has categories for CYP2C9 *1, *2 and *3 only
(:data:`~bio_mtl.dosing.iwpc.IWPC_CYP2C9_ALLELES`); a patient with another allele is scored as
"CYP2C9 unknown" there (:func:`iwpc_scope_note`).

References
----------
Johnson JA et al. Clinical Pharmacogenetics Implementation Consortium (CPIC) guideline for
pharmacogenetics-guided warfarin dosing: 2017 update. Clin Pharmacol Ther 2017;102:397-404.
COUMADIN (warfarin sodium) prescribing information, Table 5 (expected maintenance dose ranges
by CYP2C9 and VKORC1 genotype).
"""

from __future__ import annotations

from .genotypes import PatientGenotype
from .iwpc import IWPC_CYP2C9_ALLELES

__all__ = ["AFRICAN_ANCESTRY_CYP2C9", "CPIC_2017", "MIN_WEEKLY_DOSE_MG", "TABLET_STRENGTHS_MG",
           "iwpc_scope_note", "warfarin_warnings"]

#: How the guideline is cited in the warnings.
CPIC_2017 = "CPIC 2017 warfarin guideline, Johnson et al. Clin Pharmacol Ther 2017;102:397-404"
#: CYP2C9 alleles CPIC 2017 asks to test in patients of African ancestry.
AFRICAN_ANCESTRY_CYP2C9 = ("*5", "*6", "*8", "*11")
#: Marketed warfarin tablet strengths (mg); the 1 mg tablet is scored.
TABLET_STRENGTHS_MG = (1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5, 10.0)
#: Smallest dispensable weekly dose: half of the smallest tablet every day (0.5 mg/day).
MIN_WEEKLY_DOSE_MG = 7 * TABLET_STRENGTHS_MG[0] / 2


def iwpc_scope_note(genotype: PatientGenotype) -> str | None:
    """Why the IWPC formula's dose ignores part of the CYP2C9 genotype, or ``None``.

    Parameters
    ----------
    genotype
        The patient's genotypes.

    Returns
    -------
    str or None
        One line for the IWPC line of the output, when the CYP2C9 diplotype has an allele
        outside :data:`~bio_mtl.dosing.iwpc.IWPC_CYP2C9_ALLELES`.

    Examples
    --------
    >>> from bio_mtl.dosing.genotypes import parse_genotype_string
    >>> iwpc_scope_note(parse_genotype_string("CYP2C9=*6/*6")).split(":")[0]
    "CYP2C9 *6/*6 scored as 'genotype unknown'"
    """
    diplotype = genotype.diplotypes.get("CYP2C9")
    if diplotype is None or set(diplotype.split("/")) <= set(IWPC_CYP2C9_ALLELES):
        return None
    return (f"CYP2C9 {diplotype} scored as 'genotype unknown': the IWPC formula has categories "
            f"for {', '.join(IWPC_CYP2C9_ALLELES)} only")


def _african_ancestry(genotype: PatientGenotype) -> str | None:
    diplotype = genotype.diplotypes.get("CYP2C9")
    if diplotype is None:
        return None
    if "CYP2C9" in genotype.untyped:
        untested = [a for a in AFRICAN_ANCESTRY_CYP2C9 if a in genotype.untyped["CYP2C9"]]
        if not untested:
            return None
        what = f"CYP2C9 {', '.join(untested)} not typed"
    elif set(diplotype.split("/")) & set(AFRICAN_ANCESTRY_CYP2C9):
        return None
    else:
        what = f"CYP2C9 given as {diplotype} without saying whether *5, *6, *8, *11 were tested"
    return (f"{what} in a patient of African ancestry: dose clinically (without genotype) "
            f"unless CYP2C9 *5, *6, *8 and *11 were tested ({CPIC_2017})")


def warfarin_warnings(genotype: PatientGenotype | None, *, ancestry: str | None,
                      dose: float) -> list[str]:
    """CPIC 2017 and dispensable-dose warnings for one warfarin patient.

    Parameters
    ----------
    genotype
        The patient's genotypes (``None``: none given).
    ancestry
        Tidy ancestry label (``"black"`` = African ancestry).
    dose
        The predicted weekly dose (mg).

    Returns
    -------
    list of str
        One line each.

    Examples
    --------
    >>> from bio_mtl.dosing.genotypes import parse_genotype_string
    >>> w = warfarin_warnings(parse_genotype_string("CYP2C9=*3/*3"), ancestry="white", dose=2.0)
    >>> [line.split(":")[0] for line in w]  # doctest: +NORMALIZE_WHITESPACE
    ['CYP2C9 poor metabolizer (*3/*3, activity score 0)',
     'predicted dose 2.0 mg/week (0.29 mg/day) is below 3.5 mg/week']
    """
    out = []
    if genotype is not None and ancestry == "black":
        note = _african_ancestry(genotype)
        if note:
            out.append(note)
    if genotype is not None and genotype.phenotypes.get("CYP2C9") == "poor metabolizer":
        out.append(f"CYP2C9 poor metabolizer ({genotype.diplotypes['CYP2C9']}, activity score "
                   f"{genotype.activity['CYP2C9']:g}): consider an alternative agent "
                   f"({CPIC_2017})")
    if dose < MIN_WEEKLY_DOSE_MG:
        out.append(f"predicted dose {dose:.1f} mg/week ({dose / 7:.2f} mg/day) is below "
                   f"{MIN_WEEKLY_DOSE_MG:g} mg/week: half of the smallest warfarin tablet "
                   f"({TABLET_STRENGTHS_MG[0]:g} mg) a day is the least that can be dispensed, "
                   "and the FDA label's lowest expected range is 0.5-2 mg/day; dose clinically "
                   "with close INR monitoring")
    return out
