"""The expression model's input side: counts vs log-normalised input, the recorded scanpy
recipe (normalize_total, log1p, HVGs) and its re-application to new files."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def counts():
    from bio_mtl.dissect import simulate_expression

    return simulate_expression(300, seed=7)


def _lognorm(adata):
    import scanpy as sc

    out = adata.copy()
    sc.pp.normalize_total(out, target_sum=1e4)
    sc.pp.log1p(out)
    return out


def test_input_detection_order_and_kinds(counts):
    import scanpy as sc

    from bio_mtl.expression.preprocess import detect_input

    assert detect_input(counts)[0] == "counts"
    logn = _lognorm(counts)
    assert detect_input(logn)[0] == "lognorm"
    logn.layers["counts"] = counts.X.copy()  # raw counts kept in a layer win over X
    kind, x, _ = detect_input(logn)
    assert kind == "counts"
    np.testing.assert_array_equal(x, counts.X)
    scaled = _lognorm(counts)
    scaled.raw = scaled.copy()  # log-normalised values kept in raw, X scaled (scanpy idiom)
    sc.pp.scale(scaled)
    kind, x, genes = detect_input(scaled)
    assert kind == "lognorm"
    np.testing.assert_allclose(x, _lognorm(counts).X, rtol=1e-6)
    assert genes == list(counts.var_names)


def test_recipe_matches_scanpy_and_log_input_gives_the_same_model_input(counts):
    import scanpy as sc

    from bio_mtl.expression.preprocess import fit_preprocessing

    x, recipe = fit_preprocessing(counts, n_top_genes=40)
    ref = _lognorm(counts)
    sc.pp.highly_variable_genes(ref, n_top_genes=40, flavor="seurat")
    assert recipe["genes"] == list(ref.var_names[ref.var["highly_variable"]])
    assert recipe["input"] == "counts"
    assert recipe["target_sum"] == 1e4
    assert recipe["log1p"] is True
    assert recipe["highly_variable_genes"] == {"flavor": "seurat", "n_top_genes": 40}
    assert x.shape == (300, 40)
    np.testing.assert_allclose(x.mean(0), 0, atol=0.02)  # standardised (clip at 10 rare)
    x_log, recipe_log = fit_preprocessing(_lognorm(counts), n_top_genes=40)
    assert recipe_log["input"] == "lognorm"
    assert recipe_log["genes"] == recipe["genes"]
    np.testing.assert_allclose(x_log, x, atol=1e-4)


def test_new_file_missing_genes_and_counts_only_models(counts):
    from bio_mtl.errors import InputError
    from bio_mtl.expression.preprocess import apply_preprocessing, fit_preprocessing

    x, recipe = fit_preprocessing(counts, n_top_genes=40)
    dropped = recipe["genes"][:3]
    fewer = counts[:, [g for g in counts.var_names if g not in dropped]].copy()
    y, info = apply_preprocessing(fewer, recipe)
    assert info["missing_genes"] == dropped
    np.testing.assert_array_equal(y[:, :3], 0.0)  # the training mean after standardising
    # the others: normalize_total + log1p of the new file, then the *training* mean and std
    kept = recipe["genes"][3:]
    logx = _lognorm(fewer)[:, kept].X
    expected = (logx - np.array(recipe["mean"][3:])) / np.array(recipe["std"][3:])
    np.testing.assert_allclose(y[:, 3:], np.clip(expected, -10, 10), atol=1e-4)
    np.testing.assert_allclose(apply_preprocessing(counts, recipe)[0], x, atol=1e-4)
    with pytest.raises(InputError, match="trained on raw counts.*layers available: none"):
        apply_preprocessing(_lognorm(counts), recipe)
