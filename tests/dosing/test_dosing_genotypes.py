"""Genotype layer against CPIC tables and the input syntax of issue 4."""

import math

import pandas as pd
import pytest

from bio_mtl.dosing.alleles import VariantCall, allele_table, genes, variants
from bio_mtl.dosing.features import feature_table, tidy_patients
from bio_mtl.dosing.genotypes import (
    PatientGenotype,
    activity_score,
    call_diplotype,
    diplotype_phenotype,
    parse_genotype_string,
    phenotype,
)
from bio_mtl.errors import InputError, UnknownAlleleError

# CPIC CYP2C9 diplotype -> activity score -> phenotype (Theken et al. 2020, table 1 and the
# CPIC CYP2C9 diplotype-phenotype table): *2, *5, *8, *11, *14 = 0.5; *3, *6, *13 = 0.
CYP2C9_CPIC = [("*1/*1", 2.0, "normal metabolizer"), ("*1/*2", 1.5, "intermediate metabolizer"),
               ("*1/*3", 1.0, "intermediate metabolizer"),
               ("*2/*2", 1.0, "intermediate metabolizer"), ("*2/*3", 0.5, "poor metabolizer"),
               ("*3/*3", 0.0, "poor metabolizer"), ("*1/*5", 1.5, "intermediate metabolizer"),
               ("*1/*6", 1.0, "intermediate metabolizer"),
               ("*1/*8", 1.5, "intermediate metabolizer"),
               ("*1/*11", 1.5, "intermediate metabolizer"),
               ("*1/*13", 1.0, "intermediate metabolizer"),
               ("*1/*14", 1.5, "intermediate metabolizer"), ("*5/*6", 0.5, "poor metabolizer"),
               ("*8/*11", 1.0, "intermediate metabolizer")]
# CPIC CYP2C19 diplotype -> phenotype (Lee et al. 2022, table 1; *4 is no function).
CYP2C19_CPIC = [("*1/*1", "normal metabolizer"), ("*1/*17", "rapid metabolizer"),
                ("*17/*17", "ultrarapid metabolizer"), ("*1/*2", "intermediate metabolizer"),
                ("*1/*3", "intermediate metabolizer"), ("*2/*17", "intermediate metabolizer"),
                ("*3/*17", "intermediate metabolizer"), ("*2/*2", "poor metabolizer"),
                ("*2/*3", "poor metabolizer"), ("*3/*3", "poor metabolizer"),
                ("*1/*4", "intermediate metabolizer"), ("*4/*17", "intermediate metabolizer"),
                ("*2/*4", "poor metabolizer"), ("*4/*4", "poor metabolizer")]


@pytest.mark.parametrize(("diplotype", "score", "label"), CYP2C9_CPIC)
def test_cyp2c9_activity_and_phenotype_match_cpic(diplotype, score, label):
    assert activity_score("CYP2C9", diplotype) == score
    assert phenotype("CYP2C9", score) == label
    g = parse_genotype_string(f"CYP2C9={diplotype}")
    assert g.activity["CYP2C9"] == score and g.phenotypes["CYP2C9"] == label


@pytest.mark.parametrize(("diplotype", "label"), CYP2C19_CPIC)
def test_cyp2c19_phenotype_matches_cpic(diplotype, label):
    assert diplotype_phenotype("CYP2C19", diplotype) == label
    g = parse_genotype_string(f"CYP2C19={diplotype}")
    # CPIC defines no CYP2C19 activity score: a phenotype only
    assert g.phenotypes["CYP2C19"] == label and "CYP2C19" not in g.activity


def test_issue_example_string():
    g = parse_genotype_string("CYP2C9=*1/*3; VKORC1=-1639G>A:A/G; CYP4F2=rs2108622:C/T")
    assert g.diplotypes == {"CYP2C9": "*1/*3", "CYP4F2": "*1/*3"}
    assert g.variants == {"rs9923231": "C/T", "rs2108622": "C/T"}  # plus strand
    f = g.features()
    assert (f["CYP2C9_activity"], f["CYP2C9_star2_count"], f["CYP2C9_star3_count"]) == \
        (1.0, 0.0, 1.0)
    assert f["VKORC1_1639A_count"] == 1.0 and f["CYP4F2_rs2108622_T_count"] == 1.0
    assert math.isnan(f["CYP2C19_function_sum"]) and g.phenotypes["CYP2C19"] == "unknown"
    assert g.warnings == ["not genotyped (modelled as unknown): CYP2C19"]


