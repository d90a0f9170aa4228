"""VCF reading on small real VCF files (plain, gzip, BGZF; GRCh38 and GRCh37)."""

import math

import pytest

from bio_mtl.dosing.vcf import genotype_from_vcf
from bio_mtl.errors import InputError

# (chrom, GRCh38 pos, GRCh37 pos, rsid, ref, alt)
SITES = {"*2": ("10", 94942290, 96702047, "rs1799853", "C", "T"),
         "*3": ("10", 94981296, 96741053, "rs1057910", "A", "C"),
         "*6": ("10", 94949281, 96709038, "rs9332131", "GA", "G"),
         "vk": ("16", 31096368, 31107689, "rs9923231", "C", "T"),
         "f2": ("19", 15879621, 15990431, "rs2108622", "C", "T"),
         "c19*17": ("10", 94761900, 96521657, "rs12248560", "C", "T"),
         "c19*4": ("10", 94762706, 96522463, "rs28399504", "A", "G")}


def _rows(gts, build="GRCh38"):
    col = 1 if build == "GRCh38" else 2
    rows = []
    for key, calls in gts.items():
        site = SITES[key]
        rows.append((site[0], site[col], site[3], site[4], site[5],
                     *([calls] if isinstance(calls, str) else calls)))
    return sorted(rows, key=lambda r: (int(r[0]), r[1]))


@pytest.mark.parametrize("fmt", ["vcf", "gz", "bgz"])
def test_grch38_calls_in_every_format(write_vcf, fmt):
    path = write_vcf(_rows({"*2": "0/0", "*3": "0/1", "*6": "0/0", "vk": "1/1", "f2": "0/1",
                            "c19*17": "0/1", "c19*4": "0/0"}), fmt=fmt)
    g = genotype_from_vcf(path)
    assert g.diplotypes == {"CYP2C9": "*1/*3", "CYP2C19": "*1/*17", "CYP4F2": "*1/*3"}
    assert g.activity == {"CYP2C9": 1.0}   # CPIC defines no CYP2C19 activity score
    assert g.phenotypes == {"CYP2C9": "intermediate metabolizer",
                            "CYP2C19": "rapid metabolizer"}
    assert g.features()["VKORC1_1639A_count"] == 2.0
    assert "(GRCh38)" in g.source
    # the positions not in the file are named in one warning per gene
    assert any(w.startswith("CYP2C9 *1/*3 called without *5 (rs28371686)") for w in g.warnings)


def test_grch37_detected_from_positions_without_header(write_vcf):
    path = write_vcf(_rows({"*2": "0/1", "*3": "0/1", "vk": "0/1"}, build="GRCh37"),
                     build=None, chr_prefix=False)
    g = genotype_from_vcf(path)
    assert "(GRCh37)" in g.source and g.diplotypes["CYP2C9"] == "*2/*3"
    assert g.phenotypes["CYP2C9"] == "poor metabolizer"
    assert any("assumed in trans" in w for w in g.warnings)


def test_header_contradicting_positions_is_an_error(write_vcf):
    path = write_vcf(_rows({"*2": "0/1", "vk": "0/1"}, build="GRCh37"), build="GRCh38")
    with pytest.raises(InputError, match="header says GRCh38 but the records match GRCh37"):
        genotype_from_vcf(path)
    assert genotype_from_vcf(path, build="GRCh37").diplotypes["CYP2C9"] == "*1/*2"


def test_multi_sample_needs_sample(write_vcf):
    path = write_vcf(_rows({"*2": ["0/0", "1/1"], "*3": ["0/1", "0/0"], "vk": ["0/0", "0/1"]}),
                     samples=("NA12878", "NA19240"))
    with pytest.raises(InputError) as info:
        genotype_from_vcf(path)
    assert "2 samples" in str(info.value) and "NA12878, NA19240" in str(info.value)
    assert genotype_from_vcf(path, sample="NA19240").diplotypes["CYP2C9"] == "*2/*2"
    assert genotype_from_vcf(path, sample="NA12878").diplotypes["CYP2C9"] == "*1/*3"
    with pytest.raises(InputError, match="'HG00096' is not in the VCF"):
        genotype_from_vcf(path, sample="HG00096")


