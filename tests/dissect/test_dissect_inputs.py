"""Latents of any shape and origin, files without counts, and the per-dimension extras
(batch silhouette, variance explained, top-weights panel, signed leading edges) by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _obs(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.uniform(20, 80, n), "site": np.repeat(["a", "b"], n // 2)},
                        index=[f"c{i}" for i in range(n)])


def test_obs_and_obsm_only_file_is_dissected_without_genes():
    import anndata as ad

    from bio_mtl.dissect import dissect
    from bio_mtl.errors import InputError

    obs = _obs(40)
    adata = ad.AnnData(obs=obs)  # X is None: e.g. a table of patients and their latent
    adata.obsm["X_lat"] = np.column_stack([obs["age"] / 10, np.arange(40.0) % 7])
    res = dissect(adata, latent_key="X_lat", covariates=["age"])
    assert res.params["gene_attribution"] == "none"
    assert res.dimensions.loc[0, "best_effect"] == pytest.approx(1.0)  # lat1 = age / 10
    assert res.dimensions["variance_explained"].isna().all()
    with pytest.raises(InputError, match="no genes to rank"):
        dissect(adata, latent_key="X_lat", covariates=["age"], gene_sets={"S": ["G1"]})
    with pytest.raises(InputError, match="both are empty"):
        dissect(adata, latent_key="X_lat", covariates=["age"], gene_attribution="correlation")


def test_sparse_and_dataframe_latents_equal_dense():
    import anndata as ad
    import scipy.sparse as sp

    from bio_mtl.dissect import dissect

    obs = _obs(30)
    dense = np.column_stack([obs["age"], np.zeros(30)])
    dense[::3, 1] = 1.0
    adata = ad.AnnData(X=np.ones((30, 2), np.float32), obs=obs)
    adata.obsm["X_dense"] = dense
    adata.obsm["X_sparse"] = sp.csr_matrix(dense)
    adata.obsm["X_frame"] = pd.DataFrame(dense, index=obs.index, columns=["u", "v"])
    got = {key: dissect(adata, latent_key=key, covariates=["age"], gene_sets=False).latent
           for key in ("X_dense", "X_sparse", "X_frame")}
    np.testing.assert_array_equal(got["X_sparse"], dense)
    np.testing.assert_array_equal(got["X_frame"], dense)


def test_latent_with_nan_rows_names_them():
    import anndata as ad

    from bio_mtl.dissect import dissect
    from bio_mtl.errors import InputError

    adata = ad.AnnData(obs=_obs(10))
    lat = np.ones((10, 2))
    lat[[3, 7], 1] = np.nan
    adata.obsm["X_scVI"] = lat
    with pytest.raises(InputError, match=r"2 of 10 rows \(first: c3, c7\)"):
        dissect(adata, latent_key="X_scVI", covariates=["age"])


def test_train_expression_on_a_file_without_counts_names_layers(runner, tmp_path):
    import anndata as ad

    from bio_mtl.cli.main import cli

    obs = _obs(20).assign(disease=["y", "n"] * 10)
    scaled = ad.AnnData(X=np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32),
                        obs=obs, layers={"spliced": np.zeros((20, 5), np.float32)})
    scaled.write_h5ad(tmp_path / "scaled.h5ad")
    res = runner.invoke(cli, ["train-expression", str(tmp_path / "scaled.h5ad"), "--task",
                              "disease:classification", "--out", str(tmp_path / "m")])
    assert res.exit_code == 3
    assert "X has negative values" in res.stderr
    assert "layers available: spliced" in res.stderr
    assert not (tmp_path / "m").exists()
    ad.AnnData(obs=obs).write_h5ad(tmp_path / "empty.h5ad")
    res = runner.invoke(cli, ["train-expression", str(tmp_path / "empty.h5ad"), "--task",
                              "disease:classification", "--out", str(tmp_path / "m")])
    assert res.exit_code == 3
    assert "X is empty" in res.stderr


def test_batch_silhouette_per_dimension_by_hand():
    import anndata as ad

    from bio_mtl.dissect import dissect

    obs = _obs(12)
    adata = ad.AnnData(obs=obs)
    # dim 1 separates the sites perfectly (s = 1 for every sample); dim 2 repeats 0, 1, 2 in
    # both sites: each sample is as close to the other site as to its own, s = -1/6 for all
    # (value 0: own-site mean distance 6/5, other-site 1 -> (1 - 1.2) / 1.2)
    adata.obsm["X_lat"] = np.column_stack([np.repeat([0.0, 10.0], 6), np.tile([0.0, 1, 2], 4)])
    res = dissect(adata, latent_key="X_lat", covariates=["age"], batch_key="site")
    sil = res.dimensions["batch_silhouette"].to_numpy()
    np.testing.assert_allclose(sil, [1.0, -1 / 6], atol=1e-12)
    assert res.dimensions.loc[0, "batch_eta2"] == pytest.approx(1.0)
    assert res.dimensions.loc[0, "label"] == "nuisance:site"


def test_variance_explained_and_top_weights_panel_by_hand():
    import anndata as ad

    from bio_mtl.dissect import dissect
    from bio_mtl.dissect.plots import dimension_panel
    from bio_mtl.dissect.steps import variance_explained

    z = np.array([[1.0], [-1], [1], [-1]])
    x = np.column_stack([z[:, 0], [1.0, 1, -1, -1]])  # gene 1 = z, gene 2 orthogonal to z
    np.testing.assert_allclose(variance_explained(x, z), [0.5])  # var 1 of a total 2
    rng = np.random.default_rng(0)
    n = 60
    f = rng.normal(size=n)
    genes = ["UP1", "UP2", "DOWN1", "FLAT1", "FLAT2"]
    expr = np.column_stack([3 * f, 2 * f, -4 * f, rng.normal(size=n), rng.normal(size=n)])
    adata = ad.AnnData(X=expr.astype(np.float32), obs=_obs(n),
                       var=pd.DataFrame(index=genes))
    adata.obsm["X_f"] = f[:, None]
    res = dissect(adata, latent_key="X_f", covariates=["age"], gene_sets=False)
    row = res.dimensions.iloc[0]
    assert row["top_genes_up"].split(",")[:2] == ["UP1", "UP2"]  # correlation 1 each
    assert row["top_genes_down"].split(",")[0] == "DOWN1"
    fig = dimension_panel(res, 0, n_genes=3)
    bars = fig.axes[0]
    labels = [t.get_text() for t in bars.get_yticklabels()]
    assert set(labels) == {"UP1", "UP2", "DOWN1"}  # the three largest |weights|
    widths = sorted(round(p.get_width(), 6) for p in bars.patches)
    assert widths == [-1.0, 1.0, 1.0]
    top = res.to_dict(n_top_weights=3)["top_weights"]["f1"]  # the panel's numbers, in JSON
    assert {t["gene"]: round(t["weight"], 6) for t in top} == {"UP1": 1.0, "UP2": 1.0,
                                                               "DOWN1": -1.0}


def test_negative_enrichment_has_bottom_leading_edge():
    from bio_mtl.dissect.enrichment import gsea_preranked

    genes = [f"G{i:03d}" for i in range(100)]
    res = gsea_preranked(np.linspace(1, -1, 100), genes, {"bottom": genes[-10:]},
                         n_permutations=200)
    assert res[0]["nes"] < -1
    assert res[0]["leading_edge"] == genes[-10:][::-1]  # from the most negative upwards


def test_constant_dimension_gets_no_statistics():
    import anndata as ad

    from bio_mtl.dissect import dissect

    # e.g. the CYP4F2 pathway of a dose model on a cohort without CYP4F2 genotypes
    obs = _obs(40)
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_lat"] = np.column_stack([obs["age"], np.zeros(40)])
    res = dissect(adata, latent_key="X_lat", covariates=["age"], batch_key="site")
    flat = res.dimensions.iloc[1]
    assert flat["label"] == "unexplained"
    assert np.isnan(flat["batch_eta2"])
    assert np.isnan(flat["batch_silhouette"])  # not 0: undefined when all samples coincide
    assert res.associations.query("dimension == 'lat2'")["p"].isna().all()
