"""Dosing-model adapter: shared-layer output per patient, covariates, `dissect --model` on it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def cohort_and_model():
    import torch

    from bio_mtl.dosing import DosingModel, simulate_cohort

    # a small model fitted here (one epoch is enough: the tests check how the adapter reads
    # the model, and the sign-constrained pathway layer, not dosing accuracy)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    patients = simulate_cohort({"warfarin": 160}, seed=3)
    patients["site"] = np.where(np.arange(160) % 2 == 0, "site_a", "site_b")
    # without the VKORC1-by-ancestry terms, VKORC1 sensitivity depends on the -1639A count only
    model = DosingModel(epochs=1, calibration_fraction=0.0, vkorc1_by_ancestry=False,
                        seed=0).fit(patients)
    yield patients, model
    torch.set_num_threads(threads)


def test_shared_layer_output_is_what_the_heads_read(cohort_and_model):
    import torch

    from bio_mtl.dissect.adapters.dosing import shared_layer_output
    from bio_mtl.dosing.features import feature_table

    patients, model = cohort_and_model
    out = shared_layer_output(model, patients)
    assert list(out.columns) == [*model.pathway_names_, "clinical score"]
    feats, _ = feature_table(patients.reset_index(drop=True))
    with torch.no_grad():  # the model's own forward: [log activities, clinical score, ...]
        shared = model.module_.encoder(model._tensors(feats)).double().numpy()
    width = len(model.pathway_names_) + 1
    np.testing.assert_allclose(out.to_numpy(), shared[:, :width], rtol=1e-5, atol=1e-6)


def test_dose_anndata_covariates_and_planted_vkorc1_axis(cohort_and_model):
    from bio_mtl.dissect import dissect
    from bio_mtl.dissect.adapters.dosing import dose_anndata

    patients, model = cohort_and_model
    adata = dose_anndata(patients, model)
    assert adata.n_vars == 0
    assert list(adata.obs_names[:2]) == list(patients["patient_id"][:2])
    a_count = patients["vkorc1"].map({"G/G": 0, "A/G": 1, "A/A": 2}).to_numpy(float)
    np.testing.assert_array_equal(adata.obs["vkorc1_a"].to_numpy(), a_count)
    first = patients["cyp2c9"].iloc[0]
    assert adata.obs["cyp2c9"].iloc[0] == first  # common diplotypes keep their name
    # VKORC1 sensitivity = w * (-1639A count) with w > 0 (sign-constrained layer, no
    # ancestry terms), so the dimension is an exact increasing function of the allele count
    res = dissect(adata, latent_key="X_dose", covariates=["vkorc1_a", "vkorc1", "age_decades"],
                  confounders=["age_decades"], batch_key="site")
    dims = res.dimensions.set_index("dimension")
    assert list(dims.index) == [*model.pathway_names_, "clinical score"]
    vk = dims.loc["VKORC1 sensitivity"]
    assert vk["label"] in ("tracks:vkorc1", "tracks:vkorc1_a")
    assert vk["best_effect"] == pytest.approx(1.0, abs=1e-9)
    assoc = res.associations.set_index(["dimension", "covariate"])
    assert assoc.loc[("VKORC1 sensitivity", "vkorc1_a"), "spearman"] == pytest.approx(1.0)
    assert dims.loc["VKORC1 sensitivity", "batch_eta2"] < 0.05  # site is a random split here
    assert res.params["gene_attribution"] == "none"


def test_pathways_the_model_never_saw_genotyped_are_left_out(cohort_and_model):
    from bio_mtl.dissect.adapters.dosing import dose_anndata
    from bio_mtl.dosing import load_pretrained

    # the shipped model was trained on IWPC, which has no CYP4F2 or CYP2C19 genotypes: those
    # pathway activities are NaN for every patient and cannot be dissected
    patients, _ = cohort_and_model
    adata = dose_anndata(patients, load_pretrained("warfarin_iwpc_v1"))
    params = adata.uns["biomtl_dose_latent"]["params"]
    assert params["dropped_all_nan"] == ["CYP4F2 activity", "CYP2C19 clearance"]
    assert list(adata.obsm["X_dose"].columns) == ["CYP2C9 clearance", "VKORC1 sensitivity",
                                                  "clinical score"]
    assert np.isfinite(adata.obsm["X_dose"].to_numpy()).all()


def test_cli_dissects_a_dosing_checkpoint(cohort_and_model, runner, tmp_path):
    import anndata as ad

    from bio_mtl.cli.main import cli

    patients, model = cohort_and_model
    model.save(tmp_path / "dose_model")
    table = patients.drop(columns=["true_cyp2c9_activity", "true_cyp2c19_activity", "stable"])
    table.to_csv(tmp_path / "patients.csv", index=False)
    out = tmp_path / "rep"
    res = runner.invoke(cli, ["-q", "dissect", "--model", str(tmp_path / "dose_model"),
                              "--data", str(tmp_path / "patients.csv"), "--confounder",
                              "age_decades", "--batch-key", "site", "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    dims = pd.read_csv(out / "dimensions.tsv", sep="\t")
    assert "VKORC1 sensitivity" in list(dims["dimension"])
    doc = json.loads((out / "report.json").read_text())
    assert doc["params"]["latent_key"] == "X_dose"
    assert {"vkorc1", "cyp2c9_activity", "dose_mg_per_week"} <= set(doc["params"]["covariates"])
    assert doc["batch_mixing"]["n_batches"] == 2
    assert ad.read_h5ad(out / "latent.h5ad").obsm["X_dose"].shape == (160, len(dims))
    res = runner.invoke(cli, ["dissect", "--model", str(tmp_path / "dose_model"), "--data",
                              str(tmp_path / "patients.csv"), "--data", "iwpc",
                              "--out", str(tmp_path / "r2")])
    assert res.exit_code == 4
    assert "one --data table" in res.stderr
