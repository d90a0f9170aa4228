"""``dissect``: run every per-dimension analysis on an AnnData and collect the results."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from .associations import (
    benjamini_hochberg,
    categorical_association,
    conditional_lrt,
    continuous_association,
    eta_squared,
)
from .classify import classify_dimension
from .enrichment import default_gene_sets, gsea_preranked, read_gmt

__all__ = ["DissectionResult", "is_categorical", "latent_from_adata", "load_gene_sets"]


@dataclass
class DissectionResult:
    """Everything :func:`bio_mtl.dissect.dissect` found (tables are pandas DataFrames).

    Attributes
    ----------
    dimensions : one row per dimension (label, best covariate, statistics, top pathway/genes)
    associations : one row per (dimension, covariate) test, with BH q and conditional p
    enrichment : one row per (dimension, gene set) GSEA result
    latent : ``(n, k)`` the dissected latent
    loadings : ``(g, k)`` gene scores used for ranking; ``genes`` their names
    batch_mixing : whole-latent silhouette / iLISI (empty without a batch key)
    params : the call's parameters (also in ``adata.uns[key_added]["params"]``)
    """

    dimensions: object
    associations: object
    enrichment: object
    latent: np.ndarray
    loadings: np.ndarray
    genes: list[str]
    batch_mixing: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    covariate_values: dict = field(default_factory=dict)

    def to_dict(self, *, n_top_weights: int = 20) -> dict:
        """JSON-ready dict of the tables, batch mixing, parameters and top gene weights.

        ``top_weights`` maps each dimension to its ``n_top_weights`` genes of largest
        ``|weight|`` (the numbers behind the top-weights panel), largest first.
        """
        def records(df):
            return df.replace({np.nan: None}).to_dict(orient="records")
        top = {}
        for k, dim in enumerate(self.dimensions["dimension"]):
            w = self.loadings[:, k]
            order = np.argsort(-np.abs(w), kind="mergesort")[:n_top_weights]
            top[str(dim)] = [{"gene": self.genes[i], "weight": float(w[i])} for i in order]
        return {"params": self.params, "batch_mixing": self.batch_mixing,
                "dimensions": records(self.dimensions),
                "associations": records(self.associations),
                "enrichment": records(self.enrichment), "top_weights": top}


def is_categorical(series) -> bool:
    """Categorical if non-numeric, boolean, or numeric with exactly two distinct values."""
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object \
            or pd.api.types.is_bool_dtype(series) or pd.api.types.is_string_dtype(series):
        return True
    return series.dropna().nunique() == 2


def _missing(kind: str, name: str, available, path) -> InputError:
    return InputError(f"{kind} {name!r} not found; available: "
                      f"{', '.join(map(str, available)) or 'none'}", path=path)


def latent_from_adata(adata, *, latent_key: str | None, model, max_dims: int | None,
                      attribution: str = "auto", path: object = None
                      ) -> tuple[np.ndarray, list[str], np.ndarray, list[str], np.ndarray, str]:
    """The latent, its dimension names, gene scores, gene names, expression and the source.

    Dimensions are named ``<key without X_><k>`` (``pca1``...), or after the columns when
    ``obsm[latent_key]`` is a DataFrame.

    ``source`` says how genes were attributed: ``"decoder"``, ``"pca_loadings"`` or
    ``"correlation"``. ``attribution="correlation"`` forces the correlation of every gene of
    ``X`` with each dimension (e.g. when the PCA loadings cover only the HVGs).
    """
    if attribution not in ("auto", "correlation"):
        raise ConfigError(f"unknown gene attribution {attribution!r}; choose auto or correlation")
    from .expression import ExpressionModel

    if (latent_key is None) == (model is None):
        raise ConfigError("give exactly one of latent_key (an obsm key) or model")
    if model is not None:
        if not isinstance(model, ExpressionModel):
            model = ExpressionModel.load(model)
        z, x, _ = model.transform(adata, path=path)
        loadings = model.gene_loadings()
        names = [f"z{i + 1}" for i in range(z.shape[1])]
        z, loadings, names = z[:, :max_dims], loadings[:, :max_dims], names[:max_dims]
        return z, names, loadings, model.genes_, x.astype(np.float64), "decoder"
    z = _obsm_latent(adata, latent_key, path)[:, :max_dims]
    short = latent_key[2:] if latent_key.startswith("X_") else latent_key
    names = [f"{short}{i + 1}" for i in range(z.shape[1])]
    columns = getattr(adata.obsm[latent_key], "columns", None)  # a DataFrame names its axes
    if columns is not None and len(set(map(str, columns))) == len(columns):
        names = [str(c) for c in columns][: z.shape[1]]
    if adata.X is None:  # e.g. an obs + obsm only file: no genes to attribute
        if attribution == "correlation":
            raise InputError("gene attribution by correlation needs expression in X, but X is "
                             f"empty; layers available: {sorted(adata.layers.keys()) or 'none'}",
                             path=path)
        return z, names, np.zeros((0, z.shape[1])), [], np.zeros((adata.n_obs, 0)), "none"
    x = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X, dtype=float)
    genes = list(map(str, adata.var_names))
    if attribution == "auto" and latent_key == "X_pca" and "PCs" in adata.varm \
            and adata.varm["PCs"].shape[1] >= z.shape[1]:
        pcs = np.asarray(adata.varm["PCs"], dtype=float)[:, : z.shape[1]]
        used = np.isfinite(pcs).all(axis=1)  # genes left out of the PCA (non-HVG) are NaN
        return (z, names, pcs[used], [g for g, u in zip(genes, used, strict=True) if u],
                x[:, used], "pca_loadings")
    if x.shape[1] == 0:
        return z, names, np.zeros((0, z.shape[1])), genes, x, "none"
    xs = (x - x.mean(0)) / np.where(x.std(0) == 0, 1, x.std(0))
    zs = (z - z.mean(0)) / np.where(z.std(0) == 0, 1, z.std(0))
    return z, names, xs.T @ zs / len(z), genes, x, "correlation"


def _obsm_latent(adata, latent_key: str, path) -> np.ndarray:
    """``obsm[latent_key]`` as a finite 2-D float array (dense, DataFrame or sparse input)."""
    if latent_key not in adata.obsm:
        raise _missing("latent key (obsm)", latent_key, list(adata.obsm.keys()), path)
    value = adata.obsm[latent_key]
    value = value.toarray() if hasattr(value, "toarray") else value
    try:
        z = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"obsm[{latent_key!r}] is not numeric ({type(value).__name__})",
                         path=path) from None
    if z.ndim != 2 or z.shape[1] == 0:
        raise InputError(f"obsm[{latent_key!r}] has shape {z.shape}; expected (n_obs, dims)",
                         path=path)
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        first = [str(n) for n in np.asarray(adata.obs_names)[bad][:3]]
        raise InputError(f"obsm[{latent_key!r}] has NaN or infinite values in {int(bad.sum())} "
                         f"of {len(z)} rows (first: {', '.join(first)}); drop or impute them",
                         path=path)
    return z


def rotate_latent(z: np.ndarray, x: np.ndarray, names: list[str]
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Whiten + varimax an arbitrary latent using its least-squares linear decoder to ``x``.

    The decoder ``W`` (genes x dims) solves ``x - mean ~ (z - mean) W^T``; the rotation is the
    one :mod:`.rotation` fits for bio_mtl models. Returns the rotated latent, the rotated
    loadings (genes x dims') and names ``<name>_vmx<k>``.
    """
    from .rotation import fit_latent_rotation

    zc, xc = z - z.mean(0), x - x.mean(0)
    weight = np.linalg.lstsq(zc, xc, rcond=None)[0].T  # (g, k)
    rot = fit_latent_rotation(z, weight)
    prefix = names[0].rstrip("0123456789") if names else "dim"
    new = [f"{prefix}_vmx{i + 1}" for i in range(rot["matrix"].shape[1])]
    return (z - rot["mean"]) @ rot["matrix"], rot["loadings"], new


