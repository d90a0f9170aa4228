"""Protein secondary structure (DSSP 3- and 8-state) and relative solvent accessibility.

The public names are loaded lazily so ``import bio_mtl`` stays light (no torch at import time).
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = ["StructureDataConfig", "StructureEnsembleModel", "StructureModel",
           "StructureModelConfig", "StructurePrediction", "build_structure_model",
           "iter_predictions", "load_model", "parse_sequences", "predict_structure", "q3", "q8",
           "read_chains", "read_sequences", "rsa_mae", "rsa_pearson", "sov", "write_predictions"]

_WHERE = {
    "StructureModelConfig": "model", "build_structure_model": "model",
    "StructureModel": "estimator", "StructureEnsembleModel": "estimator",
    "StructureDataConfig": "train", "StructurePrediction": "results", "load_model": "pretrained",
    "predict_structure": "predict", "iter_predictions": "predict",
    "parse_sequences": "io", "q3": "metrics", "q8": "metrics", "sov": "metrics",
    "rsa_mae": "metrics", "rsa_pearson": "metrics", "read_chains": "data",
    "read_sequences": "io", "write_predictions": "io",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
