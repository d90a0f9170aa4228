"""`dose`, `evaluate-dose` and `train-dose` on hostile input (issue 11, items 1, 3, 5-8, 10).

Every refusal exits with the documented code and one ``Error:`` line, writes nothing, and
leaves every input file byte-for-byte unchanged.
"""

import hashlib

import pandas as pd
import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli
from bio_mtl.dosing.simulate import simulate_cohort

TIDY = ["patient_id", "age", "weight_kg", "height_cm", "ancestry", "cyp2c9", "vkorc1"]
IWPC = {"PharmGKB Subject ID": ["N1", "N2"], "Race (OMB)": ["White", "Asian"],
        "Age": ["60 - 69", "70 - 79"], "Height (cm)": [175, 160], "Weight (kg)": [80, 58],
        "CYP2C9 consensus": ["*1/*1", "*1/*3"], "VKORC1 -1639 consensus": ["G/G", "A/A"]}


def _invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()




def _tidy(path, changes=None):
    table = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "age": ["65", "70", "50"],
                          "weight_kg": ["70", "80", "90"], "height_cm": ["175", "170", "180"],
                          "ancestry": ["white"] * 3, "cyp2c9": ["*1/*1", "*1/*3", "*1/*2"],
                          "vkorc1": ["G/G", "A/G", "A/A"]})
    for (col, row), value in (changes or {}).items():
        table.loc[row, col] = value
    table.to_csv(path, index=False)
    return path


# -- item 7: the single-patient plausibility checks apply to every row of a table

@pytest.mark.parametrize(("col", "value", "fragment"), [
    ("age", "300", "age 300 years is not plausible (expected 0-120 years)"),
    ("age", "-5", "age -5 years is not plausible"),
    ("weight_kg", "-70", "column 'weight_kg': -70 kg is not plausible (expected 1-400 kg)"),
    ("height_cm", "-1.75", "column 'height_cm': -1.75 cm is not plausible"),
    ("height_cm", "1.75", "a height in metres? give centimetres"),
    ("weight_kg", "seventy", "column 'weight_kg': 'seventy' is not a number"),
    ("age", "old", "age 'old' is neither years nor an IWPC decade bin")])
def test_batch_refuses_impossible_values_naming_the_row(tmp_path, col, value, fragment, refused):
    table = _tidy(tmp_path / "p.csv", {(col, 1): value})
    before = _digest(table)
    out = tmp_path / "pred.csv"
    res = _invoke(["dose", "--input", table, "-o", out])
    refused(res, 3, "p.csv", "row 2", fragment)
    assert not out.exists()
    assert _digest(table) == before


@pytest.mark.parametrize(("col", "value", "fragment"), [
    ("Height (cm)", "-1.75", "column 'Height (cm)': -1.75 cm is not plausible"),
    ("Weight (kg)", "heavy", "column 'Weight (kg)': 'heavy' is not a number"),
    ("Age", "300 - 309", "age 300 years is not plausible")])
def test_iwpc_format_batch_refuses_impossible_values(tmp_path, col, value, fragment, refused):
    table = pd.DataFrame(IWPC).astype(object)
    table.loc[1, col] = value
    path = tmp_path / "iwpc.csv"
    table.to_csv(path, index=False)
    res = _invoke(["dose", "--input", path, "-o", tmp_path / "pred.csv"])
    refused(res, 3, "iwpc.csv", "row 2", fragment)
    assert not (tmp_path / "pred.csv").exists()


def test_batch_and_single_patient_share_the_thresholds(tmp_path, refused):
    # impossible in both modes with the same bounds ...
    res = _invoke(["dose", "--genotype", "CYP2C9=*1/*1", "--age", "65", "--weight", "-70"])
    refused(res, 3, "--weight -70 kg is not plausible (expected 1-400 kg)")
    # ... and merely unusual (outside the training range) is a warning in both modes
    single = _invoke(["dose", "--genotype", "CYP2C9=*1/*1; VKORC1=G/G", "--age", "65",
                      "--weight", "250", "--height", "175", "--ancestry", "white"])
    assert single.exit_code == 0
    warning = "weight_kg=250 outside the training range [30, 237.7]"
    assert warning in single.output
    out = tmp_path / "pred.csv"
    res = _invoke(["dose", "--input", _tidy(tmp_path / "p.csv", {("weight_kg", 0): "250"}),
                   "-o", out])
    assert res.exit_code == 0, res.output
    warns = pd.read_csv(out)["warnings"].fillna("")
    assert warning in warns[0]
    assert warning not in warns[1]


