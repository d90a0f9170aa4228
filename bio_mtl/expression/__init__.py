"""Multi-task models of gene expression: AnnData in, a labelled and interpretable latent out.

An :class:`ExpressionModel` reads counts (or log-normalised values) from an AnnData, records
its scanpy preprocessing (normalize_total, log1p, highly variable genes), and trains one
encoder with a head per labelled ``obs`` column, a linear decoder back to the genes and,
optionally, a gradient-reversal batch adversary. Its varimax-rotated latent is what
:func:`bio_mtl.dissect.dissect` labels dimension by dimension. ``biomtl train-expression`` is
the command line. Submodules are imported lazily.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = ["ExpressionConfig", "ExpressionEncoder", "ExpressionEncoderConfig",
           "ExpressionModel", "apply_preprocessing", "build_network", "detect_input",
           "fit_latent_rotation", "fit_preprocessing", "read_h5ad", "varimax"]

_LAZY = {
    "ExpressionConfig": ".config",
    "ExpressionModel": ".model",
    "ExpressionEncoder": ".network",
    "ExpressionEncoderConfig": ".network",
    "build_network": ".network",
    "apply_preprocessing": ".preprocess",
    "detect_input": ".preprocess",
    "fit_preprocessing": ".preprocess",
    "fit_latent_rotation": ".rotation",
    "varimax": ".rotation",
    "read_h5ad": ".io",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
