"""Pharmacogene genotypes from a VCF (``.vcf``, ``.vcf.gz``, ``.bcf``) with cyvcf2.

Only the positions of the allele table (:mod:`bio_mtl.dosing.alleles`) are read. The genome
build is taken from ``build=``, else from the header (``##contig`` lengths of chr10/16/19, then a
``##reference`` line naming GRCh37/hg19/b37 or GRCh38/hg38), else from which build's positions
and reference bases the records match. ``chr10`` and ``10`` are both accepted.

Rules, so nothing is a silent default:

- a multi-sample VCF needs ``sample=`` (the error lists the samples);
- a no-call (``./.``) at a gene's defining position makes that gene unknown, with a warning;
- positions absent from the file: a gene with none of its positions present is unknown (or, with
  ``assume_reference=True``, homozygous reference), with a warning; a gene with some positions
  present is called from those, the others taken as reference, with a warning;
- a REF base that differs from the build's reference is an error (wrong build);
- a VCF with none of the positions is an error (is it a variant-only VCF? then
  ``assume_reference=True`` says absent means reference).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import zlib
from pathlib import Path

from .._io import open_input
from ..errors import InputError
from .alleles import BUILDS, VariantCall, allele_table, genes
from .genotypes import PatientGenotype, genotype_from_calls

__all__ = ["CONTIG_LENGTHS", "detect_build", "genotype_from_vcf"]

#: Lengths of the chromosomes holding the table's genes (Genome Reference Consortium).
CONTIG_LENGTHS = {"GRCh38": {"10": 133797422, "16": 90338345, "19": 58617616},
                  "GRCh37": {"10": 135534747, "16": 90354753, "19": 59128983}}
_REFERENCE_NAMES = {"GRCh38": ("grch38", "hg38", "b38"),
                    "GRCh37": ("grch37", "hg19", "b37", "hs37d5", "human_g1k_v37")}


def _chrom(name: str) -> str:
    return re.sub(r"^chr", "", str(name), flags=re.IGNORECASE)


def _header_build(vcf) -> str | None:
    lines = vcf.raw_header.splitlines()
    for line in lines:
        m = re.match(r"##contig=<(.*)>", line, flags=re.IGNORECASE)
        if m:
            fields = dict(re.findall(r"(\w+)=([^,>]+)", m.group(1)))
            fields = {k.lower(): v for k, v in fields.items()}
            for build, lengths in CONTIG_LENGTHS.items():
                if fields.get("length", "").isdigit() and \
                        lengths.get(_chrom(fields.get("id", ""))) == int(fields["length"]):
                    return build
    for line in lines:
        if line.lower().startswith(("##reference", "##assembly")):
            for build in ("GRCh37", "GRCh38"):
                if any(n in line.lower() for n in _REFERENCE_NAMES[build]):
                    return build
    return None


def _position_matches(records: dict) -> dict[str, int]:
    """Per build, how many table positions have a record with the table's REF."""
    out = dict.fromkeys(BUILDS, 0)
    for a in allele_table():
        for build in BUILDS:
            rec = records.get((a.chrom, a.pos[build])) if a.rsid else None
            if rec is not None and rec[0] == a.ref:
                out[build] += 1
    return out


def detect_build(vcf, records: dict, *, path: object = None) -> str:
    """The genome build of an open cyvcf2 ``VCF`` given its records at the table positions.

    Parameters
    ----------
    vcf
        A ``cyvcf2.VCF``.
    records
        ``{(chrom, pos): (REF, ALT list, genotype)}`` as read by :func:`genotype_from_vcf`.
    path
        File name for messages.

    Returns
    -------
    str
        ``"GRCh38"`` or ``"GRCh37"``.

    Raises
    ------
    InputError
        When neither header nor positions tell, or the header contradicts the positions.
    """
    header = _header_build(vcf)
    matches = _position_matches(records)
    best = max(BUILDS, key=lambda b: matches[b])
    if header is not None:
        other = next(b for b in BUILDS if b != header)
        if matches[header] == 0 and matches[other] > 0:
            raise InputError(f"header says {header} but the records match {other} positions; "
                             "pass build= (--build) to choose", path=path)
        return header
    if matches[best] == 0:
        raise InputError("cannot tell the genome build (no ##contig lengths or ##reference, and "
                         "no record at a supported position); pass build= (--build GRCh38 or "
                         "--build GRCh37)", path=path)
    if matches["GRCh38"] == matches["GRCh37"]:
        raise InputError("records match GRCh37 and GRCh38 positions equally; pass build= "
                         "(--build)", path=path)
    return best