# -- item 8: the outcome column is needed to train and evaluate, never to predict

def test_iwpc_table_of_new_patients_needs_no_outcome_column(tmp_path, refused):
    path = tmp_path / "new.csv"
    pd.DataFrame(IWPC).to_csv(path, index=False)
    out = tmp_path / "pred.csv"
    res = _invoke(["dose", "--input", path, "-o", out])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(out)
    assert pred["dose_mg_per_week"].notna().all()
    assert len(pred) == 2
    res = _invoke(["train-dose", "--data", path, "--out", tmp_path / "m"])
    refused(res, 3, "new.csv", "missing IWPC column 'Therapeutic Dose of Warfarin'")
    assert not (tmp_path / "m").exists()


# -- item 10: an IWPC-format VKORC1 column is read by the one genotype parser

def test_iwpc_and_tidy_tables_give_the_same_dose_for_every_vkorc1_spelling(tmp_path):
    spellings = ["T/T", "AA", "a/a", "A/A"]
    iwpc = pd.DataFrame({**{k: [v[0]] * 4 for k, v in IWPC.items()},
                         "VKORC1 -1639 consensus": spellings})
    iwpc.to_csv(tmp_path / "iwpc.csv", index=False)
    tidy = pd.DataFrame({"age": [65] * 4, "weight_kg": [80] * 4, "height_cm": [175] * 4,
                         "ancestry": ["white"] * 4, "cyp2c9": ["*1/*1"] * 4,
                         "vkorc1": ["A/A"] * 4})
    tidy.to_csv(tmp_path / "tidy.csv", index=False)
    doses = []
    for name in ("iwpc.csv", "tidy.csv"):
        res = _invoke(["dose", "--input", tmp_path / name, "-o", tmp_path / f"out_{name}"])
        assert res.exit_code == 0, res.output
        out = pd.read_csv(tmp_path / f"out_{name}")
        assert not out["warnings"].fillna("").str.contains("VKORC1").any()
        doses.append(out["dose_mg_per_week"].tolist())
    assert doses[0] == doses[1]
    assert len(set(doses[0])) == 1


@pytest.mark.parametrize("genotype", ["VKORC1=A/C", "VKORC1=A/T", "rs9923231=C/A",
                                      "CYP4F2=C/A"])
def test_mixed_strand_genotype_is_exit_3_not_internal_error(genotype, refused):
    res = _invoke(["dose", "--genotype", f"CYP2C9=*1/*1; {genotype}", "--age", "65"])
    refused(res, 3, "mixes bases of the plus strand")


