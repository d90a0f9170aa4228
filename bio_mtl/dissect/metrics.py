"""Batch-mixing metrics of a whole latent space (pure functions).

These are bio_mtl's own definitions, named so that none passes for an scIB metric (scIB's
batch ASW, iLISI and graph connectivity come from scib-metrics itself, :mod:`.scib`):

- ``batch_silhouette_mean``: the mean silhouette width with batch as the cluster label (near 0
  or below = batches mixed, near 1 = batches separated; scIB's batch ASW instead averages
  ``1 - |s_i|`` per cell within cell types);
- ``batch_lisi_mean``: the inverse Simpson index of the batch labels among each cell's nearest
  neighbours with Gaussian weights calibrated to a fixed perplexity, *averaged* over cells
  (Korsunsky et al. 2019); 1 = one batch around each cell, ``n_batches`` = perfect mixing
  (scIB's iLISI is the rescaled *median* on a kNN graph);
- kBET: Pearson's chi-squared test of the batch counts in each tested sample's neighbourhood
  (the sample and its ``k - 1`` nearest neighbours) against the global batch frequencies; the
  result is the rejection rate at level ``alpha`` (0 = well mixed), reported with the rate that
  random neighbourhoods of the same size give (Buttner et al. 2019).
"""

from __future__ import annotations

import numpy as np

__all__ = ["batch_lisi", "batch_mixing", "kbet", "silhouette_batch"]


def silhouette_batch(latent: np.ndarray, batch: np.ndarray, *, max_cells: int = 3000,
                     seed: int = 0) -> float:
    """Mean silhouette width of ``latent`` (``(n, d)``) with ``batch`` as labels.

    More than ``max_cells`` cells are subsampled (seeded) because the cost is quadratic.

    References
    ----------
    Rousseeuw PJ. Silhouettes. J Comput Appl Math 1987;20:53-65.
    Luecken MD, et al. Benchmarking atlas-level data integration in single-cell genomics.
    Nat Methods 2022;19:41-50.
    """
    from sklearn.metrics import silhouette_score

    batch = np.asarray(batch).astype(str)
    if len(np.unique(batch)) < 2:
        return float("nan")
    latent = np.asarray(latent, dtype=float)
    if latent.ndim == 1:
        latent = latent[:, None]
    if np.ptp(latent, axis=0).max() == 0:  # every sample at one point: undefined
        return float("nan")
    size = min(max_cells, len(batch))
    return float(silhouette_score(latent, batch, sample_size=size if size < len(batch) else None,
                                  random_state=seed))


def _perplexity_weights(dist2: np.ndarray, perplexity: float, n_iter: int = 50) -> np.ndarray:
    """Row-wise Gaussian weights whose entropy is ``log(perplexity)`` (binary search on beta)."""
    n = dist2.shape[0]
    beta = np.ones(n)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    target = np.log(perplexity)
    d = dist2 - dist2[:, :1]
    for _ in range(n_iter):
        w = np.exp(-d * beta[:, None])
        s = w.sum(axis=1)
        p = w / s[:, None]
        entropy = np.log(s) + beta * (d * p).sum(axis=1)
        too_flat = entropy > target
        lo = np.where(too_flat, beta, lo)
        hi = np.where(too_flat, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2, (lo + hi) / 2)
    return p


