"""Dissecting an expression model: its rotated latent of an AnnData, genes from its decoder.

The model re-embeds the samples with its recorded preprocessing
(:meth:`~bio_mtl.expression.ExpressionModel.transform`); the latent goes to
``obsm["X_expression"]`` (a DataFrame with columns ``z1``, ``z2``...), and the decoder's
loadings on the rotated axes (:meth:`~bio_mtl.expression.ExpressionModel.gene_loadings`) rank
the genes of each dimension, with the model's standardised HVG expression for variance
explained. The AnnData is the caller's: nothing new is built, so a report does not save it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ...errors import ConfigError
from ...expression.io import read_h5ad
from ...expression.model import ExpressionModel
from ...mtl.estimator import load_estimator
from ..latent import GeneAttribution, LatentSource, describe_model

__all__ = ["LATENT_KEY", "expression_source"]

#: The ``obsm`` key of the model's latent.
LATENT_KEY = "X_expression"


def expression_source(model, data: Sequence, *, n_components: int = 10, seed: int = 0,
                      path: object = None) -> LatentSource:
    """Adapter for an expression model (see :mod:`bio_mtl.dissect.adapters`).

    Parameters
    ----------
    model
        An :class:`~bio_mtl.expression.ExpressionModel` or its checkpoint folder.
    data
        One ``.h5ad`` file or AnnData (counts, or log-normalised values for a model trained
        on them). An AnnData is annotated in place.
    n_components, seed
        Unused (the model's latent is already rotated; nothing is random).
    path
        File name for error messages about an in-memory AnnData.

    Returns
    -------
    LatentSource
        ``obsm["X_expression"]`` with the decoder's gene attribution; no default covariates.

    Raises
    ------
    ConfigError
        Not exactly one input.
    InputError
        A file without counts for a model trained on counts, or without any model gene.
    """
    del n_components, seed
    if len(data) != 1:
        raise ConfigError(f"an expression model takes one --data .h5ad file, got {len(data)}")
    adata = data[0]
    if isinstance(adata, (str, os.PathLike)):
        adata, path = read_h5ad(adata), adata
    est = model if isinstance(model, ExpressionModel) else \
        load_estimator(model, kind=ExpressionModel.kind)
    z, x, _ = est.transform(adata, path=path)
    names = [f"z{i + 1}" for i in range(z.shape[1])]
    adata.obsm[LATENT_KEY] = pd.DataFrame(z, index=adata.obs_names, columns=names)
    genes = GeneAttribution(est.gene_loadings(), est.genes_, x.astype(np.float64), "decoder")
    return LatentSource(adata, LATENT_KEY, [LATENT_KEY], attribution=genes, gene_sets=True,
                        derived=False, model=describe_model(model))