@contextlib.contextmanager
def _quiet_htslib():
    """Silence htslib's own stderr lines (``[W::vcf_parse] ...``) while cyvcf2 reads.

    Problems reach the user as one-line :class:`InputError` messages instead. htslib is linked
    into the cyvcf2 extension, whose ``hts_set_log_level`` is called through ctypes; where that
    is not possible the messages are simply left on.
    """
    try:
        import ctypes

        import cyvcf2.cyvcf2 as ext

        lib = ctypes.CDLL(ext.__file__)
        lib.hts_get_log_level.restype = ctypes.c_int
        level = lib.hts_get_log_level()
    except (ImportError, OSError, AttributeError):
        yield
        return
    lib.hts_set_log_level(0)
    try:
        yield
    finally:
        lib.hts_set_log_level(level)


def _check_format(path: Path) -> None:
    """Refuse a file that is neither VCF text (plain or gzip/BGZF) nor BCF, with a hint."""
    with open_input(path, "rb", what="VCF file") as handle:
        start = handle.read(16)
        try:
            if start[:2] == b"\x1f\x8b":
                handle.seek(0)
                with gzip.GzipFile(fileobj=handle, mode="rb") as inner:
                    start = inner.read(16)
        except (OSError, EOFError, zlib.error) as exc:  # a corrupt or truncated .gz
            raise InputError(f"cannot read the VCF ({exc})", path=path) from None
    if start.startswith((b"##fileformat=VCF", b"BCF\x02")):
        return
    shown = start.split(b"\n")[0].decode("utf-8", "replace")
    raise InputError(f"not a VCF: it starts with {shown!r}, not '##fileformat=VCF' (a patient "
                     "table goes to --input)", path=path)


def _open(path: Path, sample: str | None):
    from cyvcf2 import VCF

    _check_format(path)
    try:
        with _quiet_htslib():
            vcf = VCF(str(path), lazy=True)
    except Exception as exc:  # cyvcf2 raises OSError or a bare Exception on htslib errors
        raise InputError(f"cannot read the VCF ({exc})", path=path) from None
    samples = list(vcf.samples)
    if not samples:
        raise InputError("the VCF has no sample columns (sites-only); genotypes are needed",
                         path=path)
    if sample is None and len(samples) > 1:
        shown = ", ".join(samples[:20]) + (f", ... ({len(samples)} in all)"
                                           if len(samples) > 20 else "")
        raise InputError(f"the VCF has {len(samples)} samples; choose one with sample= "
                         f"(--sample): {shown}", path=path)
    if sample is not None and sample not in samples:
        raise InputError(f"sample {sample!r} is not in the VCF; samples: "
                         f"{', '.join(samples[:20])}", path=path)
    return vcf, samples.index(sample) if sample is not None else 0


def _read_records(vcf, index: int, path: Path) -> dict:
    wanted = {(a.chrom, a.pos[b]) for a in allele_table() if a.rsid for b in BUILDS}
    try:
        with _quiet_htslib():
            records = _scan(vcf, index, wanted)
    except Exception as exc:  # htslib parse errors surface as plain Exception
        hint = "; genotypes must be in a GT FORMAT field" if "genotype" in str(exc) else ""
        raise InputError(f"cannot parse the VCF records ({exc}){hint}", path=path) from None
    return records


def _scan(vcf, index: int, wanted: set) -> dict:
    records: dict = {}
    for v in vcf:
        key = (_chrom(v.CHROM), v.POS)
        if key in wanted:
            gt = v.genotypes[index] if v.genotypes is not None else [-1, -1, False]
            prev = records.get(key)
            # split multi-allelic records: keep the one whose call is not all-reference
            if prev is None or all(x == 0 for x in prev[2][:-1]):
                records[key] = (v.REF, list(v.ALT), gt)
    return records


