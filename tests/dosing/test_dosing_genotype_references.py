"""Genotypes read right, checked against published values (issue 11, item 10).

References: PharmCAT CYP2C19_translation.json (GRCh38 positions and the *4 definition: G at
rs28399504, C or T at rs12248560, i.e. *4.001 and *4.002 = formerly *4B); CPIC CYP2C19
guideline (Lee et al. 2022: phenotypes only, *4 no function); CPIC 2017 warfarin guideline
(Johnson et al., Clin Pharmacol Ther 2017;102:397-404, figure 2 footnotes c and e); the
COUMADIN label's genotype table (lowest range 0.5-2 mg/day); the IWPC formula (Klein et al.
2009) with CYP2C9 categories *1/*2/*3 only.
"""

import math

import pandas as pd
import pytest

from bio_mtl.dosing.advice import (
    CPIC_2017,
    MIN_WEEKLY_DOSE_MG,
    TABLET_STRENGTHS_MG,
    iwpc_scope_note,
    warfarin_warnings,
)
from bio_mtl.dosing.alleles import parse_variant_call, variants
from bio_mtl.dosing.features import feature_table, tidy_patients
from bio_mtl.dosing.genotypes import parse_genotype_string
from bio_mtl.dosing.iwpc import iwpc_pharmacogenetic_dose, tidy_iwpc
from bio_mtl.dosing.predict import genotype_rows
from bio_mtl.dosing.vkorc1 import vkorc1_genotype
from bio_mtl.errors import InputError, UnknownAlleleError

# -- VKORC1 -1639 spellings: gene strand G/A or plus strand C/T, any case, with or without "/"


@pytest.mark.parametrize(("cell", "label"), [
    ("A/A", "A/A"), ("AA", "A/A"), ("a/a", "A/A"), ("T/T", "A/A"), ("tt", "A/A"),
    ("A/G", "A/G"), ("G/A", "A/G"), ("C/T", "A/G"), ("ga", "A/G"),
    ("G/G", "G/G"), ("C/C", "G/G"), ("gg", "G/G")])
def test_vkorc1_cells_read_by_the_one_parser(cell, label):
    assert vkorc1_genotype(cell) == label
    # the same spelling through --genotype gives the same allele count
    count = parse_genotype_string(f"VKORC1={cell}").features()["VKORC1_1639A_count"]
    assert ("G/G", "A/G", "A/A")[int(count)] == label


def _iwpc_row(vkorc1):
    return pd.DataFrame({"Age": ["60 - 69"], "Height (cm)": [175.0], "Weight (kg)": [80.0],
                         "Race (OMB)": ["White"], "CYP2C9 consensus": ["*1/*1"],
                         "VKORC1 -1639 consensus": [vkorc1]})


@pytest.mark.parametrize("cell", ["T/T", "AA", "a/a", "A/A"])
def test_iwpc_table_vkorc1_column_is_not_lost(cell):
    # before: a four-entry lookup made these "unknown" (and a dose of 39.2 instead of 24.6)
    frame, imputed = tidy_iwpc(_iwpc_row(cell))
    assert frame["vkorc1"].tolist() == ["A/A"]
    assert imputed == 0
    feats, warns = feature_table(frame)
    assert feats.loc[0, "vkorc1_a"] == 2
    assert feats.loc[0, "vkorc1_unknown"] == 0
    assert not any("VKORC1" in w for w in warns[0])
    # IWPC formula by hand: 5.6044 - 0.2614*6 + 0.0087*175 + 0.0128*80 - 1.6974 = 4.8851
    assert iwpc_pharmacogenetic_dose(frame)[0] == pytest.approx(4.8851 ** 2, abs=1e-3)


def test_iwpc_table_bad_vkorc1_cell_names_the_row():
    table = pd.concat([_iwpc_row("A/G"), _iwpc_row("A/C")], ignore_index=True)
    with pytest.raises(UnknownAlleleError) as err:
        tidy_iwpc(table, path="p.csv")
    assert err.value.record == "row 2"
    assert "mixes bases" in str(err.value)


# -- bases of both strands mixed: a clear error, never StopIteration