@pytest.mark.parametrize(("gt2", "gt3", "expected"), [
    ("0|1", "1|0", "*2/*3"), ("1|0", "1|0", None), ("0/1", "0/1", "*2/*3")])
def test_phase(write_vcf, gt2, gt3, expected):
    g = genotype_from_vcf(write_vcf(_rows({"*2": gt2, "*3": gt3, "vk": "0/0"})))
    assert g.diplotypes.get("CYP2C9") == expected
    assert g.variants["rs1799853"] == gt2.replace("0", "C").replace("1", "T")


def test_no_call_makes_gene_unknown(write_vcf):
    g = genotype_from_vcf(write_vcf(_rows({"*2": "0/1", "*3": "./.", "vk": "0/1"})))
    assert "CYP2C9" not in g.diplotypes and g.phenotypes["CYP2C9"] == "unknown"
    assert math.isnan(g.features()["CYP2C9_activity"])
    assert "CYP2C9 unknown: no call at rs1057910 (CYP2C9 *3)" in g.warnings


def test_vcf_without_needed_positions(write_vcf):
    path = write_vcf([("1", 1000, "rs1", "A", "G", "0/1")])
    with pytest.raises(InputError, match="none of the 14 supported positions"):
        genotype_from_vcf(path)
    g = genotype_from_vcf(path, assume_reference=True)
    assert g.diplotypes == {"CYP2C9": "*1/*1", "CYP2C19": "*1/*1", "CYP4F2": "*1/*1"}
    assert g.features()["VKORC1_1639A_count"] == 0.0
    assert sum("assumed reference (assume_reference)" in w for w in g.warnings) == 4


def test_reference_line_gives_build(write_vcf):
    path = write_vcf([("1", 1000, "rs1", "A", "G", "0/1")], build=None,
                     extra_header="##reference=file:///refs/human_g1k_v37.fasta\n")
    with pytest.raises(InputError, match=r"CYP4F2, GRCh37\) is in the VCF"):
        genotype_from_vcf(path)
    assert "(GRCh37)" in genotype_from_vcf(path, assume_reference=True).source


def test_gene_without_positions_is_unknown(write_vcf):
    g = genotype_from_vcf(write_vcf(_rows({"vk": "0/1"})))
    assert g.diplotypes == {} and g.features()["VKORC1_1639A_count"] == 1.0
    assert g.warnings[-1] == "not genotyped (modelled as unknown): CYP2C9, CYP2C19, CYP4F2"


def test_ref_mismatch_is_wrong_build(write_vcf):
    path = write_vcf([("10", 94942290, "rs1799853", "G", "T", "0/1"),
                      ("16", 31096368, "rs9923231", "C", "T", "0/1")])
    with pytest.raises(InputError, match="REF 'G' at 10:94942290 is not the GRCh38 reference"):
        genotype_from_vcf(path)


@pytest.mark.parametrize(("gt", "expected"), [("0/1", "*1/*8"), ("0/2", None)])
def test_multiallelic_site(write_vcf, gt, expected):
    # rs7900194 G>A is *8; G>T is *27, which is not in the table -> unknown with a warning
    g = genotype_from_vcf(write_vcf([("10", 94942309, "rs7900194", "G", "A,T", gt)]))
    assert g.diplotypes.get("CYP2C9") == expected
    if expected is None:
        assert any("'T' is not in the allele table" in w for w in g.warnings)
    else:
        assert g.activity["CYP2C9"] == 1.5


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "bad.vcf"
    bad.write_text("this is not a VCF\n")
    with pytest.raises(InputError, match="bad.vcf"):
        genotype_from_vcf(bad)
    with pytest.raises(InputError, match="missing.vcf: no such VCF file"):
        genotype_from_vcf(tmp_path / "missing.vcf")
