"""`biomtl dose` end to end: what a single patient sees, batch columns, and every bad input."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli
from bio_mtl.dosing.features import tidy_patients
from bio_mtl.dosing.model import DosingModel

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "examples" / "patients.csv"
ISSUE_GENOTYPE = "CYP2C9=*1/*3; VKORC1=-1639G>A:A/G; CYP4F2=rs2108622:C/T"
ADDED = ["dose_mg_per_week", "dose_lower", "dose_upper", "activity_cyp2c9", "activity_vkorc1",
         "activity_cyp4f2", "activity_cyp2c19", "warnings"]


def _invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _value(output, label):
    line = next(ln for ln in output.splitlines() if label in ln)
    return [float(x) for x in re.findall(r"\d+\.\d+", line.split(label, 1)[1])]


def _one_line_error(res, code, *fragments):
    assert res.exit_code == code, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "Traceback" not in res.output and "[E::" not in res.output
    for part in fragments:
        assert part in lines[0]


def test_single_patient_shows_everything_the_issue_asks(warfarin_model_dir):
    res = _invoke(["dose", "--model", warfarin_model_dir, "--genotype", ISSUE_GENOTYPE,
                   "--age", 65, "--weight", 70, "--height", 175, "--inducer"])
    assert res.exit_code == 0, res.output
    week, day = _value(res.output, "dose (mg/week)")[0], _value(res.output, "dose (mg/day)")[0]
    lo, hi = _value(res.output, "interval (mg/week)")
    assert day == pytest.approx(week / 7, abs=0.01) and lo < week < hi
    assert _value(res.output, "interval (mg/day)") == pytest.approx([lo / 7, hi / 7], abs=0.01)
    # the printed dose is the library's prediction for the same patient
    frame = tidy_patients(pd.DataFrame([{"age": 65, "weight_kg": 70, "height_cm": 175,
                                         "inducer": 1, "genotype": ISSUE_GENOTYPE}]))
    assert week == pytest.approx(DosingModel.load(warfarin_model_dir).predict(frame)[0], abs=0.05)
    # IWPC beside it (missing/mixed race, inducer): 5.6044 - 1.5684 + 1.5225 + 0.896 - 0.8677
    # - 0.9357 - 0.1032 + 1.1816 = 5.7295 -> 32.83 mg/week
    assert _value(res.output, "IWPC pharmacogenetic algorithm") == [32.8]
    for text in ("intermediate metabolizer", "-1639 G/A", "CYP4F2", "*1/*3",
                 "CYP2C9 clearance", "VKORC1 sensitivity", "not a clinical device",
                 "warning: ancestry not given"):
        assert text in res.output


def test_amiodarone_lowers_the_dose(warfarin_model_dir):
    base = ["dose", "--model", warfarin_model_dir, "--genotype", "CYP2C9=*1/*1; VKORC1=G/G",
            "--age", 60, "--weight", 80, "--height", 175, "--ancestry", "white"]
    plain, amio = _invoke(base), _invoke([*base, "--amiodarone"])
    assert plain.exit_code == amio.exit_code == 0
    assert _value(amio.output, "dose (mg/week)")[0] < _value(plain.output, "dose (mg/week)")[0]
    # IWPC: 5.6044 - 1.5684 + 1.5225 + 1.024 = 6.5825 -> 43.33; amiodarone 6.0322 -> 36.39
    assert _value(plain.output, "IWPC pharmacogenetic")[0] == 43.3
    assert _value(amio.output, "IWPC pharmacogenetic")[0] == 36.4
    assert "ancestry not given" not in plain.output


def test_batch_iwpc_format_keeps_every_column(warfarin_model_dir, make_iwpc_table, tmp_path):
    src, out = tmp_path / "iwpc.csv", tmp_path / "pred.csv"
    table = make_iwpc_table(12, seed=5)
    table.to_csv(src, index=False)
    res = _invoke(["dose", "--model", warfarin_model_dir, "--input", src, "-o", out])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert list(got.columns) == [*table.columns, *ADDED]
    pd.testing.assert_frame_equal(got[list(table.columns)], pd.read_csv(src))
    assert (got["dose_lower"] < got["dose_mg_per_week"]).all()
    assert (got["dose_mg_per_week"] < got["dose_upper"]).all()
    # reference patients (*1/*1, no interacting drug) have CYP2C9 activity 1, carriers less
    plain = (got["Amiodarone (Cordarone)"] == 0) & (got["Carbamazepine (Tegretol)"] == 0)
    ref = plain & (got["CYP2C9 consensus"] == "*1/*1")
    assert ref.any() and np.allclose(got.loc[ref, "activity_cyp2c9"], 1.0)
    assert (got.loc[plain & ~ref, "activity_cyp2c9"] < 1.0).all()
    assert got["warnings"].str.contains("not genotyped").all()   # no CYP2C19/CYP4F2 columns


def test_batch_keeps_an_input_dose_column(warfarin_model_dir, tmp_path):
    src, out = tmp_path / "tidy.csv", tmp_path / "pred.csv"
    pd.read_csv(EXAMPLE).assign(dose_mg_per_week=[35, 14, 70, 10, 28]).to_csv(src, index=False)
    res = _invoke(["dose", "--model", warfarin_model_dir, "--input", src, "-o", out])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert list(got["dose_mg_per_week_input"]) == [35, 14, 70, 10, 28]
    assert "dose_mg_per_week_input" in res.output


@pytest.mark.parametrize(("genotype", "fragments"), [
    ("CYP2D6=*1/*4", ["unknown gene 'CYP2D6'"]), ("CYP2C9=*1/*99", ["'*99'", "known alleles"]),
    ("rs999=A/G", ["unknown rsID 'rs999'", "rs1799853"]),
    ("CYP2C9=*1/*1; rs1799853=C/T", ["conflicts"]), ("VKORC1=A/A/G", ["exactly two"])])
def test_batch_genotype_errors_name_file_and_row(warfarin_model_dir, tmp_path, genotype,
                                                 fragments):
    src, out = tmp_path / "geno.csv", tmp_path / "pred.csv"
    pd.DataFrame({"patient_id": ["A", "B"], "age": [60, 70], "weight_kg": [70, 80],
                  "genotype": ["CYP2C9=*1/*1; VKORC1=G/G", genotype]}).to_csv(src, index=False)
    res = _invoke(["dose", "--model", warfarin_model_dir, "--input", src, "-o", out])
    _one_line_error(res, 3, "geno.csv: row 2: ", *fragments)
    assert not out.exists()


def test_batch_unknown_drug_names_row(warfarin_model_dir, tmp_path):
    src, out = tmp_path / "drug.csv", tmp_path / "pred.csv"
    pd.read_csv(EXAMPLE).assign(drug=["warfarin"] * 4 + ["aspirin"]).to_csv(src, index=False)
    res = _invoke(["dose", "--model", warfarin_model_dir, "--input", src, "-o", out])
    _one_line_error(res, 3, "drug.csv: row 5: ", "'aspirin'", "warfarin")
    assert not out.exists()


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("sample.vcf", "##fileformat=VCFv4.2\n#CHROM\tPOS\n", "this is a VCF"),
    ("seqs.fasta", ">P1\nMKV\n", "this is a FASTA file"),
    ("patients.json", '{"age": 60}\n', "unsupported file type '.json'"),
    ("empty.csv", "", "cannot parse the table"),
    ("bad.csv", "age,weight_kg,genotype\n65,heavy,CYP2C9=*1/*1\n", "'heavy' is not a number"),
    ("noage.csv", "weight_kg,genotype\n70,CYP2C9=*1/*1\n", "missing required column 'age'")])
def test_batch_wrong_files(warfarin_model_dir, tmp_path, name, content, fragment):
    src, out = tmp_path / name, tmp_path / "pred.csv"
    src.write_text(content)
    res = _invoke(["dose", "--model", warfarin_model_dir, "--input", src, "-o", out])
    _one_line_error(res, 3, name, fragment)
    assert not out.exists()


@pytest.mark.parametrize(("args", "fragment"), [
    (["--input", EXAMPLE, "-o", "x.csv", "--age", 60], "--age cannot be combined with --input"),
    (["--input", EXAMPLE], "needs -o/--output"),
    (["--genotype", "CYP2C9=*1/*1", "--age", 60, "-o", "x.csv"], "-o/--output is for batch"),
    (["--genotype", "CYP2C9=*1/*1"], "--age is required"),
    (["--age", 60], "exactly one of --genotype or --vcf"),
    (["--genotype", "CYP2C9=*1/*1", "--age", 60, "--drug", "aspirin"], "heads for warfarin")])
def test_usage_errors_exit_2(warfarin_model_dir, tmp_path, args, fragment):
    with CliRunner().isolated_filesystem(temp_dir=tmp_path):
        res = CliRunner().invoke(cli, ["dose", "--model", str(warfarin_model_dir),
                                       *map(str, args)])
        assert res.exit_code == 2 and fragment in res.output, res.output
        assert not Path("x.csv").exists()


def test_vcf_errors_are_one_line_without_htslib_noise(warfarin_model_dir, write_vcf, tmp_path):
    base = ["dose", "--model", warfarin_model_dir, "--age", 60, "--weight", 70]
    junk = tmp_path / "junk.vcf"
    junk.write_bytes(b"\x00\x01 not a vcf\n")
    _one_line_error(_invoke([*base, "--vcf", junk]), 3, "junk.vcf", "not a VCF")
    # GRCh37 positions, no ##contig lines (htslib would warn about undeclared contigs)
    path = write_vcf([("10", 96702047, "rs1799853", "C", "T", "0/1"),
                      ("16", 31107689, "rs9923231", "C", "T", "1/1")], build=None,
                     chr_prefix=False)
    _one_line_error(_invoke([*base, "--vcf", path, "--build", "GRCh38"]), 3,
                    "none of the 14 supported positions", "wrong build? (--build GRCh37)")
    res = _invoke([*base, "--vcf", path])
    assert res.exit_code == 0 and "[W::" not in res.output, res.output
    assert "*1/*2" in res.output and "GRCh37" in res.output   # the source names the build
    none = write_vcf([("1", 1000, "rs1", "A", "G", "0/1")], name="none")
    _one_line_error(_invoke([*base, "--vcf", none]), 3, "none.vcf", "--vcf-assume-ref")
    ok = _invoke([*base, "--vcf", none, "--vcf-assume-ref"])
    assert ok.exit_code == 0 and "assumed reference" in ok.output
    assert np.isfinite(_value(ok.output, "dose (mg/week)")[0])


def test_example_tables_in_both_formats_agree(warfarin_model_dir, tmp_path):
    """data/examples: P001-P003 (tidy) and EX1-EX3 (IWPC columns) are the same patients."""
    preds = {}
    for name in ("patients.csv", "patients_iwpc.csv"):
        out = tmp_path / f"pred_{name}"
        res = _invoke(["dose", "--model", warfarin_model_dir, "--input", EXAMPLE.parent / name,
                       "-o", out])
        assert res.exit_code == 0, res.output
        preds[name] = pd.read_csv(out)
    tidy, iwpc = preds["patients.csv"], preds["patients_iwpc.csv"]
    np.testing.assert_allclose(tidy["dose_mg_per_week"][:3], iwpc["dose_mg_per_week"][:3])
    # EX3 has no -1639 call: imputed G/G from 1173 C/C (IWPC rule for every ancestry)
    assert iwpc["activity_vkorc1"][2] == 1.0 and "VKORC1" not in iwpc["warnings"][2]
    # EX5 has neither: VKORC1 unknown, with a warning; its *1/*11 lowers CYP2C9 activity
    assert "VKORC1" in iwpc["warnings"][4] and iwpc["activity_cyp2c9"][4] < 1.0
    assert "height_cm missing" in iwpc["warnings"][3]
