"""DosingModel as a thin estimator on the engine: registries, config checks, continual learning."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from bio_mtl.cli.main import cli
from bio_mtl.dosing.genotypes import parse_genotype_string
from bio_mtl.dosing.model import DosingModel
from bio_mtl.dosing.params import read_params
from bio_mtl.dosing.pathway import DrugHead, DrugHeadConfig, PathwayEncoder
from bio_mtl.dosing.predict import genotype_rows, patient_frame
from bio_mtl.dosing.simulate import simulate_cohort
from bio_mtl.errors import ConfigError, InputError
from bio_mtl.mtl.encoders import get_encoder
from bio_mtl.mtl.estimator import get_estimator
from bio_mtl.mtl.heads import get_head
from bio_mtl.resources import shipped_path

TINY = {"epochs": 3, "batch_size": 64}


def test_blocks_come_from_the_engine_registries_and_fit_the_shipped_weights():
    enc = get_encoder("pathway", vkorc1_by_ancestry=True)
    head = get_head("drug", enc.out_dim, 1, n_linear=enc.n_linear, hidden=0)
    assert isinstance(enc, PathwayEncoder) and isinstance(head, DrugHead)
    assert (enc.n_linear, enc.out_dim) == (5, 11)   # 4 pathways + clinical score, + 6 covariates
    assert get_estimator("dosing") is DosingModel
    with shipped_path("warfarin_iwpc_v1") as folder:
        saved = load_file(str(folder / "model.safetensors"))
    ours = {f"encoder.{k}" for k in enc.state_dict()} | \
        {f"heads.warfarin.{k}" for k in head.state_dict()}
    assert set(saved) == ours


def test_drug_head_by_hand():
    head = DrugHead(4, 1, DrugHeadConfig(n_linear=2, intercept=1.0))
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([[2.0, -1.0]]))
    # 1 + 2 * 3 - 1 * 5 = 2; the last two features only reach the (absent) MLP
    assert head(torch.tensor([[3.0, 5.0, 100.0, 100.0]])).tolist() == [[2.0]]
    with pytest.raises(ConfigError, match="head 'drug': hidden must be >= 0, got -1"):
        get_head("drug", 4, 1, hidden=-1)
    with pytest.raises(ConfigError, match=r"head 'drug': unknown key\(s\) width"):
        get_head("drug", 4, 1, width=3)


@pytest.mark.parametrize(("text", "fragment"), [
    ("epochs: many", "DosingModel: epochs: expected an integer, got 'many'"),
    ("lr: 1e-3", "lr: expected a number, got '1e-3' (YAML reads a number like 1e-3"),
    ("target: cube", "target: 'cube' is not one of log, sqrt"),
    ("epoch: 3", "unknown key(s) epoch; valid keys: alpha, batch_size,"),
    ("- 1", "expected a mapping")])
def test_config_errors_name_the_key(tmp_path, text, fragment):
    cfg = tmp_path / "dose.yaml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        read_params(cfg)
    assert str(cfg) in str(err.value) and fragment in str(err.value)
    data = tmp_path / "rows.csv"
    simulate_cohort({"warfarin": 20}, seed=0).to_csv(data, index=False)
    res = CliRunner().invoke(cli, ["train-dose", "--data", data, "--out", tmp_path / "m",
                                   "--config", cfg])
    assert res.exit_code == 4 and fragment in res.output, res.output
    assert not (tmp_path / "m").exists()


def test_fit_checks_parameters_by_type():
    rows = simulate_cohort({"warfarin": 20}, seed=0)
    with pytest.raises(ConfigError, match="DosingModel.epochs: expected an integer, got '3'"):
        DosingModel(epochs="3").fit(rows)
    assert read_params.__module__ == "bio_mtl.dosing.params"


def test_add_drug_restores_training_flags_and_is_seeded():
    sim = simulate_cohort({"warfarin": 150}, seed=1)
    new = simulate_cohort({"celecoxib": 80}, seed=2)
    preds = []
    for _ in range(2):
        model = DosingModel(hidden=3, seed=5, **TINY).fit(sim)
        model.add_drug(new, rehearsal=sim, finetune_pathways=True)
        assert all(p.requires_grad for p in model.module_.parameters())
        preds.append(model.predict(new))
    np.testing.assert_array_equal(preds[0], preds[1])   # the new head's MLP init is seeded


def test_add_drug_refuses_bad_rows_before_changing_the_model():
    sim = simulate_cohort({"warfarin": 100}, seed=1)
    model = DosingModel(seed=0, **TINY).fit(sim)
    before = model.predict(sim)
    bad = simulate_cohort({"celecoxib": 30}, seed=2).assign(dose_mg_per_week=-1.0)
    with pytest.raises(InputError, match="row 1: dose_mg_per_week must be a positive number"):
        model.add_drug(bad)
    with pytest.raises(InputError, match="rehearsal rows of drugs the model does not have"):
        model.add_drug(simulate_cohort({"celecoxib": 30}, seed=2), finetune_pathways=True,
                       rehearsal=simulate_cohort({"phenytoin": 5}, seed=3))
    assert model.drugs_ == ["warfarin"] and list(model.module_.heads) == ["warfarin"]
    np.testing.assert_array_equal(model.predict(sim), before)


def test_unknown_drug_names_the_row():
    model = DosingModel(seed=0, **TINY).fit(simulate_cohort({"warfarin": 60}, seed=1))
    rows = simulate_cohort({"warfarin": 3}, seed=2)
    rows.loc[2, "drug"] = "aspirin"
    with pytest.raises(InputError, match="row 3: no model head for drug 'aspirin'; this model "
                                         "knows warfarin"):
        model.predict(rows)


def test_vkorc1_is_shown_on_the_gene_strand_and_implausible_values_refused():
    rows = genotype_rows(parse_genotype_string("CYP2C9=*1/*3; rs9923231=T/T"))
    assert rows[0] == ("CYP2C9", "*1/*3", 1.0, "intermediate metabolizer")
    assert ("VKORC1", "-1639 A/A", "-", "no CPIC phenotype") in rows
    with pytest.raises(InputError, match="--weight 500 kg is not plausible"):
        patient_frame(parse_genotype_string("CYP2C9=*1/*1"), age=60, weight=500)