def load_gene_sets(gene_sets, genes: list[str], path, *, min_size: int = 1
                   ) -> dict[str, list[str]]:
    """The gene sets (``None`` = shipped, a GMT path or a mapping), checked against ``genes``.

    Parameters
    ----------
    gene_sets
        ``None`` (the shipped collection), a GMT path or ``{name: genes}``.
    genes
        The ranked genes of the data.
    path
        File name for error messages when ``gene_sets`` is not a path.
    min_size
        Smallest overlap a set needs to be tested.

    Returns
    -------
    dict
        ``{name: genes}`` (all sets; :func:`gsea_preranked` skips the small ones).

    Raises
    ------
    InputError
        No gene of any set is among ``genes`` (wrong species or identifiers), or no set has
        ``min_size`` of its genes among them (nothing could be tested).
    """
    if gene_sets is None:
        sets = default_gene_sets()
    elif isinstance(gene_sets, (str, os.PathLike)):
        sets = read_gmt(gene_sets)
    else:
        sets = {k: list(v) for k, v in dict(gene_sets).items()}
    where = Path(str(gene_sets)) if isinstance(gene_sets, (str, os.PathLike)) else path
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
    return sets


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
    import pandas as pd
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float), False


def _summary(res: dict, categorical: bool) -> str:
    if not categorical:
        return f"Spearman {res['spearman']:.3g}"
    if res.get("test") == "mann-whitney":
        return f"AUROC {res['auroc']:.3g} ({res['positive_level']})"
    lev = res.get("best_level")
    auc = res.get("level_auroc", {}).get(lev, math.nan)
    return f"eta2 {res['effect']:.3g}, best level {lev} (AUROC {auc:.3g})"


