from __future__ import annotations

import numpy as np
import pytest

from bio_mtl.dissect.enrichment import default_gene_sets, gsea_preranked, read_gmt
from bio_mtl.errors import InputError


def _genes(n=100):
    return [f"G{i:03d}" for i in range(n)]


def test_set_at_the_top_has_es_one_and_positive_nes():
    genes = _genes()
    scores = np.linspace(1, -1, 100)
    res = gsea_preranked(scores, genes, {"top": genes[:10], "bottom": genes[-10:]},
                         n_permutations=500)
    by = {r["name"]: r for r in res}
    assert by["top"]["es"] == pytest.approx(1.0)  # all hits before any miss
    assert by["bottom"]["es"] == pytest.approx(-1.0)
    assert by["top"]["nes"] > 1
    assert by["bottom"]["nes"] < -1
    assert by["top"]["direction"] == "up"
    assert by["bottom"]["direction"] == "down"
    # no random 10-gene set of 100 reaches ES = 1 in 500 draws: p = (0 + 1) / (n_null + 1)
    assert by["top"]["p"] < 0.01
    assert by["top"]["leading_edge"] == genes[:10]


def test_es_hand_computed_small_example():
    # 4 genes, set = {G0, G2}, weights |s| = 4, 3, 2, 1 -> hits carry 4/6 and 2/6,
    # misses 1/2 each: running sum 0.667, 0.167, 0.5, 0.0 -> ES = 0.667
    res = gsea_preranked(np.array([4.0, 3, 2, 1]), ["G0", "G1", "G2", "G3"],
                         {"s": ["G0", "G2"]}, n_permutations=50, min_size=1)
    assert res[0]["es"] == pytest.approx(2 / 3)


def test_read_gmt_errors(tmp_path):
    bad = tmp_path / "bad.gmt"
    bad.write_text("ONLY_NAME\tdesc\n")
    with pytest.raises(InputError, match="line 1"):
        read_gmt(bad)
    with pytest.raises(InputError, match="missing.gmt: no such GMT gene-set file"):
        read_gmt(tmp_path / "missing.gmt")
    latin = tmp_path / "latin.gmt"
    latin.write_bytes("SET\tdesc\tG\xe9NE\n".encode("latin-1"))
    with pytest.raises(InputError, match="latin.gmt: not UTF-8 text"):
        read_gmt(latin)


