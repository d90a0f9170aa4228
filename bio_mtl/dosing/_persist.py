"""Saving and loading a fitted :class:`~bio_mtl.dosing.model.DosingModel` (safetensors + JSON)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .features import CLINICAL_FEATURES, COMED_FEATURES, GENETIC_FEATURES

__all__: list[str] = []


def save_dosing_model(model, directory: str | os.PathLike, **metadata) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (kind ``"dosing"``) for a fitted model."""
    from ..mtl.checkpoint import save_checkpoint

    config = {"params": model.get_params(), "drugs": model.drugs_,
              "untrained_genes": list(model.untrained_genes_),
              "pathways": model.pathway_names_, "standardisation": model.standardisation_,
              "conformal_q": {k: (None if not np.isfinite(v) else v)
                              for k, v in model.conformal_q_.items()},
              "features": {"genetic": list(GENETIC_FEATURES), "comed": list(COMED_FEATURES),
                           "clinical": list(CLINICAL_FEATURES)}}
    return save_checkpoint(directory, model.module_, kind="dosing", config=config,
                           seed=model.seed, **metadata)


def load_dosing_model(cls, directory: str | os.PathLike):
    """Rebuild a model of class ``cls`` from a folder written by :func:`save_dosing_model`."""
    from ..mtl import MultiTaskModel
    from ..mtl.checkpoint import load_weights, read_config
    from .pathway import DrugHead, PathwayEncoder, pathway_spec

    doc = read_config(directory, kind="dosing")
    cfg = doc["config"]
    model = cls(**cfg["params"])
    encoder = PathwayEncoder(pathway_spec(vkorc1_by_ancestry=model.vkorc1_by_ancestry))
    width = encoder.n_linear + len(CLINICAL_FEATURES)
    heads = {d: DrugHead(encoder.n_linear, width, model.hidden) for d in cfg["drugs"]}
    model.module_ = load_weights(MultiTaskModel(encoder, heads), directory)
    model.module_.eval()
    model.drugs_ = list(cfg["drugs"])
    model.pathway_names_ = encoder.names
    model.standardisation_ = cfg["standardisation"]
    model.untrained_genes_ = list(cfg.get("untrained_genes", []))
    model.conformal_q_ = {k: (np.inf if v is None else float(v))
                          for k, v in cfg["conformal_q"].items()}
    model.metadata_ = {k: v for k, v in doc.items() if k != "config"}
    return model
