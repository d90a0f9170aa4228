from __future__ import annotations

import numpy as np
import pytest

from bio_mtl.dissect.metrics import batch_lisi, batch_mixing, silhouette_batch


def test_separated_batches_vs_mixed():
    rng = np.random.default_rng(0)
    batch = np.repeat(["a", "b"], 150)
    separated = rng.normal(size=(300, 2)) * 0.1 + np.where(batch == "a", 0, 10)[:, None]
    mixed = rng.normal(size=(300, 2))
    assert silhouette_batch(separated, batch) > 0.95
    assert abs(silhouette_batch(mixed, batch)) < 0.05
    assert batch_lisi(separated, batch) == pytest.approx(1.0, abs=1e-6)  # own batch nearby
    assert batch_lisi(mixed, batch) > 1.8  # 2 = perfect mixing of two batches
    assert abs(batch_mixing(mixed, batch)["batch_silhouette_mean"]) < 0.05


def test_kbet_by_hand():
    from scipy import stats

    from bio_mtl.dissect.metrics import kbet

    # two clusters of 10; k = 5: every neighbourhood is 5 of one batch vs 2.5 expected each:
    # chi2 = 2 * 2.5**2 / 2.5 = 5, p = 0.0253 < 0.05 -> every test rejects
    x = np.r_[np.arange(10.0), 100 + np.arange(10.0)][:, None]
    sep = kbet(x, np.repeat(["a", "b"], 10), k=5)
    assert stats.chi2.sf(5, 1) == pytest.approx(0.0253, abs=1e-4)
    assert sep["kbet_rejection"] == 1.0
    assert sep["kbet_k"] == 5
    assert sep["kbet_n_tested"] == 20
    # batches alternate along a line; k = 4 (self, both neighbours at distance 1 of the other
    # batch, one at distance 2 of its own): counts 2/2 = expected, chi2 = 0 -> no rejection
    line = np.arange(40.0)[:, None]
    alt = kbet(line, np.tile(["a", "b"], 20), k=4)
    assert alt["kbet_rejection"] == 0.0
    # 3:1 clusters (3 a + 1 b, then 1 a + 3 b), k = 4: chi2 = (1 + 1) / 2 = 1, p = 0.317
    y = np.r_[np.zeros(4), np.full(4, 50.0)][:, None] + np.arange(8)[:, None] * 0.01
    lab = np.array(list("aaab" "abbb"))
    assert kbet(y, lab, k=4)["kbet_rejection"] == 0.0
    assert kbet(y, lab, k=4, alpha=0.35)["kbet_rejection"] == 1.0
    # duplicated points: the sample is still counted once
    dup = kbet(np.zeros((8, 1)), np.array(list("aaaabbbb")), k=8 - 1)
    assert dup["kbet_rejection"] == 0.0  # any 7 of 8 tied points: 4/3 or 3/4, chi2 = 1/7
