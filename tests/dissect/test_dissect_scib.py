"""Every metric named after scIB is scib-metrics' own number; bio_mtl's own carry other names."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    n = 240
    batch = np.repeat(["b0", "b1"], n // 2)
    cells = np.tile(["t1", "t2", "t3"], n // 3)
    x = rng.normal(size=(n, 4))
    x[:, 0] += np.where(batch == "b0", 0.8, 0.0)  # a partial batch effect
    x[:, 1] += np.where(cells == "t1", 3.0, 0.0)
    return x, batch, cells


def test_every_scib_named_metric_equals_scib_metrics(toy):
    scib_metrics = pytest.importorskip("scib_metrics")
    from scib_metrics.nearest_neighbors import NeighborsResults
    from sklearn.neighbors import NearestNeighbors

    from bio_mtl.dissect.scib import SCIB_METRICS, scib_batch_metrics

    x, batch, cells = toy
    ours = scib_batch_metrics(x, batch, cells)
    assert set(ours) == set(SCIB_METRICS)

    def neighbours(k):
        dist, idx = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x)
        return NeighborsResults(indices=idx, distances=dist)

    reference = {
        "scib_batch_asw": scib_metrics.silhouette_batch(x.astype(np.float32), cells, batch),
        "scib_ilisi": scib_metrics.ilisi_knn(neighbours(90), batch),
        "scib_graph_connectivity": scib_metrics.graph_connectivity(neighbours(15), cells),
    }
    for name in SCIB_METRICS:
        assert ours[name] == pytest.approx(float(reference[name]), abs=1e-6), name
    # a batch effect: neither perfect mixing nor perfect separation
    assert 0.3 < ours["scib_ilisi"] < 0.95


def test_dissect_reports_scib_beside_its_own_metrics(toy):
    pytest.importorskip("scib_metrics")
    import anndata as ad
    import pandas as pd

    from bio_mtl.dissect import dissect
    from bio_mtl.dissect.scib import scib_batch_metrics

    x, batch, cells = toy
    adata = ad.AnnData(obs=pd.DataFrame({"batch": batch, "cell": cells,
                                         "score": x[:, 1]}, index=map(str, range(len(x)))))
    adata.obsm["X_lat"] = x
    res = dissect(adata, latent_key="X_lat", covariates=["score"], batch_key="batch",
                  label_key="cell", gene_sets=False, n_bootstrap=0)
    mixing = res.batch_mixing
    assert {k: mixing[k] for k in scib_batch_metrics(x, batch, cells)} == \
        scib_batch_metrics(x, batch, cells)
    assert res.params["scib_metrics"] is True
    off = dissect(adata, latent_key="X_lat", covariates=["score"], batch_key="batch",
                  gene_sets=False, n_bootstrap=0, scib_metrics=False)
    assert not any(k.startswith("scib_") for k in off.batch_mixing)


def test_own_metrics_carry_no_scib_name(toy):
    from bio_mtl.dissect.metrics import batch_mixing

    x, batch, _ = toy
    names = set(batch_mixing(x, batch))
    scib_names = {"batch_asw", "silhouette_batch", "ilisi", "ilisi_knn", "ilisi_scaled",
                  "kbet", "kbet_per_label", "graph_connectivity", "isolated_labels"}
    assert not names & scib_names
    assert {"batch_silhouette_mean", "batch_lisi_mean", "kbet_rejection"} <= names
