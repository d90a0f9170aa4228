"""Planted truth: train-expression then dissect must find age, interferon and batch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TASKS = ["--task", "disease:classification", "--task", "age:regression",
         "--task", "response:classification"]
SMALL = ["--latent-dim", "8", "--hidden-dim", "64", "--epochs", "40", "--batch-size", "128",
         "--lr", "5e-3", "--seed", "0"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    import torch

    from bio_mtl.dissect.simulate import simulate_expression

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: threads only add contention on CI
    root = tmp_path_factory.mktemp("cohort")
    train, held_out = simulate_expression(600, seed=0), simulate_expression(600, seed=1)
    train.write_h5ad(root / "train.h5ad")
    held_out.write_h5ad(root / "held_out.h5ad")
    yield root, train, held_out
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(cohort):
    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    root = cohort[0]
    res = CliRunner().invoke(cli, ["-q", "train-expression", str(root / "train.h5ad"), *TASKS,
                                   "--batch-key", "batch", "--out", str(root / "model"), *SMALL])
    assert res.exit_code == 0, res.output
    return root / "model"


def test_dissect_finds_planted_factors(cohort, trained, runner):
    from bio_mtl.cli.main import cli

    root = cohort[0]
    out = root / "report"
    res = runner.invoke(cli, ["-q", "dissect", "--model", str(trained), "--data",
                              str(root / "held_out.h5ad"), "--covariate", "age", "--covariate",
                              "disease", "--covariate", "response", "--confounder", "age",
                              "--batch-key", "batch", "--gsea-permutations", "300",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    dims = pd.read_csv(out / "dimensions.tsv", sep="\t")
    labels = list(dims["label"])
    assert labels.count("confounder:age") == 1
    assert labels.count("nuisance:batch") == 1
    mech = [lab for lab in labels if lab.startswith("mechanism:")]
    assert len(mech) == 1
    assert "INTERFERON" in mech[0]
    age_row = dims[dims["label"] == "confounder:age"].iloc[0]
    # no outcome still needs this dimension once age is in the model (smallest LRT, BH q)
    assert age_row["conditional_q"] > 0.05
    ifn_row = dims[dims["label"] == mech[0]].iloc[0]
    assert ifn_row["top_pathway_q"] < 0.05
    assert ifn_row["top_pathway_nes"] > 0
    assert dims[dims["label"] == "nuisance:batch"]["batch_eta2"].iloc[0] > 0.3
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 + len(dims)
    assert "src=\"http" not in page
    assert "<script" not in page
    doc = json.loads((out / "report.json").read_text())
    assert doc["params"]["confounders"] == ["age"]
    assert len(doc["dimensions"]) == len(dims)
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_adversarial_batch_removes_batch_from_latent(cohort, trained):
    from bio_mtl.dissect import ExpressionConfig, ExpressionModel, dissect
    from bio_mtl.mtl.trainer import TrainConfig

    _, train, held_out = cohort
    tasks = {"disease": "classification", "age": "regression", "response": "classification"}
    adv = ExpressionModel(ExpressionConfig(latent_dim=8, hidden_dim=64, adversarial_batch=True)
                          ).fit(train, tasks, batch_key="batch",
                                train_config=TrainConfig(epochs=40, batch_size=128, lr=5e-3))
    kw = dict(covariates=["age", "disease", "response"], confounders=["age"],
              batch_key="batch", n_gsea_permutations=200)
    before = dissect(held_out, model=trained, **kw)
    after = dissect(held_out, model=adv, **kw)
    assert before.batch_mixing["batch_eta2_max"] - after.batch_mixing["batch_eta2_max"] > 0.3
    assert after.batch_mixing["batch_eta2_max"] < 0.15
    assert after.batch_mixing["ilisi"] > before.batch_mixing["ilisi"]
    # kBET rejection rate (measured 0.735 -> 0.213; random neighbourhoods give 0.05)
    assert before.batch_mixing["kbet_rejection"] > 0.5
    assert after.batch_mixing["kbet_rejection"] < before.batch_mixing["kbet_rejection"] - 0.3
    assert not any(lab.startswith("nuisance") for lab in after.dimensions["label"])
    assert "confounder:age" in list(after.dimensions["label"])  # biology is kept


def test_model_refuses_file_without_counts(cohort, trained, runner, tmp_path):
    from bio_mtl.cli.main import cli

    _, _, held_out = cohort
    scaled = held_out.copy()
    scaled.X = (np.log1p(scaled.X) - np.log1p(scaled.X).mean(0)).astype(np.float32)
    scaled.write_h5ad(tmp_path / "scaled.h5ad")
    out = tmp_path / "rep"
    res = runner.invoke(cli, ["dissect", "--model", str(trained), "--data",
                              str(tmp_path / "scaled.h5ad"), "--covariate", "age",
                              "--out", str(out)])
    assert res.exit_code == 3
    assert "no raw counts" in res.output + (res.stderr or "")
    assert "layers" in res.stderr
    assert not out.exists()


def test_training_is_seeded_and_checkpoint_round_trips(tmp_path):
    from bio_mtl.dissect import ExpressionConfig, ExpressionModel, simulate_expression
    from bio_mtl.mtl import read_config
    from bio_mtl.mtl.trainer import TrainConfig

    adata = simulate_expression(200, seed=0)
    tasks = {"age": "regression", "response": "classification"}  # response: NaN for healthy
    fits = [ExpressionModel(ExpressionConfig(latent_dim=4, hidden_dim=16)).fit(
        adata, tasks, train_config=TrainConfig(epochs=3, batch_size=64, seed=3))
        for _ in range(2)]
    z0, z1 = (m.transform(adata)[0] for m in fits)
    np.testing.assert_array_equal(z0, z1)
    fits[0].save(tmp_path / "m")
    loaded = ExpressionModel.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.transform(adata)[0], z0, atol=1e-10)
    conf = read_config(tmp_path / "m", kind="expression")
    assert conf["config"]["preprocessing"]["input"] == "counts"
    assert conf["config"]["preprocessing"]["target_sum"] == 1e4
    assert conf["seed"] == 3
    assert len(conf["config"]["preprocessing"]["genes"]) == adata.n_vars