def test_rsid_string_calls_star_alleles_with_warnings():
    g = parse_genotype_string("rs1799853=C/T,rs9923231=A/G")
    assert g.diplotypes["CYP2C9"] == "*1/*2" and g.activity["CYP2C9"] == 1.5
    assert g.features()["VKORC1_1639A_count"] == 1.0
    assumed = [w for w in g.warnings if "assumed reference" in w]
    assert len(assumed) == 1 and "*3 (rs1057910)" in assumed[0]
    assert "CYP2C19, CYP4F2" in g.warnings[-1]


@pytest.mark.parametrize(("text", "count"), [
    ("VKORC1=rs9923231:A/G", 1.0), ("VKORC1=rs9923231:C/T", 1.0), ("VKORC1=A/A", 2.0),
    ("VKORC1=-1639G>A:G/G", 0.0), ("rs9923231=T/T", 2.0), ("VKORC1=c.-1639G>A:C/C", 0.0)])
def test_vkorc1_both_strands(text, count):
    assert parse_genotype_string(text).features()["VKORC1_1639A_count"] == count


@pytest.mark.parametrize(("text", "diplotype"), [
    ("rs1799853=C/T; rs1057910=A/C", "*2/*3"),      # unphased: assumed in trans
    ("rs1799853=C|T; rs1057910=C|A", "*2/*3"),      # phased, trans
    ("rs1799853=C|T; rs1057910=A|C", None),         # phased, cis: no known allele has both
    ("rs1799853=T/T; rs1057910=A/C", None),         # three variant alleles
    ("rs4244285=A/A", "*2/*2"), ("rs12248560=C/T; rs4244285=G/A; rs28399504=A/A", "*2/*17"),
    ("rs12248560=C/T; rs4244285=G/A", None),       # *17 not called: rs28399504 untyped
    ("rs9332131=GA/G", "*1/*6"), ("rs2108622=T/T", "*3/*3")])
def test_diplotype_calling_from_variants(text, diplotype):
    g = parse_genotype_string(text)
    gene = variants()[text.split("=")[0].strip()].gene
    assert g.diplotypes.get(gene) == diplotype
    if diplotype is None:
        assert any("diplotype unknown" in w for w in g.warnings)
        assert math.isnan(g.features().get(f"{gene}_activity", math.nan))


def test_unphased_compound_het_warns_trans():
    _, warns = call_diplotype("CYP2C9", {"rs1799853": VariantCall(("C", "T")),
                                         "rs1057910": VariantCall(("A", "C"))})
    assert warns == ["CYP2C9: phase of *2, *3 unknown; variants assumed in trans"]


@pytest.mark.parametrize(("text", "error", "fragments"), [
    ("CYP2C9=*1/*99", UnknownAlleleError, ["'*99'", "*1, *2, *3, *5, *6, *8, *11, *13, *14"]),
    ("CYP2D6=*1/*4", UnknownAlleleError, ["'CYP2D6'", "CYP2C9, CYP2C19, VKORC1, CYP4F2"]),
    ("rs123=A/G", UnknownAlleleError, ["'rs123'", "rs1799853"]),
    ("rs1799853=C/G", UnknownAlleleError, ["'G'", "ref C", "alt T"]),
    ("rs1057910=T/G", UnknownAlleleError, ["'T'", "ref A"]),   # CYP2C9 is plus strand
    ("rs1799853=C/T/T", InputError, ["exactly two alleles"]),
    ("CYP2C9=*1", InputError, ["exactly two alleles"]),
    ("CYP2C9=*1/*2/*3", InputError, ["exactly two alleles"]),
    ("CYP2C9=*1/*1; rs1799853=C/T", InputError, ["conflicts"]),
    ("CYP2C9=*1/*1; CYP2C9=*1/*2", InputError, ["given twice"]),
    ("CYP2C19=rs1:A/G", UnknownAlleleError, ["rs4244285", "rs12248560"]),
    ("CYP2C9=C/T", InputError, ["name the variant"]),
    ("CYP2C9 *1/*3", InputError, ["KEY=VALUE"]),
    ("  ", InputError, ["empty genotype"])])
