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
    ``##contig`` lines; ``extra_header`` is added to the meta lines; ``fmt`` is ``"vcf"``,
    ``"gz"`` (plain gzip) or ``"bgz"`` (BGZF).
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


@pytest.fixture(scope="session")
def warfarin_model_dir(tmp_path_factory):
    """A small DosingModel (warfarin head only) trained on 300 simulated patients, saved."""
    from bio_mtl.dosing.model import DosingModel
    from bio_mtl.dosing.simulate import simulate_cohort

    out = tmp_path_factory.mktemp("dose_model") / "model"
    sim = simulate_cohort({"warfarin": 300}, seed=0)
    DosingModel(seed=1, epochs=30, batch_size=128).fit(sim).save(out)
    return out


@pytest.fixture
def make_iwpc_table():
    """``make_iwpc_table(n, seed)``: simulated patients in the PharmGKB IWPC column format."""
    import pandas as pd

    from bio_mtl.dosing.simulate import simulate_cohort

    def _make(n, seed):
        sim = simulate_cohort({"warfarin": n}, seed=seed)
        race = {"white": "White", "asian": "Asian", "black": "Black or African American"}
        return pd.DataFrame({
            "PharmGKB Subject ID": [f"PA{seed}_{i}" for i in range(n)],
            "Project Site": [1 + i % 3 for i in range(n)],
            "Race (OMB)": sim["ancestry"].map(race),
            "Age": [f"{int(d) * 10} - {int(d) * 10 + 9}" for d in sim["age_decades"]],
            "Height (cm)": sim["height_cm"], "Weight (kg)": sim["weight_kg"],
            "Amiodarone (Cordarone)": sim["amiodarone"].astype(int),
            "Carbamazepine (Tegretol)": sim["inducer"].astype(int),
            "Subject Reached Stable Dose of Warfarin": 1,
            "Therapeutic Dose of Warfarin": sim["dose_mg_per_week"].round(1),
            "CYP2C9 consensus": sim["cyp2c9"], "VKORC1 -1639 consensus": sim["vkorc1"]})

    return _make
