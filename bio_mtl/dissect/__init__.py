"""Latent dissection: what does each dimension of a learned latent space track?

For every dimension: associations with covariates (Spearman/Pearson, AUROC, Kruskal-Wallis,
eta^2, BH q-values), batch eta^2, a conditional likelihood-ratio test that separates confounders
from mechanisms, gene attribution, signed preranked GSEA against a GMT, variance explained, and a
label (``confounder:<covariate>``, ``mechanism:<pathway>``, ``nuisance:<batch>``,
``tracks:<covariate>`` or ``unexplained``) with its evidence. Structure and dosing models are
dissected through adapters that build the AnnData (:func:`structure_anndata`,
:func:`dose_anndata`, :func:`model_anndata`). Submodules are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DissectRules", "DissectionResult", "ExpressionConfig", "ExpressionModel",
           "default_gene_sets", "dissect", "dose_anndata", "gsea_preranked", "kbet",
           "model_anndata", "pooled_structure_latent", "read_gmt", "simulate_expression",
           "structure_anndata", "write_report"]

_LAZY = {
    "dissect": "._dissect",
    "DissectionResult": "._core",
    "DissectRules": ".classify",
    "ExpressionConfig": ".expression",
    "ExpressionModel": ".expression",
    "default_gene_sets": ".enrichment",
    "gsea_preranked": ".enrichment",
    "read_gmt": ".enrichment",
    "simulate_expression": ".simulate",
    "write_report": ".report",
    "structure_anndata": ".protein",
    "pooled_structure_latent": ".protein",
    "dose_anndata": ".dose",
    "model_anndata": ".adapters",
    "kbet": ".metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'bio_mtl.dissect' has no attribute {name!r}")
