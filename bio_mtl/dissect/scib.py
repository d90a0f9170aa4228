"""The scIB batch-correction metrics, computed by scib-metrics itself.

Numbers a reader can put beside the scIB benchmark (Luecken et al. 2022) must be scIB's, so they
come from the ``scib-metrics`` package (``pip install bio-mtl[scib]``), called the way its
``Benchmarker`` calls them, on exact nearest neighbours (scikit-learn) of the latent:

- ``scib_batch_asw``: :func:`scib_metrics.silhouette_batch` (``1 - |s_i|`` per cell on the batch
  labels, averaged within each cell type, then over cell types);
- ``scib_ilisi``: :func:`scib_metrics.ilisi_knn` on 90 neighbours (perplexity 30), the median
  iLISI rescaled to [0, 1];
- ``scib_graph_connectivity``: :func:`scib_metrics.graph_connectivity` on 15 neighbours (only
  with cell-type labels).

Without a cell-type column every cell gets one label, so the batch ASW is not stratified (say so
when comparing with published tables). scIB's kBET (``kbet_per_label``) is not run: it takes
minutes on a few hundred cells; :func:`bio_mtl.dissect.metrics.kbet` gives the kBET rejection
rate of Buttner et al. instead, under its own name.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np

__all__ = ["SCIB_METRICS", "available", "scib_batch_metrics"]

#: The names (keys of :func:`scib_batch_metrics`) that carry an scIB metric's name.
SCIB_METRICS = ("scib_batch_asw", "scib_ilisi", "scib_graph_connectivity")


def available() -> bool:
    """Whether scib-metrics is installed (``pip install bio-mtl[scib]``)."""
    return importlib.util.find_spec("scib_metrics") is not None


def _neighbours(latent: np.ndarray, k: int):
    from scib_metrics.nearest_neighbors import NeighborsResults
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(latent))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(latent).kneighbors(latent)
    return NeighborsResults(indices=idx, distances=dist)


def scib_batch_metrics(latent: np.ndarray, batch: np.ndarray, labels: np.ndarray | None = None
                       ) -> dict[str, float]:
    """scIB batch ASW, iLISI and (with ``labels``) graph connectivity of a latent.

    Parameters
    ----------
    latent
        ``(n, d)`` embedding.
    batch
        ``(n,)`` batch labels.
    labels
        ``(n,)`` cell-type labels, or ``None`` (one label for all cells).

    Returns
    -------
    dict
        The keys of :data:`SCIB_METRICS` (graph connectivity only with ``labels``).

    References
    ----------
    Luecken MD, et al. Benchmarking atlas-level data integration in single-cell genomics.
    Nat Methods 2022;19:41-50.
    """
    with warnings.catch_warnings():  # import-time notices of jax/umap are not ours to raise
        warnings.simplefilter("ignore")
        import scib_metrics

        return _compute(scib_metrics, latent, batch, labels)


def _compute(scib_metrics, latent, batch, labels) -> dict[str, float]:
    latent = np.asarray(latent, dtype=np.float32)
    latent = latent[:, None] if latent.ndim == 1 else latent
    batch = np.asarray(batch).astype(str)
    cells = np.zeros(len(batch), dtype=int) if labels is None else np.asarray(labels).astype(str)
    out = {"scib_batch_asw": float(scib_metrics.silhouette_batch(latent, cells, batch)),
           "scib_ilisi": float(scib_metrics.ilisi_knn(_neighbours(latent, 90), batch))}
    if labels is not None:
        out["scib_graph_connectivity"] = float(
            scib_metrics.graph_connectivity(_neighbours(latent, 15), cells))
    return out
