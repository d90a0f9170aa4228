"""The public :func:`dissect` entry point (scanpy-style: AnnData in, ``uns`` out)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError, InputError
from . import _core
from .classify import DissectRules

__all__ = ["dissect"]


def _validate(adata, covariates, confounders, batch_key, path) -> None:
    available = list(map(str, adata.obs.columns))
    for name in [*covariates, *([batch_key] if batch_key else [])]:
        if name not in adata.obs.columns:
            kind = "batch key" if name == batch_key else "covariate"
            raise InputError(f"{kind} {name!r} is not a column of obs; available columns: "
                             f"{', '.join(available) or 'none'}", path=path)
    for name in confounders:
        if name not in covariates:
            raise ConfigError(f"confounder {name!r} must also be given as a covariate "
                              f"(covariates: {', '.join(covariates) or 'none'})")
    if not covariates:
        raise ConfigError("give at least one covariate (an obs column) to dissect against")


def dissect(adata, *, latent_key: str | None = None, model=None,
            covariates: Sequence[str] = (), confounders: Sequence[str] = (),
            batch_key: str | None = None,
            gene_sets: str | os.PathLike | Mapping[str, Sequence[str]] | bool | None = None,
            max_dims: int | None = None, gene_attribution: str = "auto",
            min_set_size: int = 5, rotate: str = "none", n_permutations: int = 0,
            n_gsea_permutations: int = 1000, rules: DissectRules | None = None, seed: int = 0,
            key_added: str = "biomtl_dissect", copy: bool = False, path: object = None):
    """Report what each latent dimension tracks: confounder, mechanism, nuisance or unexplained.

    Parameters
    ----------
    adata
        Samples x genes. With ``model``, its counts (or log-normalised values) are re-embedded
        with the model's recorded preprocessing; with ``latent_key``, ``adata.obsm[latent_key]``
        is dissected as it is.
    latent_key
        ``obsm`` key of an existing embedding (``"X_pca"``, ``"X_scVI"``...).
    model
        An :class:`~bio_mtl.dissect.expression.ExpressionModel` or its checkpoint directory.
    covariates
        ``obs`` columns to test each dimension against (categorical: non-numeric, boolean, or
        two-valued numeric; otherwise continuous).
    confounders
        Covariates that play the confounder role (e.g. ``["age"]``); the others are outcomes.
    batch_key
        ``obs`` column of the technical batch.
    gene_sets
        GMT path, ``{name: genes}``, ``None`` (or ``True``) for the shipped curated
        collection, or ``False`` to skip enrichment (e.g. a latent of clinical or genotype
        features).
    max_dims
        Dissect only the first ``max_dims`` dimensions.
    gene_attribution
        ``"auto"`` (decoder loadings for a model, ``varm["PCs"]`` for ``X_pca``, else the
        correlation of each gene with the dimension) or ``"correlation"`` (always).
    min_set_size
        Gene sets with fewer genes among the ranked genes are not tested.
    rotate
        ``"varimax"``: whiten and varimax-rotate the given latent (e.g. a PCA) through its
        least-squares linear decoder to ``X`` before dissecting; genes are then attributed by
        the rotated decoder weights. ``"none"`` (default) dissects the axes as they are (a
        bio_mtl model's latent is already rotated when it was trained with varimax).
    n_permutations
        Permutations for the correlation p-values (0 = analytic).
    n_gsea_permutations
        Gene-set permutations for GSEA.
    rules
        Thresholds of the labelling rule (:class:`~bio_mtl.dissect.classify.DissectRules`).
    seed
        Seed of every permutation.
    key_added
        ``adata.uns`` key of the results.
    copy
        Work on (and return) a copy of ``adata`` instead of modifying it.
    path
        File name for error messages.

    Returns
    -------
    DissectionResult or (AnnData, DissectionResult)
        The result; with ``copy=True``, the annotated copy and the result. ``adata.uns
        [key_added]`` receives ``params``, ``dimensions``, ``associations``, ``enrichment``
        (DataFrames) and ``batch_mixing``.

    Raises
    ------
    InputError
        A covariate, batch key or latent key that is missing (the message lists what is
        available), gene sets that match none of the genes (or none with ``min_set_size``
        genes), a file without counts for a model.

    References
    ----------
    Subramanian A, et al. PNAS 2005 (GSEA). Argelaguet R, et al. MOFA+. Genome Biol 2020.
    Luecken MD, et al. scIB. Nat Methods 2022. Korsunsky I, et al. LISI. Nat Methods 2019.
    """
    rules = rules or DissectRules()
    covariates, confounders = list(covariates), list(confounders)
    _validate(adata, covariates, confounders, batch_key, path)
    if rotate not in ("none", "varimax"):
        raise ConfigError(f"unknown rotation {rotate!r}; choose none or varimax")
    if copy:
        adata = adata.copy()
    z, names, loadings, genes, x, source = _latent(adata, latent_key, model, max_dims,
                                                   gene_attribution, rotate, path)
    sets = _gene_sets(gene_sets, genes, min_set_size, path)
    rows = _core.associate_all(z, names, adata.obs, covariates, batch_key,
                               n_permutations=n_permutations, seed=seed)
    outcomes = [c for c in covariates if c not in confounders]
    cond = _core.conditional_tests(z, names, adata.obs, outcomes, confounders)
    enrich = _core.enrich_all(loadings, genes, names, sets, n_permutations=n_gsea_permutations,
                              seed=seed, min_size=min_set_size)
    labels = _core.classify_all(names, rows, cond, enrich, batch_key=batch_key,
                                confounders=confounders, rules=rules)
    r2 = _core.variance_explained(x, z) if x.shape[1] == loadings.shape[0] > 0 else \
        np.full(len(names), np.nan)
    mixing, batch_sil = _batch_metrics(adata, z, batch_key, seed)
    assoc, enr = _flat_tables(rows, cond, enrich)
    dims = _dimension_table(names, rows, cond, enrich, labels, loadings, genes, r2, rules)
    dims.insert(dims.columns.get_loc("batch_q") + 1, "batch_silhouette", batch_sil)
    params = {"latent_key": latent_key, "model": _describe_model(model),
              "covariates": covariates, "confounders": confounders, "batch_key": batch_key,
              "gene_sets": _describe_gene_sets(gene_sets), "gene_attribution": source,
              "min_set_size": min_set_size, "rotate": rotate, "n_permutations": n_permutations,
              "n_gsea_permutations": n_gsea_permutations, "seed": seed,
              "rules": dict(rules.__dict__), "n_obs": int(adata.n_obs), "n_dims": len(names)}
    result = _core.DissectionResult(dims, assoc, enr, z, loadings, genes, mixing, params,
                                    {c: adata.obs[c].to_numpy() for c in covariates
                                     + ([batch_key] if batch_key else [])})
    adata.uns[key_added] = {"params": _h5ad_safe(params), "dimensions": _h5ad_safe(dims),
                            "associations": _h5ad_safe(assoc), "enrichment": _h5ad_safe(enr),
                            "batch_mixing": mixing}
    return (adata, result) if copy else result


def _latent(adata, latent_key, model, max_dims, attribution, rotate, path):
    """The latent and its gene attribution, varimax-rotated when asked."""
    z, names, loadings, genes, x, source = _core.latent_from_adata(
        adata, latent_key=latent_key, model=model, max_dims=max_dims,
        attribution=attribution, path=path)
    if rotate == "varimax":
        if x.shape[1] == 0:
            raise ConfigError("rotate='varimax' needs expression in X to fit the loadings")
        z, loadings, names = _core.rotate_latent(z, x, names)
        source = "rotated_decoder"
    return z, names, loadings, genes, x, source


def _gene_sets(gene_sets, genes, min_set_size, path) -> dict[str, list[str]]:
    """The gene sets to test (``{}`` when enrichment is off or there are no genes)."""
    gene_sets = None if gene_sets is True else gene_sets
    if gene_sets is False or (not genes and gene_sets is None):
        return {}
    if not genes:
        raise InputError("gene sets were given but the data has no genes to rank (X is empty "
                         "or has no columns); drop the gene sets (--no-enrichment)", path=path)
    return _core.load_gene_sets(gene_sets, genes, path, min_size=min_set_size)


def _batch_metrics(adata, z, batch_key, seed) -> tuple[dict, list[float]]:
    """Whole-latent batch mixing and the per-dimension batch silhouette (NaN batch dropped)."""
    if batch_key is None:
        return {}, [np.nan] * z.shape[1]
    from .metrics import batch_mixing, silhouette_batch

    ok = adata.obs[batch_key].notna().to_numpy()
    labels = adata.obs[batch_key].to_numpy()[ok]
    mixing = {**batch_mixing(z[ok], labels, seed=seed),
              "batch_eta2_max": _core.batch_eta2_max(z[ok], adata.obs[batch_key][ok])}
    return mixing, [silhouette_batch(z[ok, k], labels, seed=seed) for k in range(z.shape[1])]


def _flat_tables(rows, cond, enrich):
    """The association and enrichment DataFrames (conditional LRT joined, lists as text)."""
    import pandas as pd

    for r in rows:
        r["conditional_p"] = cond[r["dimension"]].get(r["covariate"], {}).get("p", np.nan)
        r["conditional_q"] = cond[r["dimension"]].get(r["covariate"], {}).get("q", np.nan)
        r["level_auroc"] = None if r["level_auroc"] is None else \
            "; ".join(f"{k}={v:.3f}" for k, v in r["level_auroc"].items())
    enr = pd.DataFrame([{"dimension": d, **{k: v for k, v in rec.items() if k != "leading_edge"},
                         "leading_edge": ",".join(rec["leading_edge"])}
                        for d, recs in enrich.items() for rec in recs])
    return pd.DataFrame(rows), enr


def _describe_model(model) -> str | None:
    if model is None:
        return None
    return str(model) if isinstance(model, (str, os.PathLike)) else "ExpressionModel"


def _describe_gene_sets(gene_sets) -> str:
    if gene_sets is None or gene_sets is True:
        return "shipped:curated_v1"
    if gene_sets is False:
        return "none"
    return str(gene_sets) if isinstance(gene_sets, (str, os.PathLike)) else "user mapping"


def _h5ad_safe(obj):
    """A copy that ``write_h5ad`` accepts: object columns as strings, ``None`` values dropped."""
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        out = obj.copy()
        for col in out.columns:
            if out[col].dtype == object:
                out[col] = out[col].map(lambda v: "" if v is None or v != v else str(v))
        return out
    if isinstance(obj, dict):
        return {k: _h5ad_safe(v) for k, v in obj.items() if v is not None}
    return obj


def _dimension_table(names, rows, cond, enrich, labels, loadings, genes, r2, rules):
    import pandas as pd

    table = []
    for k, dim in enumerate(names):
        mine = [r for r in rows if r["dimension"] == dim and not r["is_batch"]
                and r["effect"] == r["effect"]]
        sig = [r for r in mine if r["q"] < rules.alpha and r["effect"] >= rules.min_effect]
        best = max(sig or mine, key=lambda r: r["effect"]) if mine else None  # S first
        batch = [r for r in rows if r["dimension"] == dim and r["is_batch"]]
        top = enrich[dim][0] if enrich[dim] else None
        order = np.argsort(-loadings[:, k])
        cps = {o: rec["p"] for o, rec in cond[dim].items()}
        best_cond = min(cps, key=lambda o: cps[o] if cps[o] == cps[o] else 2.0) if cps else None
        table.append({
            "dimension": dim, "label": labels[dim][0],
            "best_covariate": best["covariate"] if best else None,
            "best_statistic": best["summary"] if best else None,
            "best_effect": best["effect"] if best else np.nan,
            "best_q": best["q"] if best else np.nan,
            "batch_eta2": batch[0]["effect"] if batch else np.nan,
            "batch_q": batch[0]["q"] if batch else np.nan,
            "conditional_outcome": best_cond,
            "conditional_p": cps.get(best_cond, np.nan) if best_cond else np.nan,
            "conditional_q": cond[dim][best_cond].get("q", np.nan) if best_cond else np.nan,
            "top_pathway": top["name"] if top else None,
            "top_pathway_nes": top["nes"] if top else np.nan,
            "top_pathway_q": top["q"] if top else np.nan,
            "variance_explained": float(r2[k]),
            "top_genes_up": ",".join(genes[i] for i in order[:10]),
            "top_genes_down": ",".join(genes[i] for i in order[::-1][:10]),
            "evidence": labels[dim][1],
        })
    return pd.DataFrame(table)
