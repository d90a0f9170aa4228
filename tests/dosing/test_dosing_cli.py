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


def test_batch_warns_per_row_when_ancestry_is_blank(tiny_model, tmp_path):
    model = _train(tiny_model)
    table = pd.read_csv(EXAMPLE)
    table.loc[1, "ancestry"] = None
    src, out = tmp_path / "p.csv", tmp_path / "pred.csv"
    table.to_csv(src, index=False)
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--input", str(src),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    warned = pd.read_csv(out)["warnings"].fillna("").str.contains("ancestry not given")
    assert warned.tolist() == [False, True, False, False, False]
    # without an ancestry column every row is modelled as missing/mixed, and says so
    table.drop(columns=["ancestry"]).to_csv(src, index=False)
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--input", str(src),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out)["warnings"].str.contains("ancestry not given").all()


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


def test_single_patient_rsid_syntax_prints_phenotypes(tiny_model):
    model = _train(tiny_model)
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--genotype",
                                   "rs1799853=C/T,rs9923231=A/G", "--age", "65", "--weight",
                                   "70", "--height", "175", "--ancestry", "white"])
    assert res.exit_code == 0, res.output
    assert "*1/*2" in res.output and "intermediate metabolizer" in res.output
    assert "rs9923231" in res.output and "C/T" in res.output
    # IWPC beside it: 5.6044-1.5684+1.5225+0.896-0.8677-0.5211 = 5.0657 -> 25.66 mg/week
    assert "25.7" in res.output


@pytest.mark.parametrize(("genotype", "fragment"), [
    ("CYP2C9=*1/*99", "known alleles: *1, *2, *3"), ("rs1799853=C/G", "neither ref C"),
    ("CYP2C9=*1/*2/*3", "exactly two alleles"), ("FOO=*1/*1", "known genes")])
def test_bad_genotype_exit_3_one_line(tiny_model, genotype, fragment):
    model = _train(tiny_model)
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--genotype", genotype,
                                   "--age", "65", "--weight", "70", "--height", "175"])
    assert res.exit_code == 3, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in lines[0]


def test_vcf_single_patient_and_sample_errors(tiny_model, write_vcf):
    model = _train(tiny_model)
    path = write_vcf([("10", 94942290, "rs1799853", "C", "T", "0/1", "0/0"),
                      ("10", 94981296, "rs1057910", "A", "C", "0/1", "0/0"),
                      ("16", 31096368, "rs9923231", "C", "T", "0/0", "1/1")],
                     samples=("P1", "P2"), fmt="bgz")
    base = ["dose", "--model", str(model), "--vcf", str(path), "--age", "70",
            "--weight", "80", "--height", "170"]
    res = CliRunner().invoke(cli, base)
    assert res.exit_code == 3 and "P1, P2" in res.output
    res = CliRunner().invoke(cli, [*base, "--sample", "P1"])
    assert res.exit_code == 0, res.output
    assert "*2/*3" in res.output and "poor metabolizer" in res.output
    res = CliRunner().invoke(cli, [*base, "--sample", "P2", "--build", "GRCh37"])
    assert res.exit_code == 3 and "GRCh37" in res.output


def test_batch_with_genotype_column(tiny_model, tmp_path):
    model = _train(tiny_model)
    src = tmp_path / "tidy.csv"
    pd.DataFrame({"patient_id": ["A", "B"], "age": [60, 60], "weight_kg": [75, 75],
                  "height_cm": [170, 170], "ancestry": ["white", "white"],
                  "genotype": ["CYP2C9=*1/*1; VKORC1=G/G", "rs1057910=C/C; rs9923231=T/T"]}
                 ).to_csv(src, index=False)
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--input", str(src),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert list(table.columns[:6]) == ["patient_id", "age", "weight_kg", "height_cm",
                                       "ancestry", "genotype"]
    assert {"dose_mg_per_week", "dose_lower", "dose_upper", "activity_cyp2c9",
            "warnings"} <= set(table.columns)
    # *3/*3 with VKORC1 A/A needs far less than *1/*1 G/G
    assert table["dose_mg_per_week"][1] < 0.6 * table["dose_mg_per_week"][0]
    assert "assumed reference" in table["warnings"][1]


def test_train_and_evaluate_end_to_end_on_iwpc_format(tmp_path, make_iwpc_table):
    import json

    data = tmp_path / "iwpc.csv"
    make_iwpc_table(150, seed=3).to_csv(data, index=False)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("epochs: 15\ntarget: sqrt\n")
    model = tmp_path / "m"
    res = CliRunner().invoke(cli, ["train-dose", "--data", str(data), "--out", str(model),
                                   "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    saved = json.loads((model / "config.json").read_text())
    # IWPC-format tables carry no CYP4F2/CYP2C19: the model records it cannot use them
    assert saved["config"]["untrained_genes"] == ["CYP4F2", "CYP2C19"]
    report = tmp_path / "report.json"
    res = CliRunner().invoke(cli, ["evaluate-dose", "--data", str(data), "--model", str(model),
                                   "--folds", "3", "-o", str(report)])
    assert res.exit_code == 0, res.output
    doc = json.loads(report.read_text())["report"]
    assert set(doc) == {"kfold", "sites"} and doc["sites"]["n_splits"] == 3
    pub = [doc[s]["models"]["IWPC pharmacogenetic (published)"]["overall"]["mae"]
           for s in ("kfold", "sites")]
    assert pub[0] == pytest.approx(pub[1])   # a fixed formula does not depend on the folds
    dm = doc["sites"]["models"]["DosingModel (pathway layer)"]
    assert set(dm["by_dose_range"]) == {"low (<=21)", "intermediate", "high (>=49)"}
    assert sum(g["n"] for g in dm["by_ancestry"].values()) == 150
    assert doc["sites"]["coverage"]["nominal"] == pytest.approx(0.9)
    assert "by ancestry" in res.output and "coverage" in res.output


def test_out_of_range_and_untrained_gene_warnings(tiny_model):
    model = _train(tiny_model)
    res = CliRunner().invoke(cli, ["dose", "--model", str(model), "--genotype",
                                   "CYP2C9=*1/*1; VKORC1=G/G; CYP4F2=rs2108622:T/T", "--age",
                                   "65", "--weight", "250", "--height", "175"])
    assert res.exit_code == 0, res.output
    assert "weight_kg=250 outside the training range" in res.output
    assert "not genotyped (modelled as unknown): CYP2C19" in res.output
    assert "CYP4F2 genotype given but this model was trained without CYP4F2" in res.output
