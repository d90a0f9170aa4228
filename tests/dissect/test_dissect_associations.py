from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bio_mtl.dissect.associations import (
    benjamini_hochberg,
    categorical_association,
    conditional_lrt,
    continuous_association,
    eta_squared,
)


def test_bh_matches_hand_computation():
    # sorted p: 0.01, 0.03, 0.04, 0.5 -> p*m/rank: 0.04, 0.06, 0.0533, 0.5 -> monotone min
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    np.testing.assert_allclose(q, [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_bh_keeps_nan_and_ignores_it_in_m():
    q = benjamini_hochberg(np.array([0.02, np.nan, 0.04]))
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2]], [0.04, 0.04])


def test_level_auroc_hand_value_and_ties():
    # the engine's AUROC: "b" at 0.35, 0.8 vs "a" at 0.1, 0.4 wins 3 of 4 pairs; "a" 1 of 4
    res = categorical_association(np.array([0.1, 0.4, 0.35, 0.8]), np.array(list("aabb")))
    assert res["auroc"] == 0.75
    assert res["level_auroc"] == {"a": 0.25, "b": 0.75}
    # a tie counts half: one level's only value equals another's
    tied = categorical_association(np.array([1.0, 1.0, 0.0]), np.array(list("abb")))
    assert tied["level_auroc"]["a"] == 0.75  # a=1.0 beats b=0.0, ties b=1.0


def test_eta_squared_hand_value():
    # groups a: 1, 3 (mean 2), b: 5, 7 (mean 6); grand 4; SSB = 4*4 = 16, SST = 9+1+1+9 = 20
    assert eta_squared(np.array([1.0, 3, 5, 7]), np.array(list("aabb"))) == pytest.approx(0.8)


def test_continuous_association_against_scipy_and_permutation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    z = 0.5 * x + rng.normal(size=200)
    res = continuous_association(z, x, n_permutations=200, rng=np.random.default_rng(1))
    assert res["spearman"] == pytest.approx(stats.spearmanr(z, x)[0])
    assert res["pearson"] == pytest.approx(np.corrcoef(z, x)[0, 1])
    assert res["effect"] == pytest.approx(res["spearman"] ** 2)  # the statistic of the p
    assert res["signed_effect"] == res["spearman"]
    assert res["permutation_p"] == pytest.approx(1 / 201)  # none of 200 shuffles beats it


def test_categorical_binary_and_multiclass():
    z = np.array([0.1, 0.2, 0.3, 0.9, 1.0, 1.1])
    binary = categorical_association(z, np.array(["h", "h", "h", "c", "c", "c"], dtype=object))
    assert binary["test"] == "mann-whitney"
    assert binary["auroc"] == 0.0
    assert binary["positive_level"] == "h"
    multi = categorical_association(z, np.array(list("aabbcc"), dtype=object))
    assert multi["test"] == "kruskal-wallis"
    assert multi["level_auroc"]["c"] == 1.0
    assert multi["best_level"] in ("a", "c")
    # rank eta^2 = H / (n - 1) of the Kruskal-Wallis test (ranks 1..6, groups of 2: H = 4.571)
    assert multi["effect"] == pytest.approx(stats.kruskal([1, 2], [3, 4], [5, 6])[0] / 5)
    assert multi["effect"] == pytest.approx(32 / 35)
    # binary: rho with the second level ("h", the low group): -sqrt(rank eta^2)
    assert binary["signed_effect"] == pytest.approx(stats.spearmanr(z, [1, 1, 1, 0, 0, 0])[0])


def test_conditional_lrt_ols_equals_closed_form():
    rng = np.random.default_rng(3)
    age = rng.normal(size=300)
    z = rng.normal(size=300)
    y = age + 0.3 * z + rng.normal(size=300)
    res = conditional_lrt(y, z, [age], categorical=False)
    x0 = np.column_stack([np.ones(300), age])
    x1 = np.column_stack([x0, z])
    rss0 = np.sum((y - x0 @ np.linalg.lstsq(x0, y, rcond=None)[0]) ** 2)
    rss1 = np.sum((y - x1 @ np.linalg.lstsq(x1, y, rcond=None)[0]) ** 2)
    assert res["lr"] == pytest.approx(300 * np.log(rss0 / rss1), rel=1e-6)
    assert res["df"] == 1


def test_conditional_lrt_separates_confounder_from_mechanism():
    rng = np.random.default_rng(4)
    n = 2000
    age, ifn = rng.normal(size=n), rng.normal(size=n)
    disease = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * age + 1.5 * ifn)))).astype(float)
    age_dim = age + 0.1 * rng.normal(size=n)  # a noisy read-out of age
    ifn_dim = ifn + 0.1 * rng.normal(size=n)
    assert conditional_lrt(disease, age_dim, [age], categorical=True)["p"] > 0.05
    assert conditional_lrt(disease, ifn_dim, [age], categorical=True)["p"] < 1e-20
