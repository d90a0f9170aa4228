"""The :func:`dissect` pipeline (scanpy-style: AnnData in, ``uns`` out).

It resolves the latent (an ``obsm`` key, or a model through the adapter of its checkpoint
kind), runs the per-step statistics of :mod:`.steps` in order, and assembles the
:class:`~bio_mtl.dissect.result.DissectionResult`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError, InputError
from . import scib, steps
from .adapters import model_anndata
from .classify import DissectRules
from .enrichment import COLLECTIONS, DEFAULT_COLLECTION
from .latent import ATTRIBUTIONS, LatentSource, attribute_genes, latent_dims, rotate_latent
from .metrics import batch_mixing, silhouette_batch
from .result import DissectionResult, dimension_table, flat_tables, h5ad_safe

__all__ = ["dissect"]

ROTATIONS = ("none", "varimax")


def _validate(adata, covariates, confounders, batch_key, path, label_key=None) -> None:
    available = list(map(str, adata.obs.columns))
    for name in [*covariates, *([batch_key] if batch_key else []),
                 *([label_key] if label_key else [])]:
        if name not in adata.obs.columns:
            kind = {batch_key: "batch key", label_key: "label key"}.get(name, "covariate")
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
            label_key: str | None = None, max_dims: int | None = None,
            gene_attribution: str = "auto", min_set_size: int = 5, rotate: str = "none",
            n_permutations: int = 0, n_gsea_permutations: int = 1000,
            max_gsea_permutations: int = 100_000, n_bootstrap: int = 200,
            scib_metrics: bool | None = None, rules: DissectRules | None = None, seed: int = 0,
            key_added: str = "biomtl_dissect", copy: bool = False, path: object = None):
    """Report what each latent dimension tracks: confounder, mechanism, nuisance or unexplained.

    Parameters
    ----------
    adata
        Samples x genes (an AnnData), or the
        :class:`~bio_mtl.dissect.latent.LatentSource` that
        :func:`~bio_mtl.dissect.model_anndata` built for a model (its AnnData, default
        ``obsm`` key and gene attribution are used). With ``model``, the AnnData's counts
        (or log-normalised values) are re-embedded with the model's recorded preprocessing;
        with ``latent_key``, ``adata.obsm[latent_key]`` is dissected as it is.
    latent_key
        ``obsm`` key of an existing embedding (``"X_pca"``, ``"X_scVI"``...).
    model
        A model whose adapter embeds ``adata``: an
        :class:`~bio_mtl.expression.ExpressionModel`, its checkpoint folder or a shipped
        name. Its latent is written to ``adata.obsm["X_expression"]`` (columns ``z1``...).
    covariates
        ``obs`` columns to test each dimension against (categorical: non-numeric, boolean, or
        two-valued numeric; otherwise continuous).
    confounders
        Covariates that play the confounder role (e.g. ``["age"]``); the others are outcomes.
    batch_key
        ``obs`` column of the technical batch.
    gene_sets
        GMT path, a shipped collection's name (``"hallmark_v7.0"``, ``"curated_v2"``),
        ``{name: genes}``, ``None`` (or ``True``) for MSigDB Hallmark v7.0, or ``False`` to
        skip enrichment (e.g. a latent of clinical or genotype features). Renamed symbols
        are matched through the shipped alias table.
    label_key
        ``obs`` column of the cell types, for the scIB metrics that stratify by them.
    max_dims
        Dissect only the first ``max_dims`` dimensions.
    gene_attribution
        ``"auto"``: the model's decoder for a model's own latent, else the correlation of
        every gene of ``adata.raw`` (or ``X`` without ``raw``) with each dimension;
        ``"correlation"``: that correlation, also for a model's latent; ``"loadings"``: the
        PCA loadings of ``X_pca`` (only the genes the PCA used, e.g. the HVGs). The source
        and the number of ranked genes are recorded (``params["gene_attribution"]``,
        ``params["n_genes_ranked"]``).
    min_set_size
        Gene sets with fewer genes among the ranked genes are not tested.
    rotate
        ``"varimax"``: whiten and varimax-rotate the given latent (e.g. a PCA) through its
        least-squares linear decoder to ``X`` before dissecting; genes are then attributed by
        the rotated decoder weights. ``"none"`` (default) dissects the axes as they are (an
        expression model's latent is already rotated when it was trained with varimax).
    n_permutations
        Permutations for the correlation p-values (0 = analytic).
    n_gsea_permutations
        Gene-set permutations drawn first for every set size.
    max_gsea_permutations
        Most permutations per set size: a set with fewer than 10 null scores as extreme as
        its own gets them doubled up to this number (resolution ``1 / max``).
    n_bootstrap
        Resamples of the bootstrap confidence interval of every signed effect (0 = none).
    scib_metrics
        Compute the scIB batch metrics with scib-metrics (needs ``batch_key``); ``None``:
        when scib-metrics is installed.
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
        [key_added]`` receives ``params`` (including the dissected ``latent_key`` and the
        ``model``), ``dimensions``, ``associations``, ``enrichment`` (DataFrames) and
        ``batch_mixing``.

    Raises
    ------
    InputError
        A covariate, batch key or latent key that is missing (the message lists what is
        available), gene sets that match none of the genes (or none with ``min_set_size``
        genes), a file without counts for a model.
    ConfigError
        Neither or both of ``latent_key`` and ``model``, an unknown rotation or attribution.

    References
    ----------
    Subramanian A, et al. PNAS 2005 (GSEA). Argelaguet R, et al. MOFA+. Genome Biol 2020.
    Luecken MD, et al. scIB. Nat Methods 2022. Korsunsky I, et al. LISI. Nat Methods 2019.
    """
    rules = rules or DissectRules()
    covariates, confounders = list(covariates), list(confounders)
    source = adata if isinstance(adata, LatentSource) else None
    samples = source.adata if source is not None else adata
    _validate(samples, covariates, confounders, batch_key, path, label_key)
    _check_choices(rotate, gene_attribution, latent_key, model, source)
    if copy:
        samples = samples.copy()
        source = dataclasses.replace(source, adata=samples) if source is not None else None
    if model is not None:  # the adapter of the model's kind embeds the samples
        source = model_anndata(model, [samples], path=path)
    latent_key = latent_key or source.latent_key
    z, names, loadings, genes, x, how = _latent(samples, source, latent_key, max_dims,
                                                gene_attribution, rotate, path)
    sets, renamed = _gene_sets(gene_sets, genes, min_set_size, path)
    params = {"latent_key": latent_key, "model": source.model if source else None,
              "covariates": covariates, "confounders": confounders, "batch_key": batch_key,
              "label_key": label_key, "gene_sets": _describe_gene_sets(gene_sets),
              "gene_attribution": how, "n_genes_ranked": len(genes),
              "gene_set_alias_matches": renamed, "min_set_size": min_set_size,
              "rotate": rotate, "n_permutations": n_permutations,
              "enrichment_test": "GSEA preranked, adaptive gene-set permutations",
              "n_gsea_permutations": n_gsea_permutations,
              "max_gsea_permutations": max_gsea_permutations, "n_bootstrap": n_bootstrap,
              "scib_metrics": _want_scib(scib_metrics, batch_key), "seed": seed,
              "rules": dict(rules.__dict__), "n_obs": int(samples.n_obs), "n_dims": len(names)}
    result = _run(samples, z, names, loadings, genes, x, params, rules=rules, gene_sets=sets,
                  path=path)
    samples.uns[key_added] = {
        "params": h5ad_safe(params), "dimensions": h5ad_safe(result.dimensions),
        "associations": h5ad_safe(result.associations),
        "enrichment": h5ad_safe(result.enrichment), "batch_mixing": result.batch_mixing}
    return (samples, result) if copy else result


def _check_choices(rotate, attribution, latent_key, model, source) -> None:
    """Refuse unknown rotations / attributions and a latent given twice or not at all."""
    if rotate not in ROTATIONS:
        raise ConfigError(f"unknown rotation {rotate!r}; choose {' or '.join(ROTATIONS)}")
    if attribution not in ATTRIBUTIONS:
        raise ConfigError(f"unknown gene attribution {attribution!r}; choose "
                          f"{' or '.join(ATTRIBUTIONS)}")
    if source is not None and model is not None:
        raise ConfigError("a LatentSource already holds its model's latent; drop model=")
    if source is None and (latent_key is None) == (model is None):
        raise ConfigError("give exactly one of latent_key (an obsm key) or model")


def _run(adata, z, names, loadings, genes, x, params, *, rules, gene_sets, path
         ) -> DissectionResult:
    """Every per-dimension step on a resolved latent; the assembled result."""
    covariates, confounders = params["covariates"], params["confounders"]
    batch_key, seed = params["batch_key"], params["seed"]
    rows = steps.associate_all(z, names, adata.obs, covariates=covariates, batch_key=batch_key,
                               n_permutations=params["n_permutations"], seed=seed,
                               n_bootstrap=params["n_bootstrap"])
    outcomes = [c for c in covariates if c not in confounders]
    cond = steps.conditional_tests(z, names, adata.obs, outcomes=outcomes,
                                   confounders=confounders)
    enrich = steps.enrich_all(loadings, genes, names, sets=gene_sets,
                              n_permutations=params["n_gsea_permutations"], seed=seed,
                              min_size=params["min_set_size"],
                              max_permutations=params["max_gsea_permutations"])
    labels = steps.classify_all(names, rows, cond, enrich=enrich, batch_key=batch_key,
                                confounders=confounders, rules=rules)
    r2 = steps.variance_explained(x, z) if x.shape[1] == loadings.shape[0] > 0 else \
        np.full(len(names), np.nan)
    mixing, batch_sil = _batch_metrics(adata, z, batch_key, seed, label_key=params["label_key"],
                                       scib_metrics=params["scib_metrics"])
    assoc, enr = flat_tables(rows, cond, enrich)
    dims = dimension_table(names, rows, cond=cond, enrich=enrich, labels=labels,
                           loadings=loadings, genes=genes, r2=r2, rules=rules)
    dims.insert(dims.columns.get_loc("batch_q") + 1, "batch_silhouette", batch_sil)
    values = {c: adata.obs[c].to_numpy() for c in covariates + ([batch_key] if batch_key else [])}
    levels = steps.level_tables(z, names, adata.obs, covariates=covariates)
    embedding, embedding_source = _embedding(adata, z)
    return DissectionResult(dims, assoc, enr, z, loadings, genes, mixing, params, values,
                            level_tables=levels, embedding=embedding,
                            embedding_source=embedding_source, gene_sets=gene_sets)


def _latent(adata, source, latent_key, max_dims, attribution, rotate, path):
    """The latent, its names and gene attribution, varimax-rotated when asked."""
    z, names = latent_dims(adata, latent_key, max_dims=max_dims, path=path)
    own = source.attribution if source is not None and latent_key == source.latent_key \
        and attribution != "correlation" else None
    if own is not None:  # the model's own gene scores (a decoder)
        loadings, genes, x, how = (own.loadings[:, :max_dims], list(own.genes),
                                   own.expression, own.source)
    else:
        loadings, genes, x, how = attribute_genes(adata, latent_key, z,
                                                  attribution=attribution, path=path)
    if rotate == "varimax":
        if x.shape[1] == 0:
            raise ConfigError("rotate='varimax' needs expression in X to fit the loadings")
        z, loadings, names = rotate_latent(z, x, names)
        how = "rotated_decoder"
    return z, names, loadings, genes, x, how


def _gene_sets(gene_sets, genes, min_set_size, path) -> tuple[dict[str, list[str]], int]:
    """The gene sets to test (``{}`` when enrichment is off or there are no genes)."""
    gene_sets = None if gene_sets is True else gene_sets
    if gene_sets is False or (not genes and gene_sets is None):
        return {}, 0
    if not genes:
        raise InputError("gene sets were given but the data has no genes to rank (X is empty "
                         "or has no columns); drop the gene sets (--no-enrichment)", path=path)
    return steps.load_gene_sets(gene_sets, genes, path, min_size=min_set_size)


def _want_scib(scib_metrics, batch_key) -> bool:
    """Whether to run scib-metrics: asked for (and installed), or by default when installed."""
    if batch_key is None or scib_metrics is False:
        return False
    if scib_metrics and not scib.available():
        raise ConfigError("scib_metrics=True needs the scib-metrics package: "
                          "pip install 'bio-mtl[scib]'")
    return scib.available()


def _batch_metrics(adata, z, batch_key, seed, *, label_key=None, scib_metrics=False
                   ) -> tuple[dict, list[float]]:
    """Whole-latent batch mixing and the per-dimension batch silhouette (NaN batch dropped)."""
    if batch_key is None:
        return {}, [np.nan] * z.shape[1]
    ok = adata.obs[batch_key].notna().to_numpy()
    labels = adata.obs[batch_key].to_numpy()[ok]
    mixing = {**batch_mixing(z[ok], labels, seed=seed),
              "batch_eta2_max": steps.batch_eta2_max(z[ok], adata.obs[batch_key][ok])}
    if scib_metrics:
        cells = adata.obs[label_key].to_numpy()[ok] if label_key else None
        mixing.update(scib.scib_batch_metrics(z[ok], labels, cells))
    return mixing, [silhouette_batch(z[ok, k], labels, seed=seed) for k in range(z.shape[1])]


def _embedding(adata, z) -> tuple[np.ndarray, str]:
    """2-D coordinates for the report: the data's ``X_umap``, else the latent's first 2 PCs."""
    if "X_umap" in adata.obsm and np.shape(adata.obsm["X_umap"])[1] >= 2:
        umap = np.asarray(adata.obsm["X_umap"], dtype=float)[:, :2]
        if np.isfinite(umap).all():
            return umap, "X_umap"
    zc = z - z.mean(0)
    if z.shape[1] < 2:
        return np.column_stack([zc[:, 0], np.zeros(len(z))]), "latent"
    u, s, _ = np.linalg.svd(zc, full_matrices=False)
    return u[:, :2] * s[:2], "PCA of the latent"


def _describe_gene_sets(gene_sets) -> str:
    if gene_sets is None or gene_sets is True:
        return f"shipped:{DEFAULT_COLLECTION}"
    if gene_sets is False:
        return "none"
    if isinstance(gene_sets, str) and gene_sets in COLLECTIONS:
        return f"shipped:{gene_sets}"
    return str(gene_sets) if isinstance(gene_sets, (str, os.PathLike)) else "user mapping"
