"""The per-step statistics of a dissection: associations, conditional tests, enrichment, labels.

Each step takes the latent (``z``, ``(n, k)``, with dimension ``names``) and the sample table
(``obs``) and returns plain records; :func:`bio_mtl.dissect.dissect` runs them in order and
assembles the tables. The tests themselves are pure functions in :mod:`.associations`,
:mod:`.enrichment` and :mod:`.classify`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .associations import (
    benjamini_hochberg,
    bootstrap_signed_effect,
    categorical_association,
    conditional_lrt,
    continuous_association,
    eta_squared,
    level_table,
)
from .classify import classify_dimension
from .enrichment import COLLECTIONS, default_gene_sets, gsea_preranked, match_gene_sets, read_gmt

__all__ = ["associate_all", "batch_eta2_max", "classify_all", "conditional_tests",
           "enrich_all", "is_categorical", "level_tables", "load_gene_sets",
           "variance_explained"]


def is_categorical(series) -> bool:
    """Categorical if non-numeric, boolean, or numeric with exactly two distinct values.

    Examples
    --------
    >>> is_categorical(pd.Series([0, 1, 1])), is_categorical(pd.Series([1.5, 2.0, 7.0]))
    (True, False)
    """
    if isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object \
            or pd.api.types.is_bool_dtype(series) or pd.api.types.is_string_dtype(series):
        return True
    return series.dropna().nunique() == 2


def load_gene_sets(gene_sets, genes: list[str], path, *, min_size: int = 1
                   ) -> tuple[dict[str, list[str]], int]:
    """The gene sets, their members matched to ``genes`` through the shipped alias table.

    Parameters
    ----------
    gene_sets
        ``None`` (the default shipped collection), a shipped collection's name (a key of
        :data:`~bio_mtl.dissect.enrichment.COLLECTIONS`), a GMT path or ``{name: genes}``.
    genes
        The ranked genes of the data.
    path
        File name for error messages when ``gene_sets`` is not a path.
    min_size
        Smallest overlap a set needs to be tested.

    Returns
    -------
    tuple
        ``({name: genes}, members matched through an alias)`` (all sets;
        :func:`gsea_preranked` skips the small ones).

    Raises
    ------
    InputError
        No gene of any set is among ``genes`` (wrong species or identifiers), or no set has
        ``min_size`` of its genes among them (nothing could be tested).
    """
    if gene_sets is None:
        sets = default_gene_sets()
    elif isinstance(gene_sets, str) and gene_sets in COLLECTIONS:
        sets = default_gene_sets(gene_sets)
    elif isinstance(gene_sets, (str, os.PathLike)):
        sets = read_gmt(gene_sets)
    else:
        sets = {k: list(v) for k, v in dict(gene_sets).items()}
    sets, renamed = match_gene_sets(sets, genes)
    where = Path(str(gene_sets)) if isinstance(gene_sets, (str, os.PathLike)) \
        and gene_sets not in COLLECTIONS else path
    universe = set(genes)
    overlap = {name: len(universe.intersection(members)) for name, members in sets.items()}
    if not any(overlap.values()):
        example = sorted({g for m in sets.values() for g in m})[:5]
        raise InputError(f"none of the genes of the {len(sets)} gene sets ({', '.join(example)}"
                         f", ...) are among the data's {len(genes)} genes ({', '.join(genes[:5])}"
                         ", ...); check the species and gene identifiers (symbols vs Ensembl)",
                         path=where)
    if max(overlap.values()) < min_size:
        best = max(overlap, key=overlap.get)
        raise InputError(f"no gene set has {min_size} or more of its genes among the data's "
                         f"{len(genes)} ranked genes (largest overlap: {best}, "
                         f"{overlap[best]} genes); lower --min-set-size or skip enrichment "
                         "(--no-enrichment)", path=where)
    return sets, renamed


def variance_explained(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Share of the total variance of ``x`` explained by a regression on each ``z_k`` alone.

    ``R2_k = sum_g cov(x_g, z_k)^2 / var(z_k) / sum_g var(x_g)`` (MOFA+ style, per factor).
    """
    xc, zc = x - x.mean(0), z - z.mean(0)
    total = float(np.sum(xc.var(0)))
    if x.shape[1] == 0 or total == 0:
        return np.full(z.shape[1], np.nan)
    cov = xc.T @ zc / len(x)  # (g, k)
    var_z = np.where(zc.var(0) == 0, np.inf, zc.var(0))
    return np.sum(cov**2, axis=0) / var_z / total


