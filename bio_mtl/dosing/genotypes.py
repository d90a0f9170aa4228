"""Star alleles and rsID genotypes -> diplotypes, CPIC activity scores and phenotypes.

The genes, alleles and variants are data: ``bio_mtl/dosing/tables/pgx_alleles.tsv`` (one row
per named allele: defining rsID, GRCh38 and GRCh37 position, plus-strand ref/alt, CPIC function
and activity value, source; provenance in ``data/DATA.md``).

Input syntax of :func:`parse_genotype_string` (entries separated by ``;`` or ``,``):

``GENE=*A/*B``
    A star-allele diplotype (CYP2C9, CYP2C19, CYP4F2), e.g. ``CYP2C9=*1/*3``.
``GENE=VARIANT:X/Y``
    A variant of the gene by rsID or name, e.g. ``VKORC1=-1639G>A:A/G``,
    ``VKORC1=rs9923231:A/G``, ``CYP4F2=rs2108622:C/T``; ``GENE=X/Y`` for a gene with one variant.
``rsID=X/Y``
    e.g. ``rs1799853=C/T``. ``X|Y`` marks a phased genotype (first allele on haplotype 1).

Bases are read on the plus strand of the reference genome (as dbSNP and VCF write them). For the
two minus-strand genes (VKORC1, CYP4F2) the gene-strand bases are accepted too (``-1639G>A`` is
``C>T`` on the plus strand); for these two SNVs the strands cannot be confused. Star alleles are
called from rsID genotypes; two heterozygous variants of one gene without phase are taken to be
in trans (the usual convention), and defining positions that were not given are taken as
reference, each with a warning. A gene that is not given at all is ``"unknown"`` with a warning,
never a silent default.

References
----------
Theken KN et al. CPIC guideline for CYP2C9 and NSAIDs. Clin Pharmacol Ther 2020;108:191-200
(CYP2C9 activity values and phenotypes). Lee CR et al. CPIC guideline for CYP2C19 and
clopidogrel, 2022 update. Clin Pharmacol Ther 2022;112:959-67 (CYP2C19 phenotypes). Johnson JA
et al. CPIC guideline for warfarin, 2017 update. Clin Pharmacol Ther 2017;102:397-404.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import InputError, UnknownAlleleError
from .alleles import Allele, VariantCall, find_gene, find_variant, genes, is_star_gene, variants

__all__ = ["CPIC_PHENOTYPE_GENES", "PatientGenotype", "activity_score", "call_diplotype",
           "genotype_from_calls", "parse_genotype_string", "phenotype"]

#: Genes with a CPIC activity -> phenotype translation here.
CPIC_PHENOTYPE_GENES = ("CYP2C9", "CYP2C19")
_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_CYP2C19_PHENOTYPES = {3.0: "ultrarapid metabolizer", 2.5: "rapid metabolizer",
                       2.0: "normal metabolizer", 1.5: "intermediate metabolizer",
                       1.0: "intermediate metabolizer", 0.0: "poor metabolizer"}


def _parse_call(allele: Allele, text: str) -> VariantCall:
    """``"C/T"`` (or ``C|T``, gene strand for minus-strand genes) -> plus-strand VariantCall."""
    value = text.strip().upper().replace(" ", "")
    phased = "|" in value
    parts = re.split(r"[/|]", value) if re.search(r"[/|]", value) else \
        (list(value) if len(value) == 2 and len(allele.ref) == len(allele.alt) == 1 else [value])
    label = f"{allele.rsid} ({allele.gene} {allele.hgvs})"
    if len(parts) != 2 or not all(parts):
        raise InputError(f"{label} genotype {text.strip()!r} must have exactly two alleles, "
                         f"e.g. {allele.ref}/{allele.alt}")
    plus = {allele.ref, allele.alt}
    minus = {s.translate(_COMPLEMENT)[::-1] for s in plus}
    if set(parts) <= plus:
        return VariantCall(tuple(parts), phased)
    if allele.gene_strand == "-" and plus.isdisjoint(minus) and set(parts) <= minus:
        return VariantCall(tuple(p.translate(_COMPLEMENT)[::-1] for p in parts), phased)
    bad = next(p for p in parts if p not in plus and (allele.gene_strand != "-" or p not in minus))
    also = (f" (gene strand {allele.ref.translate(_COMPLEMENT)}/"
            f"{allele.alt.translate(_COMPLEMENT)})") if allele.gene_strand == "-" else ""
    raise UnknownAlleleError(f"{label} allele {bad!r} is neither ref {allele.ref} nor alt "
                             f"{allele.alt} on the plus strand{also}")


def _parse_diplotype(gene: str, text: str) -> tuple[str, str]:
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


def activity_score(gene: str, diplotype: str) -> float:
    """Sum of the two alleles' activity values.

    Parameters
    ----------
    gene
        ``"CYP2C9"`` (CPIC activity values) or ``"CYP2C19"`` (bio_mtl ordinal values: no
        function 0, normal 1, increased 1.5; CPIC defines no CYP2C19 activity score).
    diplotype
        Two star alleles, e.g. ``"*1/*3"``.

    Returns
    -------
    float

    Raises
    ------
    UnknownAlleleError
        An unknown gene or allele (the message lists the known ones), or a gene without
        activity values.

    Examples
    --------
    >>> activity_score("CYP2C9", "*1/*3"), activity_score("CYP2C9", "*2/*3")
    (1.0, 0.5)
    """
    g = find_gene(gene)
    alleles = _parse_diplotype(g, diplotype) if is_star_gene(g) else ()
    if not alleles or any(genes()[g][a].activity is None for a in alleles):
        raise UnknownAlleleError(f"{g} has no activity values; genes with activity values: "
                                 f"{', '.join(CPIC_PHENOTYPE_GENES)}")
    return float(sum(genes()[g][a].activity for a in alleles))


def phenotype(gene: str, score: float) -> str:
    """CPIC metabolizer phenotype from an activity score (NaN -> ``"unknown"``).

    CYP2C9 (Theken 2020): 2 normal, 1.5 and 1 intermediate, 0.5 and 0 poor metabolizer.
    CYP2C19 (Lee 2022, diplotype table, on the ordinal sums of :func:`activity_score`): *17/*17
    (3) ultrarapid, *1/*17 (2.5) rapid, *1/*1 (2) normal, one no-function allele (1 or, with
    *17, 1.5) intermediate, two no-function alleles (0) poor metabolizer.

    Parameters
    ----------
    gene
        ``"CYP2C9"`` or ``"CYP2C19"``.
    score
        The activity score.

    Returns
    -------
    str

    Raises
    ------
    InputError
        A score that no diplotype of the gene can have, or a gene without phenotypes here.

    Examples
    --------
    >>> phenotype("CYP2C9", 1.0), phenotype("CYP2C19", 2.5)
    ('intermediate metabolizer', 'rapid metabolizer')
    """
    g = find_gene(gene)
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return "unknown"
    s = float(score)
    if g == "CYP2C9" and s in (0.0, 0.5, 1.0, 1.5, 2.0):
        return "normal metabolizer" if s == 2 else "intermediate metabolizer" if s >= 1 \
            else "poor metabolizer"
    if g == "CYP2C19" and s in _CYP2C19_PHENOTYPES:
        return _CYP2C19_PHENOTYPES[s]
    if g not in CPIC_PHENOTYPE_GENES:
        raise InputError(f"no CPIC phenotype for {g}; genes with phenotypes: "
                         f"{', '.join(CPIC_PHENOTYPE_GENES)}")
    valid = "0, 0.5, 1, 1.5, 2" if g == "CYP2C9" else "0, 1, 1.5, 2, 2.5, 3"
    raise InputError(f"{g} activity score {score!r} is not possible; expected one of {valid}")


def call_diplotype(gene: str, calls: dict) -> tuple[str | None, list[str]]:
    """Star-allele diplotype from variant calls of one gene.

    Parameters
    ----------
    gene
        A star-allele gene of the table (CYP2C9, CYP2C19, CYP4F2).
    calls
        ``{rsid: VariantCall}`` for the gene's variants that were typed.

    Returns
    -------
    tuple
        ``(diplotype or None, warnings)``; ``None`` when no pair of known alleles explains the
        calls (an allele outside the table, variants in cis, or more than two variant alleles).

    Examples
    --------
    >>> call_diplotype("CYP2C9", {"rs1799853": VariantCall(("C", "T")),
    ...                           "rs1057910": VariantCall(("A", "C"))})[0]
    '*2/*3'
    """
    table = {a.rsid: a for a in genes()[gene].values() if a.rsid}
    haplotypes: list[list[str]] = [[], []]
    unphased = []
    warnings = []
    for rsid, call in calls.items():
        a = table[rsid]
        other = [x for x in call.alleles if x not in (a.ref, a.alt)]
        if other:
            return None, [f"{gene}: {rsid} allele {other[0]!r} is not in the allele table "
                          f"(ref {a.ref}, alt {a.alt}); diplotype unknown"]
        alts = [x == a.alt for x in call.alleles]
        if call.phased:
            for h in (0, 1):
                if alts[h]:
                    haplotypes[h].append(a.name)
        elif all(alts):
            haplotypes[0].append(a.name)
            haplotypes[1].append(a.name)
        elif any(alts):
            unphased.append(a.name)
    assumed = len(unphased) > 1 or (unphased and any(haplotypes))
    for name in unphased:
        h = 0 if len(haplotypes[0]) <= len(haplotypes[1]) else 1
        haplotypes[h].append(name)
    if any(len(h) > 1 for h in haplotypes):
        found = ", ".join("+".join(h) for h in haplotypes if h)
        return None, [f"{gene}: variant alleles {found} cannot be two known star alleles "
                      "(variants in cis or a third variant allele); diplotype unknown"]
    if assumed:
        warnings.append(f"{gene}: phase of {', '.join(unphased)} unknown; variants assumed "
                        "in trans")
    names = sorted((h[0] if h else "*1" for h in haplotypes), key=lambda s: int(s[1:]))
    return "/".join(names), warnings


@dataclass
class PatientGenotype:
    """One patient's genotypes, diplotypes, activity scores and phenotypes.

    Attributes
    ----------
    diplotypes
        ``{gene: "*1/*3"}`` for the star-allele genes that were given or called.
    variants
        ``{rsid: "C/T"}`` plus-strand genotypes of the variants given or read.
    activity
        ``{gene: activity score}`` (CYP2C9, CYP2C19).
    phenotypes
        ``{gene: CPIC phenotype}`` for CYP2C9 and CYP2C19 (``"unknown"`` when not genotyped).
    warnings
        One-line warnings (unknown genes, assumed reference positions, assumed phase).
    source
        Where the genotypes came from.
    """

    diplotypes: dict = field(default_factory=dict)
    variants: dict = field(default_factory=dict)
    activity: dict = field(default_factory=dict)
    phenotypes: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    source: str = ""

    def _count(self, gene: str, allele: str) -> float:
        d = self.diplotypes.get(gene)
        return float(d.split("/").count(allele)) if d else math.nan

    def features(self) -> dict[str, float]:
        """Numeric genotype features for the dose model (NaN = unknown).

        Returns
        -------
        dict
            ``CYP2C9_activity, CYP2C9_star2_count, CYP2C9_star3_count, CYP2C19_activity,
            VKORC1_1639A_count, CYP4F2_rs2108622_T_count``.
        """
        vk = variants()["rs9923231"]
        gt = self.variants.get("rs9923231")
        vk_count = float(re.split(r"[/|]", gt).count(vk.alt)) if gt else math.nan
        return {"CYP2C9_activity": self.activity.get("CYP2C9", math.nan),
                "CYP2C9_star2_count": self._count("CYP2C9", "*2"),
                "CYP2C9_star3_count": self._count("CYP2C9", "*3"),
                "CYP2C19_activity": self.activity.get("CYP2C19", math.nan),
                "VKORC1_1639A_count": vk_count,
                "CYP4F2_rs2108622_T_count": self._count("CYP4F2", "*3")}


def _check_consistent(gene: str, diplotype: tuple, calls: dict) -> None:
    for rsid, call in calls.items():
        a = variants()[rsid]
        expected = sum(x == a.name for x in diplotype)
        got = sum(x == a.alt for x in call.alleles)
        if expected != got:
            raise InputError(f"{gene}={'/'.join(diplotype)} conflicts with {rsid}="
                             f"{'/'.join(call.alleles)} ({a.name} {a.alt} count {got})")


def genotype_from_calls(calls: dict, *, diplotypes: dict | None = None, source: str = "",
                        unknown: dict | None = None) -> PatientGenotype:
    """Build a :class:`PatientGenotype` from variant calls and/or given diplotypes.

    Parameters
    ----------
    calls
        ``{rsid: VariantCall}`` (plus strand).
    diplotypes
        ``{gene: (allele, allele)}`` given directly.
    source
        Description of the input (kept on the result).
    unknown
        ``{gene: reason}`` for genes to report as unknown (e.g. a no-call in a VCF).

    Returns
    -------
    PatientGenotype
    """
    diplotypes, unknown = dict(diplotypes or {}), dict(unknown or {})
    out = PatientGenotype(source=source)
    missing = []
    for gene, alleles in genes().items():
        gene_calls = {a.rsid: calls[a.rsid] for a in alleles.values() if a.rsid in calls}
        for rsid, call in gene_calls.items():
            ref = variants()[rsid].ref
            shown = call.alleles if call.phased else sorted(call.alleles, key=lambda x: x != ref)
            out.variants[rsid] = ("|" if call.phased else "/").join(shown)
        if gene in unknown:
            out.warnings.append(f"{gene} unknown: {unknown[gene]}")
        elif gene in diplotypes:
            _check_consistent(gene, diplotypes[gene], gene_calls)
            out.diplotypes[gene] = "/".join(diplotypes[gene])
        elif gene_calls and is_star_gene(gene):
            diplotype, warns = call_diplotype(gene, gene_calls)
            out.warnings.extend(warns)
            untyped = [f"{a.name} ({a.rsid})" for a in alleles.values()
                       if a.rsid and a.rsid not in gene_calls]
            if diplotype is not None:
                out.diplotypes[gene] = diplotype
                if untyped:
                    out.warnings.append(f"{gene} {diplotype} called without "
                                        f"{', '.join(untyped)}: assumed reference")
        elif not gene_calls:
            missing.append(gene)
        if gene in out.diplotypes and gene in CPIC_PHENOTYPE_GENES:
            out.activity[gene] = activity_score(gene, out.diplotypes[gene])
        if gene in CPIC_PHENOTYPE_GENES:
            out.phenotypes[gene] = phenotype(gene, out.activity.get(gene, math.nan))
    if missing:
        out.warnings.append(f"not genotyped (modelled as unknown): {', '.join(missing)}")
    return out


def parse_genotype_string(text: str) -> PatientGenotype:
    """Parse ``"CYP2C9=*1/*3; VKORC1=-1639G>A:A/G; rs2108622=C/T"`` (see the module doc).

    Parameters
    ----------
    text
        Entries ``GENE=*A/*B``, ``GENE=VARIANT:X/Y``, ``GENE=X/Y`` or ``rsID=X/Y``, separated
        by ``;`` or ``,``.

    Returns
    -------
    PatientGenotype

    Raises
    ------
    UnknownAlleleError
        Unknown gene, allele or rsID, or a base that is neither ref nor alt (the message lists
        the known values).
    InputError
        Malformed entries, not exactly two alleles, an entry given twice, or a diplotype that
        conflicts with a variant genotype.

    Examples
    --------
    >>> g = parse_genotype_string("CYP2C9=*1/*3; VKORC1=-1639G>A:A/G")
    >>> g.activity["CYP2C9"], g.phenotypes["CYP2C9"], g.features()["VKORC1_1639A_count"]
    (1.0, 'intermediate metabolizer', 1.0)
    """
    entries = [p.strip() for p in re.split(r"[;,]", str(text)) if p.strip()]
    if not entries:
        raise InputError("empty genotype; expected e.g. 'CYP2C9=*1/*3; VKORC1=rs9923231:A/G'")
    calls, diplotypes = {}, {}
    for entry in entries:
        key, sep, value = (s.strip() for s in entry.partition("="))
        if not sep or not key or not value:
            raise InputError(f"genotype entry {entry!r} is not KEY=VALUE (e.g. CYP2C9=*1/*3, "
                             "VKORC1=rs9923231:A/G or rs1799853=C/T)")
        if re.fullmatch(r"rs\d+", key, flags=re.IGNORECASE):
            allele, gt = find_variant(None, key), value
        else:
            gene = find_gene(key)
            if "*" in value:
                if gene in diplotypes:
                    raise InputError(f"{gene} given twice in the genotype")
                diplotypes[gene] = _parse_diplotype(gene, value)
                continue
            name, colon, gt = value.rpartition(":")
            options = [a for a in genes()[gene].values() if a.rsid]
            if not colon and len(options) != 1:
                raise InputError(f"{gene}={value!r}: name the variant, e.g. {gene}="
                                 f"{options[0].rsid}:{options[0].ref}/{options[0].alt}")
            allele = find_variant(gene, name) if colon else options[0]
        if allele.rsid in calls:
            raise InputError(f"{allele.rsid} given twice in the genotype")
        calls[allele.rsid] = _parse_call(allele, gt)
    return genotype_from_calls(calls, diplotypes=diplotypes, source="genotype string")
