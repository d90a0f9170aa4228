"""Gene sets: GMT reading, the shipped collections, alias matching and preranked GSEA.

The running-sum enrichment score is the weighted Kolmogorov-Smirnov statistic of Subramanian et
al. (2005) with weight exponent ``p = 1`` (the ES of gseapy's ``prerank``). Significance comes
from gene-set permutations (random sets of the same size drawn from the ranked genes), as in
GSEA-preranked, drawn *adaptively*: every set starts with ``n_permutations`` random sets of its
size, and a set with fewer than ``min_exceedances`` null scores at least as extreme as its own
gets the number doubled, up to ``max_permutations`` (sequential Monte Carlo p-values, Besag &
Clifford 1991). A strong set thus reaches ``p ~ 1 / max_permutations`` (1e-5 by default) while
the others stop at the first thousand draws. The observed ES is normalised by the mean of the
null ES of the same sign (NES), the nominal p-value is ``(b + 1) / (B + 1)`` with ``b`` of the
``B`` same-signed null ES at least as extreme, and q-values are Benjamini-Hochberg across the
sets tested for one ranking.

Shipped collections (``bio_mtl/resources/genesets/``, see its README): ``hallmark_v7.0``, the
official MSigDB Hallmark v7.0 file (the default), and ``curated_v2`` (Tirosh cell-cycle phases,
ribosomal and mitochondrially encoded genes). Symbols renamed by HGNC are matched through the
shipped alias table (:func:`read_aliases`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._io import open_input
from ..errors import InputError
from .associations import benjamini_hochberg

__all__ = ["COLLECTIONS", "DEFAULT_COLLECTION", "default_gene_sets", "gsea_preranked",
           "match_gene_sets", "random_subsets", "read_aliases", "read_gmt", "running_sum"]

#: Shipped gene-set collections: name -> GMT file under ``bio_mtl/resources/genesets``.
COLLECTIONS = {"hallmark_v7.0": "h.all.v7.0.symbols.gmt", "curated_v2": "curated_v2.gmt"}
DEFAULT_COLLECTION = "hallmark_v7.0"


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


def _resource(name: str) -> Path:
    from importlib.resources import files

    return Path(str(files("bio_mtl.resources") / "genesets" / name))


def default_gene_sets(collection: str = DEFAULT_COLLECTION) -> dict[str, list[str]]:
    """A shipped collection (see ``bio_mtl/resources/genesets/README.md``).

    Parameters
    ----------
    collection
        A key of :data:`COLLECTIONS`.

    Examples
    --------
    >>> sets = default_gene_sets()
    >>> len(sets), len(sets["HALLMARK_G2M_CHECKPOINT"])
    (50, 200)
    """
    return read_gmt(_resource(COLLECTIONS[collection]))


def read_aliases() -> dict[str, set[str]]:
    """The shipped alias table as ``{symbol: its other symbols}`` (both directions).

    Examples
    --------
    >>> aliases = read_aliases()
    >>> aliases["H2AFX"], aliases["WARS1"]
    ({'H2AX'}, {'WARS'})
    """
    groups: dict[str, set[str]] = {}
    text = _resource("aliases.tsv").read_text(encoding="utf-8")
    for line in text.splitlines()[1:]:
        if line.startswith("#") or line.startswith("previous\t") or not line.strip():
            continue
        old, new = line.split("\t")
        groups.setdefault(old, set()).add(new)
        groups.setdefault(new, set()).add(old)
    return groups


def match_gene_sets(sets: dict[str, list[str]], genes: list[str], *,
                    aliases: dict[str, set[str]] | None = None
                    ) -> tuple[dict[str, list[str]], int]:
    """Each set's members as the data spells them, renamed symbols matched through aliases.

    A member absent from ``genes`` is replaced by one of its aliases that is present (e.g. the
    Hallmark ``WARS`` by the data's ``WARS1``); members found neither way are kept (they are
    simply not ranked).

    Returns
    -------
    tuple
        ``({name: members}, number of members matched through an alias)``.

    Examples
    --------
    >>> match_gene_sets({"S": ["WARS", "H2AFX", "TP53"]}, ["WARS1", "TP53"])
    ({'S': ['WARS1', 'H2AFX', 'TP53']}, 1)
    """
    aliases = read_aliases() if aliases is None else aliases
    present = set(genes)
    out, renamed = {}, 0
    for name, members in sets.items():
        matched = []
        for g in members:
            if g not in present:
                hit = sorted(a for a in aliases.get(g, ()) if a in present)
                if hit:
                    g, renamed = hit[0], renamed + 1
            matched.append(g)
        out[name] = list(dict.fromkeys(matched))
    return out, renamed


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


def running_sum(scores: np.ndarray, genes: list[str], members: list[str]
                ) -> tuple[np.ndarray, np.ndarray]:
    """The GSEA running sum along the ranking (the curve of a GSEA plot) and the hit ranks.

    Returns
    -------
    tuple
        ``(running sum (G,), rank positions of the set's genes)``; the ES is the running
        sum's largest deviation from zero.

    Examples
    --------
    >>> rs, hits = running_sum(np.array([4.0, 3, 2, 1]), ["a", "b", "c", "d"], ["a", "c"])
    >>> rs.round(3).tolist(), hits.tolist()
    ([0.667, 0.167, 0.5, 0.0], [0, 2])
    """
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    wanted = set(members)
    hit = np.array([genes[i] in wanted for i in order])
    w = np.abs(scores[order]) * hit
    up = np.cumsum(w) / (w.sum() or 1.0)
    down = np.cumsum(~hit) / max(int((~hit).sum()), 1)
    return up - down, np.flatnonzero(hit)


def random_subsets(rng: np.random.Generator, n: int, m: int, *, count: int) -> np.ndarray:
    """``(count, m)`` sorted rank positions of uniformly random ``m``-subsets of ``range(n)``.

    Positions are drawn with replacement and duplicates redrawn until each row is distinct;
    the process treats every position alike, so each row is a uniform random subset, at a
    cost of ``count * m`` draws instead of the ``count * n`` of shuffling all genes.

    Examples
    --------
    >>> rows = random_subsets(np.random.default_rng(0), 10, 4, count=3)
    >>> rows.shape, bool((np.diff(rows, axis=1) > 0).all())
    ((3, 4), True)
    """
    if 2 * m > n:  # dense subsets: shuffling is cheaper than redrawing collisions
        keys = rng.random((count, n), dtype=np.float32)
        return np.sort(np.argpartition(keys, m - 1, axis=1)[:, :m], axis=1)
    pos = rng.integers(0, n, size=(count, m))
    while True:
        pos.sort(axis=1)
        dup = np.zeros(pos.shape, dtype=bool)
        dup[:, 1:] = pos[:, 1:] == pos[:, :-1]
        k = int(dup.sum())
        if k == 0:
            return pos
        pos[dup] = rng.integers(0, n, size=k)


class _Null:
    """Null ES of random gene sets of one size, drawn in chunks on demand."""

    def __init__(self, rng: np.random.Generator, weights: np.ndarray, m: int) -> None:
        self.rng, self.weights, self.m, self.n = rng, weights, m, len(weights)
        self.values = np.zeros(0)

    def extend(self, count: int, chunk: int = 20_000) -> None:
        parts = [self.values]
        while count > 0:
            b = min(chunk, count)
            pos = random_subsets(self.rng, self.n, self.m, count=b)
            parts.append(_running_es(pos, self.weights[pos], self.n))
            count -= b
        self.values = np.concatenate(parts)

    def same_sign(self, es: float) -> np.ndarray:
        return self.values[self.values >= 0] if es >= 0 else self.values[self.values < 0]


def _extreme(same: np.ndarray, es: float) -> int:
    return int(np.sum(same >= es) if es >= 0 else np.sum(same <= es))


def gsea_preranked(scores: np.ndarray, genes: list[str], gene_sets: dict[str, list[str]], *,
                   n_permutations: int = 1000, max_permutations: int = 100_000,
                   min_exceedances: int = 10, min_size: int = 5, max_size: int = 500,
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
        Random gene sets per size drawn first.
    max_permutations
        Most random sets per size (adaptive doubling while a set has fewer than
        ``min_exceedances`` null scores as extreme as its own); ``<= n_permutations`` turns
        the adaptive step off.
    min_exceedances
        Null scores at least as extreme as the observed one that stop the doubling.
    min_size, max_size
        Sets with fewer/more matched genes are skipped.
    seed
        Seed of the permutations.

    Returns
    -------
    list of dict
        One record per tested set, sorted by q then |NES|: ``name``, ``size``, ``es``,
        ``nes``, ``p``, ``q``, ``n_permutations`` (null sets drawn for its size),
        ``direction`` (``"up"``/``"down"``), ``leading_edge`` (genes).

    References
    ----------
    Subramanian A, et al. Gene set enrichment analysis. PNAS 2005;102:15545-15550.
    Besag J, Clifford P. Sequential Monte Carlo p-values. Biometrika 1991;78:301-304.
    """
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    ranked = [genes[i] for i in order]
    weights = np.abs(scores[order])
    index = {g: i for i, g in enumerate(ranked)}
    n = len(ranked)
    rng = np.random.default_rng(seed)
    observed = {}
    for name, members in gene_sets.items():
        pos = np.sort(np.array([index[g] for g in members if g in index], dtype=int))
        if min_size <= pos.size <= max_size and pos.size < n:
            observed[name] = (pos, float(_running_es(pos[None, :], weights[pos][None, :],
                                                     n)[0]))
    nulls: dict[int, _Null] = {}
    for m in sorted({pos.size for pos, _ in observed.values()}):
        null = nulls[m] = _Null(rng, weights, m)
        null.extend(n_permutations)
        ses = [es for pos, es in observed.values() if pos.size == m]
        while null.values.size < max_permutations and any(
                _extreme(null.same_sign(es), es) < min_exceedances for es in ses):
            null.extend(min(null.values.size, max_permutations - null.values.size))
    records = [_record(name, pos, es, nulls[pos.size], weights, n, ranked)
               for name, (pos, es) in observed.items()]
    q = benjamini_hochberg(np.array([r["p"] for r in records]))
    for rec, qv in zip(records, q, strict=True):
        rec["q"] = float(qv)
    records.sort(key=lambda r: (r["q"], -abs(r["nes"]) if r["nes"] == r["nes"] else 0))
    return records


def _record(name, pos, es, null, weights, n, ranked) -> dict:
    same = null.same_sign(es)
    norm = abs(same.mean()) if same.size else np.nan
    nes = es / norm if norm and norm > 0 else np.nan
    p = (_extreme(same, es) + 1) / (same.size + 1)
    return {"name": name, "size": int(pos.size), "es": es, "nes": float(nes), "p": float(p),
            "n_permutations": int(null.values.size), "direction": "up" if es >= 0 else "down",
            "leading_edge": _leading_edge(pos, weights, n, ranked, es)}


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
