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


def test_shipped_gene_sets_hold_known_members():
    sets = default_gene_sets()
    assert "ISG15" in sets["HALLMARK_INTERFERON_ALPHA_RESPONSE"]
    assert len(sets["TIROSH2016_S_PHASE"]) == 44
    assert "MCM5" in sets["TIROSH2016_S_PHASE"]
    assert "MKI67" in sets["TIROSH2016_G2M_PHASE"]
    assert len(sets["MITOCHONDRIAL_ENCODED_MT"]) == 15