def test_bad_genotypes_raise_one_line_errors(text, error, fragments):
    with pytest.raises(error) as info:
        parse_genotype_string(text)
    message = str(info.value)
    assert "\n" not in message
    for part in fragments:
        assert part in message


def test_phenotype_and_activity_reject_impossible_values():
    assert phenotype("CYP2C9", math.nan) == "unknown"
    for score in (2.5, 0.25, 4):
        with pytest.raises(InputError, match="not possible"):
            phenotype("CYP2C9", score)
    for gene in ("CYP2C19", "VKORC1"):
        with pytest.raises(InputError, match=f"no CPIC activity score for {gene}"):
            phenotype(gene, 1.0)
        with pytest.raises(UnknownAlleleError, match=f"CPIC defines no activity score for {gene}"):
            activity_score(gene, "*1/*1")
    with pytest.raises(InputError, match="no CPIC phenotype for VKORC1"):
        diplotype_phenotype("VKORC1", "*1/*1")


def test_table_facts():
    # GRCh38 / GRCh37 VCF positions as PharmCAT (GRCh38) and PyPGx (GRCh37, GRCh38) list them
    expect = {"rs1799853": (94942290, 96702047, "C", "T"),
              "rs1057910": (94981296, 96741053, "A", "C"),
              "rs9923231": (31096368, 31107689, "C", "T"),
              "rs2108622": (15879621, 15990431, "C", "T"),
              "rs4244285": (94781859, 96541616, "G", "A"),
              "rs12248560": (94761900, 96521657, "C", "T"),
              # PharmCAT CYP2C19_translation.json: g.94762706A>G (GRCh38); GRCh37 NC_000010.10
              # g.96522463 (806 bp downstream of c.-806 at 96521657, as in GRCh38)
              "rs28399504": (94762706, 96522463, "A", "G")}
    for rsid, (b38, b37, ref, alt) in expect.items():
        a = variants()[rsid]
        assert (a.pos["GRCh38"], a.pos["GRCh37"], a.ref, a.alt) == (b38, b37, ref, alt)
    for a in allele_table():
        assert a.source
        if a.rsid:
            assert a.pos["GRCh38"] and a.pos["GRCh37"] and a.ref and a.alt
        if a.gene == "CYP2C9":   # CPIC: normal 1, decreased 0.5, no function 0
            assert a.activity == {"normal function": 1.0, "decreased function": 0.5,
                                  "no function": 0.0}[a.function]
    assert list(genes()["CYP2C19"]) == ["*1", "*2", "*3", "*4", "*17"]


def test_features_same_from_columns_and_string():
    cols = pd.DataFrame({"age": [65, 65], "weight_kg": [70, 70], "height_cm": [175, 175],
                         "ancestry": ["white", "white"], "cyp2c9": ["*2/*3", None],
                         "vkorc1": ["A/G", None], "cyp2c19": ["*1/*17", None],
                         "genotype": [None, "CYP2C9=*2/*3; rs9923231=C/T; CYP2C19=*1/*17"]})
    feats, warns = feature_table(tidy_patients(cols))
    assert feats.iloc[0].to_dict() == feats.iloc[1].to_dict()
    assert feats.loc[0, "cyp2c9_star2"] == 1 and feats.loc[0, "cyp2c9_star3"] == 1
    assert feats.loc[0, "vkorc1_a"] == 1 and feats.loc[0, "cyp2c19_gain"] == 0.5
    assert feats.loc[0, "cyp4f2_unknown"] == 1 and warns[0] == warns[1]


def test_patient_genotype_empty_is_unknown():
    f = PatientGenotype().features()
    assert all(math.isnan(v) for v in f.values()) and len(f) == 6
