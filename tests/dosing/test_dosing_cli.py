import csv
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli
from bio_mtl.dosing.simulate import simulate_cohort

EXAMPLE = str(Path(__file__).resolve().parents[2] / "data" / "examples" / "patients.csv")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("dose")
    data = root / "train.csv"
    cols = ["patient_id", "age", "weight_kg", "height_cm", "ancestry", "amiodarone", "inducer",
            "cyp2c9", "vkorc1", "drug", "dose_mg_per_week"]
    simulate_cohort({"warfarin": 300}, seed=0)[cols].to_csv(data, index=False)
    cfg = root / "cfg.yaml"
    cfg.write_text("epochs: 30\nbatch_size: 128\n")
    return root, data, cfg


def _train(tiny_model):
    root, data, cfg = tiny_model
    out = root / "model"
    if not out.exists():
        res = CliRunner().invoke(cli, ["train-dose", "--data", str(data), "--out", str(out),
                                       "--config", str(cfg), "--seed", "1"])
        assert res.exit_code == 0, res.output
    return out


def test_single_patient(tiny_model):
    model = _train(tiny_model)
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--genotype",
                                   "CYP2C9=*1/*3; VKORC1=rs9923231:A/G", "--age", "65",
                                   "--weight", "70", "--height", "175", "--ancestry", "white",
                                   "--amiodarone"])
    assert res.exit_code == 0, res.output
    # IWPC beside it: 5.6044-1.5684+1.5225+0.896-0.8677-0.9357-0.5503 = 4.1008 -> 16.82
    assert "16.8" in res.output and "CYP2C9 clearance" in res.output
    assert "mg/day" in res.output and "not a clinical device" in res.output


def test_batch_keeps_columns_and_adds_outputs(tiny_model, tmp_path):
    model = _train(tiny_model)
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--input",
                                   EXAMPLE, "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert list(table.columns[:9]) == ["patient_id", "age", "weight_kg", "height_cm", "ancestry",
                                       "amiodarone", "inducer", "cyp2c9", "vkorc1"]
    assert len(table) == 5
    assert (table["dose_lower"] < table["dose_mg_per_week"]).all()
    assert (table["dose_mg_per_week"] < table["dose_upper"]).all()
    assert "activity_cyp2c9" in table and "weight_kg missing" in table["warnings"][4]
    # P004 (*2/*3, amiodarone) needs less than P001 (*1/*1, G/G)
    assert table["dose_mg_per_week"][3] < table["dose_mg_per_week"][0]


def test_unknown_allele_exit_3_no_output(tiny_model, tmp_path):
    model = _train(tiny_model)
    bad = tmp_path / "bad.csv"
    rows = list(csv.reader(Path(EXAMPLE).read_text().splitlines()))
    rows[3][7] = "*1/*99"
    with open(bad, "w", newline="") as h:
        csv.writer(h).writerows(rows)
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--input", str(bad),
                                   "-o", str(out)])
    assert res.exit_code == 3
    assert "row 3" in res.output and "*99" in res.output
    assert not out.exists()


def test_missing_column_exit_3_no_output(tiny_model, tmp_path):
    model = _train(tiny_model)
    bad = tmp_path / "noage.csv"
    pd.read_csv(EXAMPLE).drop(columns=["age"]).to_csv(bad, index=False)
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--input", str(bad),
                                   "-o", str(out)])
    assert res.exit_code == 3 and "'age'" in res.output and "noage.csv" in res.output
    assert not out.exists()


def test_help_has_example():
    for cmd in ("dose", "train-dose", "evaluate-dose"):
        res = CliRunner().invoke(cli, [cmd, "--help"])
        assert res.exit_code == 0 and "Example:" in res.output
