"""The shipped warfarin_iwpc_v1 model predicts bit-identically to the recorded outputs.

``tests/fixtures/dosing/warfarin_iwpc_v1_outputs.json`` holds ``float.hex`` values of the
model's doses, conformal intervals and pathway activities on the 39 fixed patients of
``patients_fixed.csv`` (the 5 README examples, 30 simulated, 4 edge cases: nothing given, out
of range, rare alleles, untrained genes), and the SHA-256 of the CLI's outputs, all recorded
before the model moved onto the engine's Estimator (issue 10). Any change is a failure.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from bio_mtl.cli.main import cli
from bio_mtl.dosing.features import read_dose_table
from bio_mtl.dosing.pretrained import load_pretrained, warfarin_iwpc_v1
from bio_mtl.mtl.estimator import load_estimator

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "dosing"
RECORDED = json.loads((FIX / "warfarin_iwpc_v1_outputs.json").read_text())


def _hex(values) -> list[str]:
    return [float(v).hex() for v in np.asarray(values, dtype=np.float64)]


def test_shipped_model_predicts_the_recorded_values_bit_for_bit():
    _, frame, _ = read_dose_table(FIX / "patients_fixed.csv")
    for model in (warfarin_iwpc_v1(), load_pretrained("warfarin_iwpc_v1"),
                  load_estimator("warfarin_iwpc_v1")):
        dose, lower, upper = model.predict_interval(frame)
        assert _hex(dose) == RECORDED["dose_mg_per_week"]
        assert _hex(lower) == RECORDED["dose_lower"]
        assert _hex(upper) == RECORDED["dose_upper"]
        act = model.pathway_activity(frame)
        assert {c: _hex(act[c]) for c in act.columns} == RECORDED["pathway_activity"]
        assert model.range_warnings(frame) == RECORDED["warnings"]


def test_shipped_model_cli_outputs_unchanged(tmp_path):
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(cli, ["dose", "--input", str(FIX / "patients_fixed.csv"),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert hashlib.sha256(out.read_bytes()).hexdigest() == RECORDED["cli_batch_csv_sha256"]
    single = CliRunner().invoke(cli, ["dose", "--genotype", "CYP2C9=*1/*3; VKORC1=rs9923231:A/G",
                                      "--age", "65", "--weight", "70", "--height", "175",
                                      "--ancestry", "white"], env={"COLUMNS": "120"})
    assert single.exit_code == 0, single.output
    assert hashlib.sha256(single.output.encode()).hexdigest() == \
        RECORDED["cli_single_stdout_sha256"]