@pytest.mark.parametrize("text", ["VKORC1=A/C", "VKORC1=A/T", "rs9923231=C/A", "CYP4F2=C/A",
                                  "rs2108622=G/T"])
def test_mixed_strand_genotypes_are_unknown_allele_errors(text):
    with pytest.raises(UnknownAlleleError) as err:
        parse_genotype_string(text)
    message = str(err.value)
    assert "mixes bases of the plus strand" in message
    assert "\n" not in message


def test_mixed_strand_message_shows_both_spellings():
    with pytest.raises(UnknownAlleleError, match=r"plus strand \(C/T\) and the gene strand "
                                                 r"\(G/A\)"):
        parse_variant_call(variants()["rs9923231"], "A/C")


# -- CYP2C19*4 (rs28399504) and *4.002 (formerly *4B: rs28399504 + rs12248560 in cis)


def test_rs28399504_positions_match_pharmcat_and_grch37():
    a = variants()["rs28399504"]
    assert (a.gene, a.name, a.pos["GRCh38"], a.pos["GRCh37"], a.ref, a.alt) == \
        ("CYP2C19", "*4", 94762706, 96522463, "A", "G")
    assert a.function == "no function"


@pytest.mark.parametrize(("text", "diplotype", "label"), [
    # unphased hets: trans = *4/*17, cis = *1/*4 (*4.002): both intermediate metabolizers
    ("rs28399504=A/G; rs12248560=C/T", "*4/*17", "intermediate metabolizer"),
    ("rs28399504=A|G; rs12248560=C|T", "*1/*4", "intermediate metabolizer"),     # cis: *4B
    ("rs28399504=A|G; rs12248560=T|C", "*4/*17", "intermediate metabolizer"),    # trans
    ("rs28399504=A/G; rs12248560=T/T", "*4/*17", "intermediate metabolizer"),
    ("rs28399504=G/G; rs12248560=T/T", "*4/*4", "poor metabolizer"),
    ("rs28399504=A/A; rs12248560=C/T", "*1/*17", "rapid metabolizer"),
    ("rs28399504=A/A; rs12248560=T/T", "*17/*17", "ultrarapid metabolizer")])
def test_cyp2c19_star4b_is_not_called_star17(text, diplotype, label):
    g = parse_genotype_string(text)
    assert g.diplotypes["CYP2C19"] == diplotype
    assert g.phenotypes["CYP2C19"] == label


def test_unphased_star4_star17_names_the_cis_alternative():
    g = parse_genotype_string("rs28399504=A/G; rs12248560=C/T")
    assert any("assumed in trans" in w and "*4+*17 is *4" in w for w in g.warnings)


@pytest.mark.parametrize("text", ["rs12248560=C/T", "CYP2C19=rs12248560:C/T; rs4244285=G/G",
                                  "rs12248560=T/T"])
def test_star17_is_not_called_when_rs28399504_is_untyped(text):
    # before: *1/*17 "rapid metabolizer" with no warning; it may be *1/*4 (intermediate)
    g = parse_genotype_string(text)
    assert "CYP2C19" not in g.diplotypes
    assert g.phenotypes["CYP2C19"] == "unknown"
    assert any("rs28399504 (*4) was not typed" in w and "*4.002" in w for w in g.warnings)


def test_star4b_diplotype_is_consistent_with_its_promoter_variant():
    g = parse_genotype_string("CYP2C19=*1/*4; rs12248560=C/T; rs28399504=A/G")
    assert g.diplotypes["CYP2C19"] == "*1/*4"
    with pytest.raises(InputError, match="conflicts"):
        parse_genotype_string("CYP2C19=*1/*1; rs12248560=C/T")


# -- CYP2C19 has no CPIC activity score


def test_cyp2c19_row_shows_no_activity_score():
    rows = {r[0]: r for r in genotype_rows(parse_genotype_string(
        "CYP2C9=*1/*3; CYP2C19=*1/*17"))}
    assert rows["CYP2C19"] == ("CYP2C19", "*1/*17", "-", "rapid metabolizer")
    assert rows["CYP2C9"] == ("CYP2C9", "*1/*3", 1.0, "intermediate metabolizer")