def _call(a, rec) -> VariantCall | str:
    """VariantCall for one table allele from its record, or a reason string (no-call)."""
    ref, alts, gt = rec
    *idx, phased = gt
    if len(idx) != 2:
        return f"{a.rsid} has a {len(idx)}-allele call (expected diploid)"
    if any(i < 0 for i in idx):
        return f"no call at {a.rsid} ({a.gene} {a.name})"
    alleles = [ref, *alts]
    return VariantCall(tuple(alleles[i] if alleles[i] != "*" else "<*>" for i in idx),
                       bool(phased))


def genotype_from_vcf(path: str | os.PathLike, *, sample: str | None = None,
                      build: str | None = None, assume_reference: bool = False
                      ) -> PatientGenotype:
    """Read one sample's pharmacogene genotypes from a VCF.

    Parameters
    ----------
    path
        ``.vcf``, ``.vcf.gz`` (bgzip or plain gzip) or ``.bcf``.
    sample
        Sample name; required when the VCF has several samples.
    build
        ``"GRCh38"`` or ``"GRCh37"``; default: from the header, else from the positions.
    assume_reference
        Treat a gene none of whose positions are in the file as homozygous reference (for
        variant-only VCFs), with a warning, instead of unknown.

    Returns
    -------
    PatientGenotype
        With ``source`` naming the file, sample and build.

    Raises
    ------
    InputError
        Unreadable file, sample missing or ambiguous, unknown build, REF that differs from the
        build's reference, or no supported position at all.
    """
    path = Path(path)
    if build is not None and build not in BUILDS:
        raise InputError(f"unknown build {build!r}; choose {' or '.join(BUILDS)}", path=path)
    vcf, index = _open(path, sample)
    name = vcf.samples[index]
    records = _read_records(vcf, index, path)
    build = build or detect_build(vcf, records, path=path)
    calls, unknown, absent = _collect(records, build, path=path, name=name)
    if not calls and not unknown and not assume_reference:
        other = next(b for b in BUILDS if b != build)
        hint = (f"; its records match {other} positions: wrong build? (--build {other})"
                if _position_matches(records)[other] else
                "; for a variant-only VCF pass assume_reference=True (--vcf-assume-ref)")
        raise InputError(f"none of the {sum(len(v) for v in absent.values())} supported "
                         f"positions ({', '.join(genes())}, {build}) is in the VCF{hint}",
                         path=path, record=name)
    notes = []
    for gene, missing in absent.items():
        n_gene = sum(1 for a in genes()[gene].values() if a.rsid)
        if assume_reference and len(missing) == n_gene and gene not in unknown:
            calls.update({a.rsid: VariantCall((a.ref, a.ref))
                          for a in genes()[gene].values() if a.rsid})
            notes.append(f"{gene}: no position in the VCF, assumed reference "
                         "(assume_reference)")
    geno = genotype_from_calls(calls, unknown=unknown,
                               source=f"{path.name} sample {name} ({build})")
    geno.warnings[:0] = notes
    return geno


def _collect(records: dict, build: str, *, path: Path, name: str) -> tuple[dict, dict, dict]:
    """``(calls, unknown genes with reasons, absent rsIDs per gene)`` at the table positions."""
    calls, unknown, absent = {}, {}, {}
    for a in allele_table():
        if not a.rsid:
            continue
        rec = records.get((a.chrom, a.pos[build]))
        if rec is None:
            absent.setdefault(a.gene, []).append(a.rsid)
            continue
        if rec[0] != a.ref:
            raise InputError(f"REF {rec[0]!r} at {a.chrom}:{a.pos[build]} is not the {build} "
                             f"reference {a.ref!r} of {a.rsid}; wrong build? pass build= "
                             "(--build)", path=path, record=name)
        call = _call(a, rec)
        if isinstance(call, str):
            unknown[a.gene] = call
        else:
            calls[a.rsid] = call
    return calls, unknown, absent
