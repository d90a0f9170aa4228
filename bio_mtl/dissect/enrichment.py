"""Gene sets: GMT reading, the shipped collection, and preranked GSEA (signed, with NES).

The running-sum enrichment score is the weighted Kolmogorov-Smirnov statistic of Subramanian et
al. (2005) with weight exponent ``p = 1``. Significance comes from gene-set permutations (random
sets of the same size drawn from the ranked genes), as in GSEA-preranked: the observed ES is
normalised by the mean of the null ES of the same sign (NES), the nominal p-value is the share of
same-signed null ES at least as extreme, and q-values are Benjamini-Hochberg across the sets
tested for one ranking.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._io import open_input
from ..errors import InputError
from .associations import benjamini_hochberg

__all__ = ["DEFAULT_GMT", "default_gene_sets", "gsea_preranked", "read_gmt"]

DEFAULT_GMT = "curated_v1.gmt"


def read_gmt(path: str | os.PathLike) -> dict[str, list[str]]:
    """Read a GMT file: one set per line, ``name<TAB>description<TAB>gene<TAB>gene...``.

    Raises
    ------
    InputError
        If the file is missing, empty, or a line has no genes.
    """
    path = Path(path)
    sets: dict[str, list[str]] = {}
    with open_input(path, what="GMT gene-set file") as handle:
        text = handle.read()
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.rstrip("\n").split("\t")]
        genes = [g for g in parts[2:] if g]
        if len(parts) < 3 or not genes:
            raise InputError("a GMT line needs a name, a description and at least one gene, "
                             "tab-separated", path=path, record=f"line {i}")
        sets[parts[0]] = list(dict.fromkeys(genes))
    if not sets:
        raise InputError("no gene sets in the file", path=path)
    return sets


def default_gene_sets() -> dict[str, list[str]]:
    """The shipped curated collection (see ``bio_mtl/resources/genesets/README.md``)."""
    from importlib.resources import files

    return read_gmt(Path(str(files("bio_mtl.resources") / "genesets" / DEFAULT_GMT)))


def _running_es(positions: np.ndarray, weights: np.ndarray, n_genes: int) -> np.ndarray:
    """ES of sets given the sorted rank positions of their hits (``(B, m)``) and hit weights."""
    m = positions.shape[1]
    total = weights.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    cum = np.cumsum(weights, axis=1) / total
    misses_before = positions - np.arange(m)[None, :]
    miss = misses_before / max(n_genes - m, 1)
    top = cum - miss  # running sum just after each hit
    bottom = (cum - weights / total) - miss  # just before each hit
    hi, lo = top.max(axis=1), bottom.min(axis=1)
    return np.where(hi >= -lo, hi, lo)


def gsea_preranked(scores: np.ndarray, genes: list[str], gene_sets: dict[str, list[str]], *,
                   n_permutations: int = 1000, min_size: int = 5, max_size: int = 500,
                   seed: int = 0) -> list[dict]:
    """Preranked GSEA of one gene ranking against ``gene_sets`` (signed: NES > 0 = top).

    Parameters
    ----------
    scores
        ``(G,)`` gene scores (e.g. a dimension's decoder loadings); genes are ranked by it,
        highest first.
    genes
        Gene names, aligned with ``scores``.
    gene_sets
        ``{name: genes}``; only genes present in ``genes`` count.
    n_permutations
        Random gene sets per size for the null.
    min_size, max_size
        Sets with fewer/more matched genes are skipped.
    seed
        Seed of the permutations.

    Returns
    -------
    list of dict
        One record per tested set, sorted by q then |NES|: ``name``, ``size``, ``es``,
        ``nes``, ``p``, ``q``, ``direction`` (``"up"``/``"down"``), ``leading_edge`` (genes).

    References
    ----------
    Subramanian A, et al. Gene set enrichment analysis. PNAS 2005;102:15545-15550.
    """
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    ranked = [genes[i] for i in order]
    weights = np.abs(scores[order])
    index = {g: i for i, g in enumerate(ranked)}
    n = len(ranked)
    rng = np.random.default_rng(seed)
    null_cache: dict[int, np.ndarray] = {}
    shuffled = np.argsort(rng.random((n_permutations, n)), axis=1)  # one shuffle per null draw
    records = []
    for name, members in gene_sets.items():
        pos = np.sort(np.array([index[g] for g in members if g in index], dtype=int))
        m = pos.size
        if m < min_size or m > max_size or m >= n:
            continue
        es = float(_running_es(pos[None, :], weights[pos][None, :], n)[0])
        if m not in null_cache:
            perm = np.sort(shuffled[:, :m], axis=1)
            null_cache[m] = _running_es(perm, weights[perm], n)
        null = null_cache[m]
        same = null[null >= 0] if es >= 0 else null[null < 0]
        norm = abs(same.mean()) if same.size else np.nan
        nes = es / norm if norm and norm > 0 else np.nan
        extreme = np.sum(same >= es) if es >= 0 else np.sum(same <= es)
        p = (extreme + 1) / (same.size + 1)
        records.append({"name": name, "size": int(m), "es": es, "nes": float(nes),
                        "p": float(p), "direction": "up" if es >= 0 else "down",
                        "leading_edge": _leading_edge(pos, weights, n, ranked, es)})
    q = benjamini_hochberg(np.array([r["p"] for r in records]))
    for rec, qv in zip(records, q, strict=True):
        rec["q"] = float(qv)
    records.sort(key=lambda r: (r["q"], -abs(r["nes"]) if r["nes"] == r["nes"] else 0))
    return records


def _leading_edge(pos: np.ndarray, weights: np.ndarray, n: int, ranked: list[str],
                  es: float) -> list[str]:
    """Set members at or before the ES peak (positive ES) or after it (negative ES)."""
    total = weights[pos].sum() or 1.0
    cum = np.cumsum(weights[pos]) / total
    miss = (pos - np.arange(pos.size)) / max(n - pos.size, 1)
    if es >= 0:
        peak = int(np.argmax(cum - miss))
        return [ranked[i] for i in pos[: peak + 1]]
    peak = int(np.argmin(cum - weights[pos] / total - miss))
    return [ranked[i] for i in pos[peak:]][::-1]
