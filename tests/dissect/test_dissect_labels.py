"""The three wrong labels of issue 12, each against today's (pre-fix) behaviour.

1. a multinomial fit that Newton's method cannot finish (NaN) read as "not significant";
2. a declared confounder's own gene program labelled a mechanism;
3. heatmap colour/threshold and star from different statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def pbmc():
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()


def _multinomial_llf(y: np.ndarray, x: np.ndarray) -> float:
    """Log-likelihood of an unpenalised multinomial logistic fit (scikit-learn, lbfgs)."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(penalty=None, max_iter=5000, tol=1e-10).fit(x, y)
    proba = fit.predict_proba(x)
    return float(np.sum(np.log(proba[np.arange(len(y)), np.searchsorted(fit.classes_, y)])))


def test_failed_newton_fit_is_refitted_and_matches_an_independent_multinomial(pbmc):
    from bio_mtl.dissect.associations import conditional_lrt
    from bio_mtl.dissect.steps import _encode

    y = _encode(pbmc.obs["bulk_labels"])[0]
    mito = _encode(pbmc.obs["percent_mito"])[0]
    z = pbmc.obsm["X_pca"][:, 2]  # pca3: Newton returns NaN parameters, "converged"
    res = conditional_lrt(y, z, [mito], categorical=True)
    assert np.isfinite(res["p"])  # before: NaN
    assert res["solver"] != "newton"
    std = lambda v: (v - v.mean()) / v.std()  # noqa: E731
    codes = y.astype(int)
    ll0 = _multinomial_llf(codes, std(mito)[:, None])
    ll1 = _multinomial_llf(codes, np.column_stack([std(mito), std(z)]))
    ref_p = stats.chi2.sf(2 * (ll1 - ll0), 9)  # 10 cell types: 9 extra parameters
    assert res["df"] == 9
    assert res["lr"] == pytest.approx(2 * (ll1 - ll0), rel=1e-4)
    assert np.log10(res["p"]) == pytest.approx(np.log10(ref_p), rel=1e-3)  # ~1e-190
    assert res["p"] < 1e-150


def test_undetermined_conditional_test_is_never_a_negative():
    from bio_mtl.dissect.classify import classify_dimension

    cell = {"effect": 0.70, "q": 1e-100, "summary": "rank eta2 0.7"}
    mito = {"effect": 0.08, "q": 1e-10, "summary": "Spearman 0.28"}
    cond = {"bulk_labels": {"p": float("nan"), "q": float("nan")},
            "percent_mito": {"p": 1e-9, "q": 1e-8}}
    label, evidence = classify_dimension({"bulk_labels": cell, "percent_mito": mito},
                                         batch_key=None, batch_eta2=float("nan"),
                                         conditional=cond, confounders=[], top_pathway=None)
    assert label == "tracks:bulk_labels"  # before: tracks:percent_mito
    assert "undetermined" in evidence
    # a confounder that is not the strongest association cannot win over an undetermined test
    label, _ = classify_dimension({"bulk_labels": cell, "percent_mito": mito},
                                  batch_key=None, batch_eta2=float("nan"),
                                  conditional={"bulk_labels": cond["bulk_labels"]},
                                  confounders=["percent_mito"], top_pathway=None)
    assert label == "tracks:bulk_labels"  # before: confounder:percent_mito


def test_pbmc_cell_type_dimension_is_labelled_by_cell_type(pbmc):
    from bio_mtl.dissect import dissect

    res = dissect(pbmc.copy(), latent_key="X_pca", covariates=["bulk_labels", "percent_mito"],
                  max_dims=3, gene_sets=False, n_bootstrap=0)
    row = res.dimensions.set_index("dimension").loc["pca3"]
    assert row["label"] == "tracks:bulk_labels"  # before: tracks:percent_mito, "LRT p=nan"
    assert "p=nan" not in row["evidence"]
    assert row["conditional_p"] < 1e-150
    res = dissect(pbmc.copy(), latent_key="X_pca", covariates=["bulk_labels", "percent_mito"],
                  confounders=["percent_mito"], max_dims=3, gene_sets=False, n_bootstrap=0)
    assert res.dimensions.set_index("dimension").loc["pca3", "label"] == "tracks:bulk_labels"


