"""CLI: the X_pca route on scanpy's bundled pbmc68k_reduced, and bad input -> exit 3."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def pbmc(tmp_path_factory):
    import scanpy as sc

    path = tmp_path_factory.mktemp("pbmc") / "pbmc68k_reduced.h5ad"
    sc.datasets.pbmc68k_reduced().write_h5ad(path)
    return path


def _run(runner, args):
    from bio_mtl.cli.main import cli

    res = runner.invoke(cli, args)
    return res, res.output + (getattr(res, "stderr", "") or "")


def test_pbmc_pca_dimensions_track_cell_type_and_cycle(pbmc, runner, tmp_path):
    out = tmp_path / "rep"
    res, text = _run(runner, ["-q", "dissect", "--data", str(pbmc), "--latent-key", "X_pca",
                              "--covariate", "bulk_labels", "--covariate", "S_score",
                              "--covariate", "G2M_score", "--covariate", "phase",
                              "--max-dims", "10", "--gene-attribution", "correlation",
                              "--min-set-size", "3", "--gsea-permutations", "500",
                              "--out", str(out)])
    assert res.exit_code == 0, text
    dims = pd.read_csv(out / "dimensions.tsv", sep="\t").set_index("dimension")
    assert dims.loc["pca1", "best_covariate"] == "bulk_labels"
    # rank eta^2 (= Kruskal-Wallis H / (n - 1)); the eta^2 of the raw values is 0.903
    assert dims.loc["pca1", "best_effect"] == pytest.approx(0.835, abs=0.01)
    assert "CD3D" in dims.loc["pca1", "top_genes_up"]  # T cells vs myeloid (LST1, AIF1)
    assert "LST1" in dims.loc["pca1", "top_genes_down"]
    assoc = pd.DataFrame(__import__("json").loads((out / "report.json").read_text())
                         ["associations"])
    g2m = assoc[assoc.covariate == "G2M_score"].sort_values("effect").iloc[-1]
    assert g2m["dimension"] == "pca7"
    # rho 0.28 (rho^2 0.08): a few cycling cells carry the Pearson r of 0.65
    assert g2m["signed_effect"] == pytest.approx(0.283, abs=0.01)
    enr = pd.DataFrame(__import__("json").loads((out / "report.json").read_text())
                       ["enrichment"]).query("dimension == 'pca7'").set_index("name")
    for name in ("HALLMARK_G2M_CHECKPOINT", "HALLMARK_E2F_TARGETS"):  # the cell-cycle axis
        assert enr.loc[name, "nes"] > 0
        assert enr.loc[name, "q"] < 0.05
    assert not dims["label"].str.startswith("confounder").any()  # none declared


@pytest.mark.parametrize(("extra", "needles"), [
    (["--covariate", "nope"], ["'nope'", "bulk_labels", "louvain"]),
    (["--covariate", "phase", "--batch-key", "lab"], ["batch key 'lab'", "bulk_labels"]),
])
def test_missing_obs_columns(pbmc, runner, tmp_path, extra, needles):
    out = tmp_path / "rep"
    res, text = _run(runner, ["dissect", "--data", str(pbmc), "--latent-key", "X_pca", *extra,
                              "--out", str(out)])
    assert res.exit_code == 3, text
    for needle in needles:
        assert needle in text
    assert not out.exists()


def test_missing_latent_key_lists_available(pbmc, runner, tmp_path):
    res, text = _run(runner, ["dissect", "--data", str(pbmc), "--latent-key", "X_scVI",
                              "--covariate", "phase", "--out", str(tmp_path / "r")])
    assert res.exit_code == 3
    assert "X_scVI" in text
    assert "X_pca" in text
    assert "X_umap" in text
    assert not (tmp_path / "r").exists()


def test_gmt_matching_no_gene(pbmc, runner, tmp_path):
    gmt = tmp_path / "mouse.gmt"
    gmt.write_text("SET1\tdesc\tMus1\tMus2\n")
    res, text = _run(runner, ["dissect", "--data", str(pbmc), "--latent-key", "X_pca",
                              "--covariate", "phase", "--gene-sets", str(gmt),
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 3
    assert "mouse.gmt" in text
    assert "none of the genes" in text
    assert "Mus1" in text
    assert not (tmp_path / "r").exists()


def test_not_an_h5ad_file(runner, tmp_path):
    bad = tmp_path / "table.h5ad"
    bad.write_text("gene,cell\n")
    res, text = _run(runner, ["dissect", "--data", str(bad), "--latent-key", "X_pca",
                              "--covariate", "age", "--out", str(tmp_path / "r")])
    assert res.exit_code == 3
    assert "not an AnnData .h5ad file" in text


def test_help_has_examples(runner):
    for cmd in ("dissect", "train-expression"):
        res, text = _run(runner, [cmd, "--help"])
        assert res.exit_code == 0
        assert "Example:" in text


def test_library_copy_and_uns(pbmc):
    import anndata as ad

    from bio_mtl.dissect import dissect

    adata = ad.read_h5ad(pbmc)
    new, result = dissect(adata, latent_key="X_pca", covariates=["phase"], max_dims=3,
                          n_gsea_permutations=50, copy=True)
    assert "biomtl_dissect" not in adata.uns
    params = new.uns["biomtl_dissect"]["params"]
    assert params["covariates"] == ["phase"]
    assert params["n_dims"] == 3
    assert list(result.dimensions["dimension"]) == ["pca1", "pca2", "pca3"]
    assert np.isfinite(result.dimensions["variance_explained"]).all()


def test_varimax_rotation_of_a_pca_keeps_one_batch_axis():
    import scanpy as sc

    from bio_mtl.dissect import dissect, simulate_expression

    adata = simulate_expression(300, seed=5)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.scale(adata)
    sc.pp.pca(adata, n_comps=6)
    res = dissect(adata, latent_key="X_pca", covariates=["age"], batch_key="batch",
                  rotate="varimax", n_gsea_permutations=50)
    dims = res.dimensions
    assert dims["dimension"].iloc[0] == "pca_vmx1"
    np.testing.assert_allclose(np.cov(res.latent, rowvar=False), np.eye(6), atol=1e-6)
    assert (dims["label"] == "nuisance:batch").sum() == 1
    assert dims["batch_eta2"].max() > 0.9
    ages = dims.set_index("dimension")["best_covariate"] == "age"
    assert ages.sum() >= 1


def test_expression_model_goes_through_its_adapter(runner, tmp_path):
    """``--model`` of kind expression: the same adapter path (and errors) as any other kind."""
    from pathlib import Path

    from bio_mtl.dissect import simulate_expression

    model = Path(__file__).parents[1] / "fixtures" / "dissect" / "expression_v0"
    data = tmp_path / "held.h5ad"
    simulate_expression(40, seed=22).write_h5ad(data)
    base = ["dissect", "--model", str(model), "--data", str(data)]
    res, text = _run(runner, [*base, "--out", str(tmp_path / "r1")])
    assert res.exit_code == 2, text  # an expression model computes no default covariates
    assert "give at least one --covariate" in text
    res, text = _run(runner, [*base, "--covariate", "age", "--latent-key", "X_pca",
                              "--out", str(tmp_path / "r2")])
    assert res.exit_code == 2, text
    assert "'X_pca': this model's adapter writes X_expression" in text
    res, text = _run(runner, [*base, "--data", str(data), "--covariate", "age",
                              "--out", str(tmp_path / "r3")])
    assert res.exit_code == 4, text
    assert "an expression model takes one --data .h5ad file, got 2" in text
    out = tmp_path / "r4"
    res, text = _run(runner, ["-q", *base, "--covariate", "age", "--no-enrichment",
                              "--out", str(out)])
    assert res.exit_code == 0, text
    doc = __import__("json").loads((out / "report.json").read_text())
    assert doc["params"]["latent_key"] == "X_expression"
    assert doc["params"]["gene_attribution"] == "decoder"
    assert [d["dimension"] for d in doc["dimensions"]] == ["z1", "z2", "z3"]
    assert not (out / "latent.h5ad").exists()  # the samples are the user's file
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3"))