def _encode(series) -> tuple[np.ndarray, bool]:
    if is_categorical(series):
        codes = np.asarray(series.astype("category").cat.codes, dtype=float)
        codes[codes < 0] = np.nan
        return codes, True
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float), False


def _summary(res: dict, categorical: bool) -> str:
    if not categorical:
        return f"Spearman {res['spearman']:.3g}"
    if res.get("test") == "mann-whitney":
        return (f"rho {res['signed_effect']:.3g}, AUROC {res['auroc']:.3g} "
                f"({res['positive_level']})")
    lev = res.get("best_level")
    auc = res.get("level_auroc", {}).get(lev, math.nan)
    return f"rank eta2 {res['effect']:.3g}, best level {lev} (AUROC {auc:.3g})"


def associate_all(z, names, obs, *, covariates, batch_key, n_permutations, seed,
                  n_bootstrap: int = 0) -> list[dict]:
    """One record per (dimension, covariate) test, batch included; q-values added.

    Parameters
    ----------
    z, names
        ``(n, k)`` latent and its dimension names.
    obs
        The sample table (``adata.obs``).
    covariates, batch_key
        Columns tested (the batch, if any, is tested too and flagged ``is_batch``).
    n_permutations, seed
        Permutation p-values of the continuous tests (0 = analytic) and their seed.
    n_bootstrap
        Resamples of the 95 % bootstrap interval of each ``signed_effect`` (0 = none; NaN
        bounds), seeded ``seed``.

    Returns
    -------
    list of dict
        :func:`~bio_mtl.dissect.associations.continuous_association` or
        :func:`~bio_mtl.dissect.associations.categorical_association` results plus
        ``dimension``, ``covariate``, ``is_batch``, ``kind``, ``summary``, ``ci_low``,
        ``ci_high`` and ``q`` (BH over all tests).
    """
    rng = np.random.default_rng(seed)
    boot_rng = np.random.default_rng([seed, 1])
    rows = []
    tested = [*covariates, *([batch_key] if batch_key else [])]
    for k, dim in enumerate(names):
        for cov in tested:
            series = obs[cov]
            categorical = is_categorical(series)
            if categorical:
                values = np.asarray(series.astype(object).where(series.notna(), None))
                res = categorical_association(z[:, k], values)
            else:
                values = _encode(series)[0]
                res = continuous_association(z[:, k], values, n_permutations=n_permutations,
                                             rng=rng)
            low, high = bootstrap_signed_effect(z[:, k], values, categorical=categorical,
                                                n_boot=n_bootstrap, rng=boot_rng) \
                if n_bootstrap > 0 else (math.nan, math.nan)
            rows.append({"dimension": dim, "covariate": cov, "is_batch": cov == batch_key,
                         "kind": "categorical" if categorical else "continuous",
                         "summary": _summary(res, categorical) if res["p"] == res["p"] else "",
                         **{k2: v for k2, v in res.items() if k2 != "level_auroc"},
                         "ci_low": low, "ci_high": high,
                         "level_auroc": res.get("level_auroc")})
    q = benjamini_hochberg(np.array([r["p"] for r in rows], dtype=float))
    for r, qv in zip(rows, q, strict=True):
        r["q"] = float(qv)
    return rows