def _shuffled(latent: np.ndarray, batch: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Latent (2-D float) and batch codes in a seeded random order.

    Neighbour searches break ties between identical points by row order; a latent with
    repeated values (e.g. genotype-driven) stored site by site would otherwise get
    same-batch neighbourhoods from the file order alone.
    """
    latent = np.asarray(latent, dtype=float)
    latent = latent[:, None] if latent.ndim == 1 else latent
    codes = np.unique(np.asarray(batch).astype(str), return_inverse=True)[1]
    order = np.random.default_rng(seed).permutation(len(codes))
    return latent[order], codes[order]


def _without_self(dist: np.ndarray, idx: np.ndarray, rows: np.ndarray, k: int):
    """Drop each row's own index from ``k + 1`` neighbours (the last one if absent)."""
    is_self = idx == rows[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones(idx.shape, dtype=bool)
    keep[np.arange(len(idx)), drop] = False
    return dist[keep].reshape(len(idx), k), idx[keep].reshape(len(idx), k)


def batch_lisi(latent: np.ndarray, batch: np.ndarray, *, perplexity: float = 30.0,
          seed: int = 0) -> float:
    """Mean LISI of the batch labels (inverse Simpson index in each neighbourhood).

    Parameters
    ----------
    latent
        ``(n, d)`` embedding.
    batch
        ``(n,)`` batch labels.
    perplexity
        Effective neighbourhood size; ``3 * perplexity`` nearest neighbours are searched.
    seed
        Order in which tied neighbours are broken (the samples are shuffled first).

    References
    ----------
    Korsunsky I, et al. Fast, sensitive and accurate integration of single-cell data with
    Harmony. Nat Methods 2019;16:1289-1296.
    """
    from sklearn.neighbors import NearestNeighbors

    latent, codes = _shuffled(latent, batch, seed)
    k = int(min(3 * perplexity, len(codes) - 1))
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(latent).kneighbors(latent)
    dist, idx = _without_self(dist, idx, np.arange(len(codes)), k)
    p = _perplexity_weights(dist**2, min(perplexity, k / 3))
    onehot = np.eye(codes.max() + 1)[codes[idx]]  # (n, k, B)
    share = np.einsum("nk,nkb->nb", p, onehot)
    return float(np.mean(1.0 / np.sum(share**2, axis=1)))


def kbet(latent: np.ndarray, batch: np.ndarray, *, k: int | None = None, alpha: float = 0.05,
         max_tests: int = 1000, seed: int = 0) -> dict[str, float]:
    """k-nearest-neighbour batch-effect test (kBET) of a latent.

    Parameters
    ----------
    latent
        ``(n, d)`` embedding.
    batch
        ``(n,)`` batch labels.
    k
        Neighbourhood size including the tested sample. Default: a quarter of the mean batch
        size (the kBET default), at least 10 and at most 100, and below ``n``.
    alpha
        Level of each test.
    max_tests
        Samples tested (all when ``n`` is smaller, else a seeded subsample).
    seed
        Seed of the sample order (ties between identical points), the subsample and the
        random neighbourhoods.

    Returns
    -------
    dict
        ``kbet_rejection`` (share of tested neighbourhoods whose batch composition differs
        from the global one at ``alpha``), ``kbet_expected`` (the same for random sets of
        ``k`` samples: what perfect mixing gives), ``kbet_k``, ``kbet_n_tested``.

    References
    ----------
    Buttner M, Miao Z, Wolf FA, Teichmann SA, Theis FJ. A test metric for assessing single-cell
    RNA-seq batch correction. Nat Methods 2019;16:43-49.

    Examples
    --------
    >>> x = np.array([0.0, 0.1, 0.2, 0.3, 9.0, 9.1, 9.2, 9.3])[:, None]
    >>> kbet(x, np.array(list("aaaabbbb")), k=4)["kbet_rejection"]  # chi2 = 4, p = 0.046
    1.0
    """
    from scipy import stats
    from sklearn.neighbors import NearestNeighbors

    latent, codes = _shuffled(latent, batch, seed)
    n, n_batches = len(codes), int(codes.max()) + 1 if len(codes) else 0
    if n_batches < 2:
        return {"kbet_rejection": float("nan"), "kbet_expected": float("nan"),
                "kbet_k": 0, "kbet_n_tested": 0}
    if k is None:
        k = int(np.clip(np.floor(n / n_batches / 4), 10, 100))
    k = int(min(k, n - 1))
    rng = np.random.default_rng(seed)
    tested = np.arange(n) if n <= max_tests else np.sort(rng.choice(n, max_tests, replace=False))
    dist, near = NearestNeighbors(n_neighbors=k).fit(latent).kneighbors(latent[tested])
    # the neighbourhood: the sample plus its k - 1 nearest other samples (duplicates safe)
    idx = np.column_stack([tested, _without_self(dist, near, tested, k - 1)[1]])
    expected = np.bincount(codes, minlength=n_batches) / n * k

    def rejection(neighbourhoods: np.ndarray) -> float:
        counts = np.stack([np.bincount(row, minlength=n_batches)
                           for row in codes[neighbourhoods]])
        chi2 = np.sum((counts - expected) ** 2 / expected, axis=1)
        return float(np.mean(stats.chi2.sf(chi2, n_batches - 1) < alpha))

    random_sets = np.stack([rng.choice(n, k, replace=False) for _ in range(len(tested))])
    return {"kbet_rejection": rejection(idx), "kbet_expected": rejection(random_sets),
            "kbet_k": k, "kbet_n_tested": len(tested)}


def batch_mixing(latent: np.ndarray, batch: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """bio_mtl's batch-mixing summary of one latent (none of these is an scIB number).

    Returns
    -------
    dict
        ``batch_silhouette_mean``, ``batch_lisi_mean``, the kBET rejection rate of Buttner et
        al. (``kbet_rejection``, ``kbet_expected``, ``kbet_k``, ``kbet_n_tested``) and
        ``n_batches``.
    """
    n_batches = len(np.unique(np.asarray(batch).astype(str)))
    return {"batch_silhouette_mean": silhouette_batch(latent, batch, seed=seed),
            "batch_lisi_mean": batch_lisi(latent, batch, seed=seed),
            **kbet(latent, batch, seed=seed), "n_batches": n_batches}
