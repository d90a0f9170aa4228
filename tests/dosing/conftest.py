"""Fixtures for the dosing tests: small real VCF files (plain, gzip and BGZF)."""

from __future__ import annotations

import gzip
import struct
import zlib

import pytest

VCF_HEADER = """##fileformat=VCFv4.2
{contigs}##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}
"""
CONTIGS = {"GRCh38": {"10": 133797422, "16": 90338345, "19": 58617616},
           "GRCh37": {"10": 135534747, "16": 90354753, "19": 59128983}}
# BGZF end-of-file marker block (SAM/BAM specification, section 4.1.2)
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def bgzf_compress(data: bytes) -> bytes:
    """Blocked gzip (BGZF, SAM/BAM spec 4.1) as written by bgzip: gzip members with a BC field."""
    out = bytearray()
    for start in range(0, max(len(data), 1), 65280):
        chunk = data[start:start + 65280]
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = comp.compress(chunk) + comp.flush()
        bsize = 18 + len(body) + 8 - 1
        out += b"\x1f\x8b\x08\x04" + b"\0\0\0\0" + b"\0\xff" + struct.pack("<H", 6)
        out += b"BC" + struct.pack("<HH", 2, bsize) + body
        out += struct.pack("<II", zlib.crc32(chunk) & 0xFFFFFFFF, len(chunk))
    return bytes(out + BGZF_EOF)


@pytest.fixture
def write_vcf(tmp_path):
    """``write_vcf(rows, samples=("S1",), build="GRCh38", fmt="vcf", chr_prefix=True)``.

    ``rows`` are ``(chrom, pos, rsid, ref, alt, gts...)`` tuples; ``build=None`` writes no
    ``##contig`` lines; ``extra_header`` is added to the meta lines; ``fmt`` is ``"vcf"``, ``"gz"`` (plain gzip) or ``"bgz"`` (BGZF).
    """
    def _write(rows, *, samples=("S1",), build="GRCh38", fmt="vcf", chr_prefix=True,
               name="sample", extra_header=""):
        pre = "chr" if chr_prefix else ""
        contigs = "".join(f"##contig=<ID={pre}{c},length={n}>\n"
                          for c, n in CONTIGS[build].items()) if build else ""
        contigs += extra_header
        text = VCF_HEADER.format(contigs=contigs, samples="\t".join(samples))
        for chrom, pos, rsid, ref, alt, *gts in rows:
            text += f"{pre}{chrom}\t{pos}\t{rsid}\t{ref}\t{alt}\t.\tPASS\t.\tGT\t" \
                    + "\t".join(gts) + "\n"
        data = text.encode()
        path = tmp_path / (f"{name}.vcf" + {"vcf": "", "gz": ".gz", "bgz": ".gz"}[fmt])
        path.write_bytes(data if fmt == "vcf" else
                         gzip.compress(data) if fmt == "gz" else bgzf_compress(data))
        return path

    return _write
