"""The pharmacogene allele table (``bio_mtl/dosing/tables/pgx_alleles.tsv``) as Python objects.

The table is data: one row per named allele with its defining rsID, GRCh38 and GRCh37 VCF
position, plus-strand ref/alt, gene strand, CPIC function and activity value, aliases and source
(provenance in ``data/DATA.md``). It is read once with :mod:`importlib.resources`.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from ..errors import InputError, UnknownAlleleError

__all__ = ["BUILDS", "Allele", "VariantCall", "allele_table", "find_gene", "find_variant",
           "genes", "is_star_gene", "parse_variant_call", "split_genotype", "variants"]

#: Genome builds with positions in the table.
BUILDS = ("GRCh38", "GRCh37")


@dataclass(frozen=True)
class Allele:
    """One row of the allele table: a named allele and its defining variant, if any.

    Attributes
    ----------
    gene, name
        HGNC symbol and allele name (``"CYP2C9"``, ``"*3"``; VKORC1: ``"-1639A"``).
    rsid, hgvs
        Defining variant (``None`` for the reference allele ``*1``).
    chrom, pos
        Chromosome (no ``chr`` prefix) and ``{"GRCh38": int, "GRCh37": int}`` VCF positions.
    ref, alt
        VCF alleles on the plus strand.
    gene_strand
        ``"+"`` or ``"-"`` (strand of the transcript).
    function, activity
        CPIC allele function and activity value (``None`` where CPIC gives none).
    aliases, source
        Other names of the variant accepted as input; where the facts come from.
    """

    gene: str
    name: str
    rsid: str | None
    hgvs: str | None
    chrom: str
    pos: dict
    ref: str | None
    alt: str | None
    gene_strand: str
    function: str
    activity: float | None
    aliases: tuple
    source: str


@dataclass(frozen=True)
class VariantCall:
    """A genotype at one variant: two plus-strand VCF alleles and whether they are phased."""

    alleles: tuple
    phased: bool = False


_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def split_genotype(text: str) -> tuple[list[str], bool]:
    """The alleles of a written genotype and whether it is phased (upper case, no spaces).

    ``"C/T"``, ``"c / t"`` and ``"CT"`` (two single bases) are unphased; ``"C|T"`` is phased.
    This is the one tokenizer of genotype cells, for ``--genotype`` and table columns alike.

    Parameters
    ----------
    text
        A genotype as written.

    Returns
    -------
    tuple
        ``(alleles, phased)``; a cell that is not two alleles gives one or three items.

    Examples
    --------
    >>> split_genotype("a/g"), split_genotype("TT"), split_genotype("GA|G")
    ((['A', 'G'], False), (['T', 'T'], False), (['GA', 'G'], True))
    """
    value = str(text).strip().upper().replace(" ", "")
    if re.search(r"[/|]", value):
        return re.split(r"[/|]", value), "|" in value
    if len(value) == 2 and value.isalpha():
        return list(value), False
    return [value], False


def parse_variant_call(allele: Allele, text: str) -> VariantCall:
    """A written genotype of one variant -> its plus-strand :class:`VariantCall`.

    Bases are read on the plus strand; for a gene on the minus strand (VKORC1, CYP4F2) the
    gene-strand bases are accepted too when the two strands cannot be confused. A genotype
    whose two bases come from different strands (``A/C`` for VKORC1 -1639, plus strand C/T,
    gene strand G/A) is refused: it cannot be read either way.

    Parameters
    ----------
    allele
        The variant (a row of the allele table with an rsID).
    text
        ``"C/T"``, ``"C|T"``, ``"CT"``, any case.

    Returns
    -------
    VariantCall

    Raises
    ------
    InputError
        Not exactly two alleles.
    UnknownAlleleError
        A base that is neither ref nor alt, or bases of both strands mixed (the message shows
        both spellings).

    Examples
    --------
    >>> vk = variants()["rs9923231"]
    >>> parse_variant_call(vk, "a/g"), parse_variant_call(vk, "TT").alleles
    (VariantCall(alleles=('T', 'C'), phased=False), ('T', 'T'))
    """
    parts, phased = split_genotype(text)
    label = f"{allele.rsid} ({allele.gene} {allele.hgvs})"
    if len(parts) != 2 or not all(parts):
        raise InputError(f"{label} genotype {str(text).strip()!r} must have exactly two "
                         f"alleles, e.g. {allele.ref}/{allele.alt}")
    plus = {allele.ref, allele.alt}
    minus = {_revcomp(s) for s in plus} if allele.gene_strand == "-" else set()
    if set(parts) <= plus:
        return VariantCall(tuple(parts), phased)
    if minus and plus.isdisjoint(minus) and set(parts) <= minus:
        return VariantCall(tuple(_revcomp(p) for p in parts), phased)
    also = f" (gene strand {_revcomp(allele.ref)}/{_revcomp(allele.alt)})" if minus else ""
    bad = [p for p in parts if p not in plus | minus]
    if not bad:  # each base is valid on one strand, but not on the same one
        raise UnknownAlleleError(
            f"{label} genotype {str(text).strip()!r} mixes bases of the plus strand "
            f"({allele.ref}/{allele.alt}) and the gene strand ({_revcomp(allele.ref)}/"
            f"{_revcomp(allele.alt)}); write both alleles on one strand")
    raise UnknownAlleleError(f"{label} allele {bad[0]!r} is neither ref {allele.ref} nor alt "
                             f"{allele.alt} on the plus strand{also}")


def _none(text: str) -> str | None:
    return None if text in (".", "") else text


@functools.lru_cache(maxsize=1)
def allele_table() -> tuple[Allele, ...]:
    """All rows of ``tables/pgx_alleles.tsv`` (read once)."""
    text = resources.files("bio_mtl.dosing").joinpath("tables/pgx_alleles.tsv").read_text(
        encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    rows = []
    for r in csv.DictReader(lines, delimiter="\t"):
        pos = {b: (int(r[f"{b}_pos"]) if _none(r[f"{b}_pos"]) else None)
               for b in ("grch38", "grch37")}
        rows.append(Allele(
            gene=r["gene"], name=r["allele"], rsid=_none(r["rsid"]), hgvs=_none(r["hgvs"]),
            chrom=r["chrom"], pos={"GRCh38": pos["grch38"], "GRCh37": pos["grch37"]},
            ref=_none(r["ref"]), alt=_none(r["alt"]), gene_strand=r["gene_strand"],
            function=r["function"],
            activity=float(r["activity"]) if _none(r["activity"]) else None,
            aliases=tuple(a for a in r["aliases"].split("|") if _none(a)), source=r["source"]))
    return tuple(rows)


@functools.lru_cache(maxsize=1)
def genes() -> MappingProxyType:
    """``{gene: {allele name: Allele}}`` in table order (read-only)."""
    out: dict[str, dict[str, Allele]] = {}
    for a in allele_table():
        out.setdefault(a.gene, {})[a.name] = a
    return MappingProxyType({g: MappingProxyType(v) for g, v in out.items()})


def is_star_gene(gene: str) -> bool:
    """Whether the gene is described by star alleles (it has a ``*1`` row)."""
    return "*1" in genes()[gene]


@functools.lru_cache(maxsize=1)
def variants() -> MappingProxyType:
    """``{rsid: Allele}`` for every allele defined by a variant (read-only)."""
    return MappingProxyType({a.rsid: a for a in allele_table() if a.rsid})


def find_gene(name: str) -> str:
    """The table's spelling of a gene symbol (case-insensitive).

    Parameters
    ----------
    name
        An HGNC symbol, e.g. ``"cyp2c9"``.

    Raises
    ------
    UnknownAlleleError
        For a gene outside the table (the message lists the known genes).
    """
    table = genes()
    for g in table:
        if g.upper() == name.strip().upper():
            return g
    raise UnknownAlleleError(f"unknown gene {name.strip()!r}; known genes: {', '.join(table)}")


def find_variant(gene: str | None, name: str) -> Allele:
    """A variant by rsID or alias (``-1639G>A``, ``c.430C>T``).

    Parameters
    ----------
    gene
        Look only among this gene's variants (``None``: all).
    name
        rsID or alias.

    Raises
    ------
    UnknownAlleleError
        For an unknown variant (the message lists the known ones).
    """
    key = name.strip()
    for a in variants().values():
        if (gene is None or a.gene == gene) and (a.rsid.lower() == key.lower()
                                                 or key in a.aliases):
            return a
    known = [a for a in variants().values() if gene is None or a.gene == gene]
    where = f"{gene} variant" if gene else "rsID"
    listed = ", ".join(a.rsid + (f" ({a.aliases[0]})" if gene and a.aliases else "")
                       for a in known)
    raise UnknownAlleleError(f"unknown {where} {key!r}; known: {listed}")


