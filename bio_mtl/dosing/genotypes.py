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
``C>T`` on the plus strand); for these two SNVs the strands cannot be confused, and a genotype
mixing bases of both strands (``A/C``) is an error. Every written genotype, from ``--genotype``
or a table column, goes through :func:`~bio_mtl.dosing.alleles.parse_variant_call`. Star alleles
are called from rsID genotypes; two heterozygous variants of one gene without phase are taken to
be in trans (the usual convention), and defining positions that were not given are taken as
reference, each with a warning. CYP2C19*17's variant (rs12248560) is also carried by *4.002
(formerly *4B, no function) together with rs28399504: both on one haplotype are called *4, and
*17 is not called at all when rs28399504 was not typed (:data:`SHARED_VARIANTS`). A gene that
is not given at all is ``"unknown"`` with a warning, never a silent default. Activity scores
and phenotypes: :mod:`bio_mtl.dosing.phenotypes`.

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

from ..errors import InputError
from .alleles import (
    find_gene,
    find_variant,
    genes,
    is_star_gene,
    parse_variant_call,
    variants,
)
from .phenotypes import (
    ACTIVITY_SCORE_GENES,
    CPIC_PHENOTYPE_GENES,
    activity_score,
    allele_value_sum,
    diplotype_phenotype,
    parse_diplotype,
    phenotype,
)

__all__ = ["ACTIVITY_SCORE_GENES", "CPIC_PHENOTYPE_GENES", "SHARED_VARIANTS", "PatientGenotype",
           "activity_score", "call_diplotype", "diplotype_phenotype", "genotype_from_calls",
           "parse_genotype_string", "phenotype"]

#: ``{gene: {allele: other allele whose defining variant it may also carry}}``: CYP2C19*4's
#: sub-allele *4.002 (formerly *4B) carries c.-806C>T (rs12248560), the *17 variant, in cis
#: with c.1A>G (rs28399504) (PharmVar; PharmCAT's *4 definition has Y at rs12248560).
SHARED_VARIANTS = {"CYP2C19": {"*4": "*17"}}


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
    >>> from bio_mtl.dosing.alleles import VariantCall
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
    shared = SHARED_VARIANTS.get(gene, {})
    for h in haplotypes:  # e.g. *4 + *17 on one haplotype is *4.002 (formerly *4B)
        for name, carried in shared.items():
            if name in h and carried in h:
                h.remove(carried)
    if any(len(h) > 1 for h in haplotypes):
        found = ", ".join("+".join(h) for h in haplotypes if h)
        return None, [f"{gene}: variant alleles {found} cannot be two known star alleles "
                      "(variants in cis or a third variant allele); diplotype unknown"]
    if assumed:
        cis = [f"in cis, {n}+{c} is {n} (e.g. *4.002, formerly *4B)"
               for n, c in shared.items() if n in unphased and c in unphased]
        warnings.append(f"{gene}: phase of {', '.join(unphased)} unknown; variants assumed "
                        "in trans" + "".join(f" ({x})" for x in cis))
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
        ``{gene: CPIC activity score}`` (CYP2C9 only: CPIC defines none for CYP2C19).
    phenotypes
        ``{gene: CPIC phenotype}`` for CYP2C9 and CYP2C19 (``"unknown"`` when not genotyped).
    untyped
        ``{gene: allele names}`` whose defining variant was not typed, for the genes called
        from variants (taken as reference); a gene given as a diplotype is absent (what was
        tested is not known).
    warnings
        One-line warnings (unknown genes, assumed reference positions, assumed phase).
    source
        Where the genotypes came from.
    """

    diplotypes: dict = field(default_factory=dict)
    variants: dict = field(default_factory=dict)
    activity: dict = field(default_factory=dict)
    phenotypes: dict = field(default_factory=dict)
    untyped: dict = field(default_factory=dict)
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
            ``CYP2C9_activity`` (CPIC activity score), ``CYP2C9_star2_count,
            CYP2C9_star3_count``, ``CYP2C19_function_sum`` (sum of the allele table's
            ordinal values: no function 0, normal 1, increased 1.5; not a CPIC score),
            ``VKORC1_1639A_count, CYP4F2_rs2108622_T_count``.
        """
        vk = variants()["rs9923231"]
        gt = self.variants.get("rs9923231")
        vk_count = float(re.split(r"[/|]", gt).count(vk.alt)) if gt else math.nan
        c19 = self.diplotypes.get("CYP2C19")
        return {"CYP2C9_activity": self.activity.get("CYP2C9", math.nan),
                "CYP2C9_star2_count": self._count("CYP2C9", "*2"),
                "CYP2C9_star3_count": self._count("CYP2C9", "*3"),
                "CYP2C19_function_sum": allele_value_sum("CYP2C19", c19) if c19 else math.nan,
                "VKORC1_1639A_count": vk_count,
                "CYP4F2_rs2108622_T_count": self._count("CYP4F2", "*3")}