def test_shipped_hallmark_is_the_official_v7_0_file_with_its_citation():
    import hashlib
    from importlib.resources import files

    folder = files("bio_mtl.resources") / "genesets"
    data = (folder / "h.all.v7.0.symbols.gmt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == \
        "4803c09aae50bbd96d53fc681bd5545a4c89278993c15145dd7b7c994f893516"
    readme = (folder / "README.md").read_text()
    assert "Liberzon" in readme
    assert "CC BY 4.0" in readme
    sets = default_gene_sets()  # the default collection
    assert len(sets) == 50
    assert len(sets["HALLMARK_G2M_CHECKPOINT"]) == 200
    assert "ISG15" in sets["HALLMARK_INTERFERON_ALPHA_RESPONSE"]


def test_renamed_symbols_match_through_the_alias_table():
    from bio_mtl.dissect.enrichment import match_gene_sets, read_aliases

    aliases = read_aliases()
    assert "H2AX" in aliases["H2AFX"]
    assert "WARS1" in aliases["WARS"]
    hallmark = default_gene_sets()
    newer = ["H2AX", "WARS1", "MKI67"]  # a 2020+ annotation
    matched, renamed = match_gene_sets({"G2M": hallmark["HALLMARK_G2M_CHECKPOINT"],
                                        "IFNG": hallmark["HALLMARK_INTERFERON_GAMMA_RESPONSE"]},
                                       newer)
    assert "H2AX" in matched["G2M"]
    assert "WARS1" in matched["IFNG"]
    assert renamed == 2
    older = ["ATP5B", "ATP5O"]  # hg19 symbols; Hallmark v7.0 already says ATP5F1B, ATP5PO
    matched, renamed = match_gene_sets(
        {"OXPHOS": hallmark["HALLMARK_OXIDATIVE_PHOSPHORYLATION"]}, older)
    assert set(older) <= set(matched["OXPHOS"])
    assert renamed == 2


def test_adaptive_permutations_resolve_small_p_values():
    rng = np.random.default_rng(0)
    genes = _genes(400)
    scores = rng.normal(size=400)
    scores[:15] += 4  # a strong set at the top
    sets = {"strong": genes[:15], "null": genes[200:212]}  # sizes differ: nulls differ
    res = {r["name"]: r for r in gsea_preranked(scores, genes, sets, n_permutations=1000,
                                                max_permutations=20_000, seed=1)}
    assert res["strong"]["n_permutations"] == 20_000  # doubled until the ceiling
    assert res["strong"]["p"] < 1e-4  # one draw in 1000 cannot go below 1e-3
    assert res["null"]["n_permutations"] == 1000  # an ordinary set stops at the first draws
    fixed = {r["name"]: r for r in gsea_preranked(scores, genes, sets, n_permutations=1000,
                                                  max_permutations=0, seed=1)}
    assert fixed["strong"]["p"] > 5e-4


def test_random_subsets_are_uniform():
    from bio_mtl.dissect.enrichment import random_subsets

    rows = random_subsets(np.random.default_rng(0), 20, 6, count=20_000)
    assert all(len(set(r)) == 6 for r in rows[:200])
    counts = np.bincount(rows.ravel(), minlength=20)
    assert counts.sum() == 120_000
    assert np.abs(counts / 6000 - 1).max() < 0.04  # every position equally often


def test_es_equals_gseapy_prerank():
    gp = pytest.importorskip("gseapy")
    import pandas as pd

    rng = np.random.default_rng(2)
    genes = _genes(300)
    scores = rng.normal(size=300)
    sets = {"A": genes[:20] + genes[100:110], "B": genes[250:280], "C": genes[40:80:2]}
    ours = {r["name"]: r["es"] for r in gsea_preranked(scores, genes, sets, n_permutations=20,
                                                       max_permutations=0)}
    rnk = pd.DataFrame({"gene": genes, "score": scores}).sort_values("score", ascending=False)
    pre = gp.prerank(rnk=rnk, gene_sets=sets, permutation_num=10, min_size=5, max_size=500,
                     weight=1, seed=0, outdir=None, verbose=False, threads=1)
    theirs = pre.res2d.set_index("Term")["ES"].astype(float)
    for name, es in ours.items():
        assert es == pytest.approx(theirs[name], abs=1e-12)


def test_g2m_checkpoint_is_testable_on_pbmc_cell_cycle_dimension():
    import scanpy as sc

    from bio_mtl.dissect import dissect

    adata = sc.datasets.pbmc68k_reduced()
    hallmark = default_gene_sets()
    sets = {k: hallmark[k] for k in ("HALLMARK_G2M_CHECKPOINT", "HALLMARK_E2F_TARGETS",
                                     "HALLMARK_COMPLEMENT", "HALLMARK_INFLAMMATORY_RESPONSE")}
    old = dissect(adata.copy(), latent_key="X_pca", covariates=["phase"], max_dims=7,
                  gene_sets=sets, gene_attribution="loadings", n_bootstrap=0)
    assert old.params["n_genes_ranked"] == 309  # the HVGs of varm["PCs"] (the old default)
    assert "HALLMARK_G2M_CHECKPOINT" not in set(old.enrichment["name"])  # 3 genes < 5
    res = dissect(adata.copy(), latent_key="X_pca", covariates=["phase"], max_dims=7,
                  gene_sets=sets, n_bootstrap=0)
    assert res.params["gene_attribution"] == "correlation:raw"
    assert res.params["n_genes_ranked"] == 765
    g2m = res.enrichment.query("dimension == 'pca7' and name == 'HALLMARK_G2M_CHECKPOINT'")
    e2f = res.enrichment.query("dimension == 'pca7' and name == 'HALLMARK_E2F_TARGETS'")
    assert int(g2m["size"].iloc[0]) == 8
    assert g2m["nes"].iloc[0] > 0
    assert e2f["nes"].iloc[0] > 0
    assert e2f["q"].iloc[0] < 0.05
    assert g2m["q"].iloc[0] < 0.05


def test_curated_collection_holds_known_members():
    sets = default_gene_sets("curated_v2")
    assert "HALLMARK_G2M_CHECKPOINT" not in sets  # the recalled subsets are gone
    assert len(sets["TIROSH2016_S_PHASE"]) == 44
    assert "MCM5" in sets["TIROSH2016_S_PHASE"]
    assert "MKI67" in sets["TIROSH2016_G2M_PHASE"]
    assert len(sets["MITOCHONDRIAL_ENCODED_MT"]) == 15