@pytest.fixture(scope="module")
def planted():
    """The simulated cohort (age drives its own program), with three hand-made dimensions."""
    from bio_mtl.dissect import simulate_expression
    from bio_mtl.dissect.simulate import IFN_GENES

    adata = simulate_expression(600, seed=3)
    rng = np.random.default_rng(0)
    age = ((adata.obs["age"] - 50) / np.sqrt(300)).to_numpy()
    ifn = adata.obs["ifn_activity"].to_numpy()
    adata.obsm["X_lat"] = np.column_stack([
        age + 0.35 * ifn + 0.1 * rng.normal(size=600),   # age's axis, a little interferon
        ifn + 0.3 * rng.normal(size=600),                # the interferon mechanism
        0.35 * age + rng.normal(size=600),               # weakly age-correlated
    ])
    x = np.log1p(adata.X)
    up = [np.corrcoef(x[:, j], age)[0, 1] > 0 for j in range(adata.n_vars)]
    ageing = [g for g, u in zip(adata.var_names, up, strict=True) if g.startswith("AGEPROG") and u]
    # the ageing set: the program's genes that rise with age
    sets = {"AGEING_PROGRAM": ageing, "HALLMARK_INTERFERON_ALPHA_RESPONSE": IFN_GENES,
            "TECHNICAL": [g for g in adata.var_names if g.startswith(("MT-", "TECH"))]}
    return adata, sets


def test_confounder_program_is_labelled_by_the_confounder(planted):
    from bio_mtl.dissect import dissect

    adata, sets = planted
    res = dissect(adata, latent_key="X_lat", covariates=["age", "disease", "response"],
                  confounders=["age"], gene_sets=sets, n_bootstrap=0, min_set_size=3)
    dims = res.dimensions.set_index("dimension")
    age_axis = dims.loc["lat1"]
    assert age_axis["best_covariate"] == "age"
    assert age_axis["best_signed_effect"] > 0.9  # Spearman with age
    assert age_axis["conditional_q"] < 0.05  # disease still predicted given age ...
    assert age_axis["top_pathway"] == "AGEING_PROGRAM"
    assert age_axis["top_pathway_q"] < 0.05  # ... and the genes are the ageing program
    # before: mechanism:AGEING_PROGRAM
    assert age_axis["label"] == "confounder:age"
    assert age_axis["pathway"] == "AGEING_PROGRAM"  # the program beside the label
    assert dims.loc["lat2", "label"] == "mechanism:HALLMARK_INTERFERON_ALPHA_RESPONSE", \
        dims.loc["lat2", "evidence"]
    assert dims.loc["lat3", "label"] == "confounder:age"


def test_heatmap_colour_and_star_read_one_signed_statistic(pbmc):
    from bio_mtl.dissect import dissect
    from bio_mtl.dissect.plots import association_heatmap

    res = dissect(pbmc.copy(), latent_key="X_pca", covariates=["bulk_labels", "n_counts"],
                  max_dims=3, gene_sets=False, n_bootstrap=0)
    assoc = res.associations.set_index(["dimension", "covariate"])
    cell = assoc.loc[("pca3", "n_counts")]
    # the effect is Spearman's rho^2 (the statistic of the q), signed by rho
    assert cell["signed_effect"] == pytest.approx(cell["spearman"])
    assert cell["effect"] == pytest.approx(cell["spearman"] ** 2)
    fig = association_heatmap(res)
    image = fig.axes[0].images[0].get_array()
    dims, covs = list(res.dimensions["dimension"]), ["bulk_labels", "n_counts"]
    for (dim, cov), r in assoc.iterrows():
        assert image[dims.index(dim), covs.index(cov)] == pytest.approx(r["signed_effect"])
    starred = {(round(t.get_position()[1]), round(t.get_position()[0]))
               for t in fig.axes[0].texts if t.get_text() == "*"}
    expected = {(dims.index(d), covs.index(c)) for (d, c), r in assoc.iterrows()
                if r["q"] < 0.05 and r["effect"] >= 0.05}
    assert starred == expected
    # pca3 x n_counts: before, coloured by Pearson r^2 = 0.003 but starred by Spearman's q;
    # now coloured, thresholded and starred by rho (-0.23, rho^2 0.051)
    assert cell["pearson"] ** 2 < 0.01
    assert cell["signed_effect"] == pytest.approx(-0.2257, abs=1e-3)
    assert (dims.index("pca3"), covs.index("n_counts")) in starred
    # multi-level: the rank eta^2 of Kruskal-Wallis, H / (n - 1)
    kw = assoc.loc[("pca3", "bulk_labels")]
    assert kw["effect"] == pytest.approx(kw["statistic"] / (kw["n"] - 1))


def test_bootstrap_interval_covers_the_estimate():
    from bio_mtl.dissect.associations import bootstrap_signed_effect

    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    z = 0.5 * x + rng.normal(size=300)
    rho = stats.spearmanr(z, x)[0]
    low, high = bootstrap_signed_effect(z, x, categorical=False, n_boot=400,
                                        rng=np.random.default_rng(0))
    assert low < rho < high
    assert high - low == pytest.approx(2 * 1.96 * (1 - rho**2) / np.sqrt(300), rel=0.25)
    labels = np.where(x > 0, "b", "a")
    low, high = bootstrap_signed_effect(z, labels, categorical=True, n_boot=400)
    assert 0 < low < high < 1