def _check_consistent(gene: str, diplotype: tuple, calls: dict) -> None:
    carriers = {c: n for n, c in SHARED_VARIANTS.get(gene, {}).items()}
    for rsid, call in calls.items():
        a = variants()[rsid]
        expected = sum(x == a.name for x in diplotype)
        may_add = sum(x == carriers.get(a.name) for x in diplotype)  # *4.002 carries *17's
        got = sum(x == a.alt for x in call.alleles)
        if not expected <= got <= expected + may_add:
            raise InputError(f"{gene}={'/'.join(diplotype)} conflicts with {rsid}="
                             f"{'/'.join(call.alleles)} ({a.name} {a.alt} count {got})")


def _unresolved_shared(gene: str, gene_calls: dict) -> str | None:
    """Why a gene cannot be called: an allele's variant that another, untyped allele shares."""
    table = genes()[gene]
    for name, carried in SHARED_VARIANTS.get(gene, {}).items():
        c, n = table[carried], table[name]
        call = gene_calls.get(c.rsid)
        if call is not None and c.alt in call.alleles and n.rsid not in gene_calls:
            return (f"{gene}: {c.rsid} {c.alt} ({carried}) found but {n.rsid} ({name}) was not "
                    f"typed; {name} (sub-allele {name}.002, formerly {name}B, "
                    f"{n.function}) carries the same variant, so {carried} is not called: "
                    f"diplotype unknown (type {n.rsid})")
    return None


def _call_gene(out: PatientGenotype, gene: str, gene_calls: dict) -> None:
    """Call a star-allele gene from its variants into ``out`` (with warnings)."""
    alleles = genes()[gene]
    untyped = [a for a in alleles.values() if a.rsid and a.rsid not in gene_calls]
    out.untyped[gene] = tuple(a.name for a in untyped)
    refused = _unresolved_shared(gene, gene_calls)
    if refused:
        out.warnings.append(refused)
        return
    diplotype, warns = call_diplotype(gene, gene_calls)
    out.warnings.extend(warns)
    if diplotype is not None:
        out.diplotypes[gene] = diplotype
        if untyped:
            listed = ", ".join(f"{a.name} ({a.rsid})" for a in untyped)
            out.warnings.append(f"{gene} {diplotype} called without {listed}: assumed "
                                "reference")


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
            _call_gene(out, gene, gene_calls)
        elif not gene_calls:
            missing.append(gene)
        if gene in out.diplotypes and gene in ACTIVITY_SCORE_GENES:
            out.activity[gene] = activity_score(gene, out.diplotypes[gene])
        if gene in CPIC_PHENOTYPE_GENES:
            out.phenotypes[gene] = diplotype_phenotype(gene, out.diplotypes.get(gene))
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
                diplotypes[gene] = parse_diplotype(gene, value)
                continue
            name, colon, gt = value.rpartition(":")
            options = [a for a in genes()[gene].values() if a.rsid]
            if not colon and len(options) != 1:
                raise InputError(f"{gene}={value!r}: name the variant, e.g. {gene}="
                                 f"{options[0].rsid}:{options[0].ref}/{options[0].alt}")
            allele = find_variant(gene, name) if colon else options[0]
        if allele.rsid in calls:
            raise InputError(f"{allele.rsid} given twice in the genotype")
        calls[allele.rsid] = parse_variant_call(allele, gt)
    return genotype_from_calls(calls, diplotypes=diplotypes, source="genotype string")