def associate_all(z, names, obs, covariates, batch_key, *, n_permutations, seed) -> list[dict]:
    """One record per (dimension, covariate) test, batch included; q-values added."""
    rng = np.random.default_rng(seed)
    rows = []
    tested = [*covariates, *([batch_key] if batch_key else [])]
    for k, dim in enumerate(names):
        for cov in tested:
            series = obs[cov]
            categorical = is_categorical(series)
            if categorical:
                labels = np.asarray(series.astype(object).where(series.notna(), None))
                res = categorical_association(z[:, k], labels)
            else:
                values = _encode(series)[0]
                res = continuous_association(z[:, k], values, n_permutations=n_permutations,
                                             rng=rng)
            rows.append({"dimension": dim, "covariate": cov, "is_batch": cov == batch_key,
                         "kind": "categorical" if categorical else "continuous",
                         "summary": _summary(res, categorical) if res["p"] == res["p"] else "",
                         **{k2: v for k2, v in res.items() if k2 != "level_auroc"},
                         "level_auroc": res.get("level_auroc")})
    q = benjamini_hochberg(np.array([r["p"] for r in rows], dtype=float))
    for r, qv in zip(rows, q, strict=True):
        r["q"] = float(qv)
    return rows


def conditional_tests(z, names, obs, outcomes, confounders) -> dict[str, dict[str, dict]]:
    """``{dimension: {outcome: LRT record}}`` of ``outcome ~ confounders + z_k``.

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


def classify_all(names, rows, cond, enrich, *, batch_key, confounders, rules):
    """Labels and evidence per dimension."""
    labels = {}
    for dim in names:
        mine = [r for r in rows if r["dimension"] == dim]
        assoc = {r["covariate"]: r for r in mine if not r["is_batch"]
                 and r["effect"] == r["effect"] and r["q"] == r["q"]}
        batch = [r["effect"] for r in mine if r["is_batch"]]
        top = enrich.get(dim, [])
        labels[dim] = classify_dimension(
            assoc, batch_key=batch_key, batch_eta2=batch[0] if batch else math.nan,
            conditional=cond[dim], confounders=list(confounders),
            top_pathway=top[0] if top else None, rules=rules)
    return labels


def enrich_all(loadings, genes, names, sets, *, n_permutations, seed,
               min_size: int = 5) -> dict[str, list[dict]]:
    """GSEA records per dimension (best first)."""
    return {dim: gsea_preranked(loadings[:, k], genes, sets, n_permutations=n_permutations,
                                min_size=min_size, seed=seed + k)
            for k, dim in enumerate(names)}


def batch_eta2_max(z: np.ndarray, batch) -> float:
    """Largest per-dimension batch ``eta**2`` of a latent (the headline of batch removal)."""
    labels = np.asarray(batch).astype(str)
    return float(max(eta_squared(z[:, k], labels) for k in range(z.shape[1])))
