"""Latent dissection: what does each dimension of a learned latent space track?

For every dimension: associations with covariates (one signed rank statistic each: Spearman's
rho, Mann-Whitney, Kruskal-Wallis rank eta^2; bootstrap intervals; BH q-values), batch eta^2, a
conditional likelihood-ratio test that separates confounders from mechanisms, gene attribution
over every gene of ``raw``, signed preranked GSEA with adaptive permutations against MSigDB
Hallmark v7.0 (or any GMT), variance explained, and a label (``confounder:<covariate>``,
``mechanism:<pathway>``, ``nuisance:<batch>``, ``tracks:<covariate>`` or ``unexplained``) with
its evidence. Batch mixing reports scIB's metrics through scib-metrics (:mod:`.scib`) apart
from bio_mtl's own (:mod:`.metrics`).

The latent is an ``obsm`` embedding, or comes from a model through the adapter of its
checkpoint kind (:func:`model_anndata`; expression, structure and dosing models):
:mod:`.pipeline` runs the steps of :mod:`.steps` on it and :mod:`.report` writes the report.
Submodules are imported lazily.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = ["DissectRules", "DissectionResult", "ExpressionConfig", "ExpressionModel",
           "LatentSource", "default_gene_sets", "dissect", "dose_anndata", "gsea_preranked",
           "kbet", "model_anndata", "pooled_structure_latent", "read_gmt",
           "simulate_expression", "structure_anndata", "write_report"]

_LAZY = {
    "dissect": ".pipeline",
    "DissectionResult": ".result",
    "DissectRules": ".classify",
    "LatentSource": ".latent",
    "model_anndata": ".adapters",
    "structure_anndata": ".adapters.structure",
    "pooled_structure_latent": ".adapters.structure",
    "dose_anndata": ".adapters.dosing",
    "default_gene_sets": ".enrichment",
    "gsea_preranked": ".enrichment",
    "read_gmt": ".enrichment",
    "simulate_expression": ".simulate",
    "write_report": ".report",
    "kbet": ".metrics",
    # the expression application lives in bio_mtl.expression; re-exported for old callers
    "ExpressionConfig": "..expression.config",
    "ExpressionModel": "..expression.model",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