def level_tables(z, names, obs, *, covariates) -> dict[str, dict[str, list[dict]]]:
    """``{dimension: {covariate: rows}}`` of :func:`~bio_mtl.dissect.associations.level_table`
    for every categorical covariate (``n``, mean and one-vs-rest AUROC per level)."""
    cats = [c for c in covariates if is_categorical(obs[c])]
    out: dict[str, dict[str, list[dict]]] = {}
    for k, dim in enumerate(names):
        out[dim] = {c: level_table(z[:, k], np.asarray(obs[c].astype(object).where(
            obs[c].notna(), None))) for c in cats}
    return out


def conditional_tests(z, names, obs, *, outcomes, confounders) -> dict[str, dict[str, dict]]:
    """``{dimension: {outcome: LRT record}}`` of ``outcome ~ confounders + z_k``.

    Parameters
    ----------
    z, names
        ``(n, k)`` latent and its dimension names.
    obs
        The sample table.
    outcomes, confounders
        Columns tested and conditioned on (:func:`~bio_mtl.dissect.associations.conditional_lrt`).

    Returns
    -------
    dict
        Each record gets ``q``, the BH q-value across all dimensions and outcomes.
    """
    conf_cols = [_encode(obs[c])[0] for c in confounders]
    out: dict[str, dict[str, dict]] = {}
    for k, dim in enumerate(names):
        out[dim] = {}
        for o in outcomes:
            y, cat = _encode(obs[o])
            out[dim][o] = conditional_lrt(y, z[:, k], conf_cols, categorical=cat)
    recs = [rec for per_dim in out.values() for rec in per_dim.values()]
    q = benjamini_hochberg(np.array([rec["p"] for rec in recs], dtype=float))
    for rec, qv in zip(recs, q, strict=True):
        rec["q"] = float(qv)
    return out


def classify_all(names, rows, cond, *, enrich, batch_key, confounders, rules):
    """``{dimension: (label, evidence)}`` by :func:`~bio_mtl.dissect.classify.classify_dimension`.

    Parameters
    ----------
    names
        Dimension names.
    rows, cond, enrich
        The records of :func:`associate_all`, :func:`conditional_tests` and :func:`enrich_all`.
    batch_key, confounders, rules
        The batch column, the declared confounders and the thresholds.
    """
    labels = {}
    for dim in names:
        mine = [r for r in rows if r["dimension"] == dim]
        assoc = {r["covariate"]: r for r in mine if not r["is_batch"]
                 and r["effect"] == r["effect"] and r["q"] == r["q"]}
        batch = [r["eta2"] for r in mine if r["is_batch"]]  # variance share of raw values
        top = enrich.get(dim, [])
        labels[dim] = classify_dimension(
            assoc, batch_key=batch_key, batch_eta2=batch[0] if batch else math.nan,
            conditional=cond[dim], confounders=list(confounders),
            top_pathway=top[0] if top else None, rules=rules)
    return labels


def enrich_all(loadings, genes, names, *, sets, n_permutations, seed, min_size: int = 5,
               max_permutations: int = 100_000) -> dict[str, list[dict]]:
    """GSEA records per dimension (best first), seeded ``seed + k`` for dimension ``k``.

    Parameters
    ----------
    loadings, genes
        ``(g, k)`` gene scores and the gene names.
    names
        Dimension names.
    sets, n_permutations, seed, min_size, max_permutations
        As in :func:`~bio_mtl.dissect.enrichment.gsea_preranked`.
    """
    return {dim: gsea_preranked(loadings[:, k], genes, sets, n_permutations=n_permutations,
                                max_permutations=max_permutations, min_size=min_size,
                                seed=seed + k)
            for k, dim in enumerate(names)}


def batch_eta2_max(z: np.ndarray, batch) -> float:
    """Largest per-dimension batch ``eta**2`` of a latent (the headline of batch removal)."""
    labels = np.asarray(batch).astype(str)
    return float(max(eta_squared(z[:, k], labels) for k in range(z.shape[1])))