def test_single_patient_shows_cpic_advice_and_iwpc_scope():
    res = CliRunner().invoke(
        cli, ["dose", "--genotype", "CYP2C9=*6/*6; VKORC1=A/G; CYP2C19=*1/*17", "--age", "65",
              "--weight", "80", "--height", "175", "--ancestry", "black"],
        env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    iwpc_line = next(ln for ln in res.output.splitlines() if "IWPC pharmacogenetic" in ln)
    assert "warning: CYP2C9 *6/*6 scored as 'genotype unknown'" in iwpc_line
    c19 = next(ln for ln in res.output.splitlines() if ln.strip("│ ").startswith("CYP2C19"))
    assert "2.5" not in c19
    assert "rapid metabolizer" in c19
    assert "warning: CYP2C9 poor metabolizer (*6/*6, activity score 0): consider an " \
           "alternative agent (CPIC 2017" in res.output


def test_very_low_dose_is_warned_in_both_modes(tmp_path):
    # the 88-year-old A/A *3/*3 patient on amiodarone
    args = ["--age", "88", "--weight", "60", "--height", "160", "--ancestry", "white",
            "--amiodarone"]
    res = _invoke(["dose", "--genotype", "CYP2C9=*3/*3; VKORC1=A/A", *args])
    assert res.exit_code == 0
    assert "is below 3.5 mg/week" in res.output
    table = tmp_path / "p.csv"
    pd.DataFrame({"age": [88, 65], "weight_kg": [60, 80], "height_cm": [160, 175],
                  "ancestry": ["white", "white"], "amiodarone": [1, 0],
                  "cyp2c9": ["*3/*3", "*1/*1"], "vkorc1": ["A/A", "G/G"]}).to_csv(table,
                                                                                   index=False)
    res = _invoke(["dose", "--input", table, "-o", tmp_path / "o.csv"])
    warns = pd.read_csv(tmp_path / "o.csv")["warnings"].fillna("")
    assert "is below 3.5 mg/week" in warns[0]
    assert "consider an alternative agent" in warns[0]
    assert "below" not in warns[1]
    assert "CPIC" not in warns[1]


# -- outputs (items 1 and 3): checked before any work, never an input

def test_dose_output_equal_to_input_is_refused(tmp_path, refused):
    table = _tidy(tmp_path / "p.csv")
    before = _digest(table)
    for out in (table, tmp_path / "." / "p.csv"):
        res = _invoke(["dose", "--input", table, "-o", out])
        refused(res, 2, "is also an input of this command")
    assert _digest(table) == before


@pytest.mark.parametrize("command", [
    ["dose", "--input", "{table}", "-o", "{bad}"],
    ["evaluate-dose", "--data", "{table}", "-o", "{bad}"]])
def test_unwritable_outputs_exit_2_before_work(tmp_path, command, refused):
    table = _tidy(tmp_path / "p.csv")
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "afile" / "out.csv"          # a parent that is a file: even root fails
    res = _invoke([a.format(table=table, bad=bad) for a in command])
    refused(res, 2, "is not a directory")
    res = _invoke([a.format(table=table, bad=tmp_path) for a in command])
    refused(res, 2, "is a directory")


def test_train_dose_output_checked_before_training(tmp_path, warfarin_model_dir, refused):
    data = tmp_path / "rows.csv"
    simulate_cohort({"warfarin": 20}, seed=0).to_csv(data, index=False)
    (tmp_path / "afile").write_text("x")
    refused(_invoke(["train-dose", "--data", data, "--out", tmp_path / "afile"]), 2,
             "is a file")
    refused(_invoke(["train-dose", "--data", data, "--out", tmp_path / "afile" / "m"]), 2,
             "is not a directory")
    # a new model inside the model it is added to would destroy the base model
    refused(_invoke(["train-dose", "--data", data, "--add-to", warfarin_model_dir,
                      "--out", warfarin_model_dir / "sub"]), 2, "inside the model folder")


# -- item 6: evaluate-dose --folds

@pytest.mark.parametrize("folds", ["1", "0", "-3"])
def test_evaluate_dose_folds_below_two_is_a_usage_error(tmp_path, folds):
    res = _invoke(["evaluate-dose", "--data", _tidy(tmp_path / "p.csv"), "--folds", folds])
    assert res.exit_code == 2, res.output
    assert "--folds" in res.output
    assert f"{folds} is not in the range x>=2" in res.output
    assert "Traceback" not in res.output


def test_evaluate_dose_more_folds_than_patients_is_an_input_error(tmp_path, refused):
    table = tmp_path / "few.csv"
    simulate_cohort({"warfarin": 3}, seed=0).to_csv(table, index=False)
    refused(_invoke(["evaluate-dose", "--data", table]), 3,
             "3 patient(s) with a stable dose cannot be split into 5 folds")


def test_evaluate_dose_without_sites_skips_leave_sites_out(tmp_path):
    table = tmp_path / "one_site.csv"
    rows = simulate_cohort({"warfarin": 40}, seed=0).drop(columns=["site"])
    rows.to_csv(table, index=False)
    res = _invoke(["evaluate-dose", "--data", table, "--folds", "2", "-o", tmp_path / "r.json"])
    assert res.exit_code == 0, res.output
    assert "sites: skipped (leave-sites-out needs at least 2 distinct values in column " \
           "'site'; found 1)" in res.output
    assert (tmp_path / "r.json").is_file()


# -- item 5: train-dose --config

@pytest.mark.parametrize(("content", "fragment"), [
    (b"\xff\xfe\x00epochs: 3\n", "not a text DosingModel parameters file (byte 0 is not "
                                 "UTF-8)"),
    (b"epochs: many\n", "DosingModel: epochs: expected an integer, got 'many'")])
def test_train_dose_bad_config_exit_4_naming_file_and_key(tmp_path, content, fragment, refused):
    cfg = tmp_path / "dose.yaml"
    cfg.write_bytes(content)
    data = tmp_path / "rows.csv"
    simulate_cohort({"warfarin": 20}, seed=0).to_csv(data, index=False)
    res = _invoke(["train-dose", "--data", data, "--out", tmp_path / "m", "--config", cfg])
    refused(res, 4, "dose.yaml", fragment)
    assert not (tmp_path / "m").exists()
