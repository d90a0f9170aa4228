"""Adding a drug to a fitted :class:`~bio_mtl.dosing.model.DosingModel` (continual learning).

The new drug gets its own head, trained against the frozen pathway layer: earlier drugs'
predictions cannot change. With ``finetune_pathways`` the shared layer is trained too, while
earlier heads stay frozen and rehearsal rows of earlier drugs are replayed with the model's own
predictions (made before any update) as targets, i.e. rehearsal by distillation (Li & Hoiem,
Learning without Forgetting, IEEE TPAMI 2018;40:2935-47).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from .features import CLINICAL_FEATURES, GENE_FEATURES, feature_table

__all__: list[str] = []


def _rehearsal_rows(model, rehearsal: pd.DataFrame | None):
    """``(features, drugs, targets)`` of earlier drugs' rows, targets = current predictions."""
    if rehearsal is None or not len(rehearsal):
        return None
    rehearsal = rehearsal.reset_index(drop=True)
    drugs = rehearsal["drug"].astype(str).to_numpy()
    unknown = sorted(set(drugs) - set(model.drugs_))
    if unknown:
        raise InputError(f"rehearsal rows of drugs the model does not have: {unknown}")
    feats, _ = feature_table(rehearsal)
    return feats, drugs, model._predict_t(feats, drugs)


def add_drug(model, X: pd.DataFrame, *, rehearsal: pd.DataFrame | None = None,
             finetune_pathways: bool = False, progress=None):
    """Train a head for the one new drug of ``X`` (see :meth:`DosingModel.add_drug`)."""
    from .pathway import DrugHead

    X = X.reset_index(drop=True)
    new = list(dict.fromkeys(X["drug"].astype(str)))
    if len(new) != 1 or new[0] in model.drugs_:
        raise InputError(f"add_drug needs rows of exactly one new drug, got {new}")
    d = new[0]
    feats, _ = feature_table(X)
    t = model._targets(X)
    replay = _rehearsal_rows(model, rehearsal) if finetune_pathways else None
    if finetune_pathways:  # a gene typed in the new drug's rows becomes learnable
        model.untrained_genes_ = [g for g in model.untrained_genes_
                                  if bool((feats[GENE_FEATURES[g][1]] == 1).all())]
    n_lin = model.module_.encoder.n_linear
    model.module_.heads[d] = DrugHead(n_lin, n_lin + len(CLINICAL_FEATURES), model.hidden,
                                      float(t.mean()))
    for name, head in model.module_.heads.items():
        head.requires_grad_(name == d)
    model.module_.encoder.requires_grad_(finetune_pathways)
    cal = model._calibration_mask(X)
    drug = X["drug"].astype(str).to_numpy()
    fe, dr, tt = feats[~cal], drug[~cal], t[~cal]
    if replay is not None:
        fe = pd.concat([fe, replay[0]], ignore_index=True)
        dr, tt = np.concatenate([dr, replay[1]]), np.concatenate([tt, replay[2]])
    try:
        model._train(fe, dr, tt, [*model.drugs_, d], progress)
    finally:
        model.module_.requires_grad_(True)
    model.drugs_ = [*model.drugs_, d]
    model._calibrate(feats, drug, t, cal, [d])
    return model