def test_cyp2c19_model_inputs_unchanged_by_the_rename():
    # the internal ordinal sum still gives the same model inputs (*17 gain 0.5, *2 deficit 1)
    t = tidy_patients(pd.DataFrame({"age": [60, 60], "genotype": [
        "CYP2C19=*1/*17", "CYP2C19=*1/*2"]}))
    feats, _ = feature_table(t)
    assert feats["cyp2c19_gain"].tolist() == [0.5, 0.0]
    assert feats["cyp2c19_deficit"].tolist() == [0.0, 1.0]


# -- the IWPC formula's scope, CPIC 2017 advice, dispensable doses


@pytest.mark.parametrize("diplotype", ["*5/*5", "*6/*6", "*1/*8", "*1/*11", "*13/*13",
                                       "*1/*14"])
def test_iwpc_scope_note_for_alleles_outside_its_categories(diplotype):
    note = iwpc_scope_note(parse_genotype_string(f"CYP2C9={diplotype}"))
    assert note.startswith(f"CYP2C9 {diplotype} scored as 'genotype unknown'")
    assert "*1, *2, *3 only" in note


@pytest.mark.parametrize("diplotype", ["*1/*1", "*2/*3", "*3/*3"])
def test_no_scope_note_inside_the_iwpc_categories(diplotype):
    assert iwpc_scope_note(parse_genotype_string(f"CYP2C9={diplotype}")) is None


def test_smallest_tablet_gives_the_dispensable_floor():
    # marketed strengths 1, 2, 2.5, 3, 4, 5, 6, 7.5, 10 mg (Coumadin/Jantoven, RxNorm); the
    # 1 mg tablet is scored: 0.5 mg/day = 3.5 mg/week, the FDA table's lowest range start
    assert min(TABLET_STRENGTHS_MG) == 1.0
    assert MIN_WEEKLY_DOSE_MG == 3.5


@pytest.mark.parametrize(("text", "ancestry", "expected"), [
    # African ancestry typed only for *2/*3: CPIC footnote c
    ("rs1799853=C/T; rs1057910=A/A", "black", ["*5, *6, *8, *11 not typed", "dose clinically"]),
    ("CYP2C9=*1/*1", "black", ["without saying whether *5, *6, *8, *11 were tested"]),
    ("rs1799853=C/C; rs1057910=A/A; rs28371686=C/C; rs9332131=GA/GA; rs7900194=G/G; "
     "rs28371685=C/C", "black", []),
    ("CYP2C9=*1/*8", "black", []),
    ("rs1799853=C/T; rs1057910=A/A", "white", []),
    # CYP2C9 poor metabolizers (activity score <= 0.5): CPIC footnote e
    ("CYP2C9=*2/*3", "white", ["poor metabolizer (*2/*3, activity score 0.5)",
                               "consider an alternative agent"]),
    ("CYP2C9=*3/*3", "asian", ["poor metabolizer (*3/*3, activity score 0)"]),
    ("CYP2C9=*2/*2", "white", []),       # activity score 1: intermediate
    ("CYP2C9=*1/*3", "white", [])])
def test_cpic_2017_warnings(text, ancestry, expected):
    warns = warfarin_warnings(parse_genotype_string(text), ancestry=ancestry, dose=30.0)
    if not expected:
        assert warns == []
        return
    assert len(warns) == 1
    assert CPIC_2017 in warns[0]
    assert "Johnson et al. Clin Pharmacol Ther 2017;102:397-404" in warns[0]
    for part in expected:
        assert part in warns[0]


@pytest.mark.parametrize(("dose", "warned"), [(0.8, True), (3.49, True), (3.5, False),
                                              (24.0, False)])
def test_dose_below_the_dispensable_floor_is_warned(dose, warned):
    warns = warfarin_warnings(None, ancestry="white", dose=dose)
    assert bool(warns) == warned
    if warned:
        assert f"{dose:.1f} mg/week" in warns[0]
        assert "smallest warfarin tablet (1 mg)" in warns[0]


def test_unknown_genotype_gets_no_genotype_advice():
    warns = warfarin_warnings(parse_genotype_string("CYP2C19=*1/*1"), ancestry="black",
                              dose=30.0)
    assert warns == []
    assert math.isnan(parse_genotype_string("CYP2C19=*1/*1").features()["CYP2C9_activity"])
