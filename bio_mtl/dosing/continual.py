"""Adding drugs to a fitted dosing model (the recipe behind ``biomtl train-dose --add-to``).

Each new drug gets its own head through :meth:`~bio_mtl.dosing.model.DosingModel.add_drug`
(continual learning with :mod:`bio_mtl.mtl.transfer`): trained against the frozen pathway
layer, so earlier drugs' predictions cannot change; or, with ``finetune_pathways``, with the
pathway layer fine-tuned while the rows of earlier drugs are rehearsed by distillation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .._progress import ProgressCallback
from ..errors import InputError
from .features import GENE_FEATURES, feature_table

if TYPE_CHECKING:
    from .model import DosingModel

__all__ = ["add_drugs", "ignored_genes"]


def ignored_genes(model: DosingModel, rows: pd.DataFrame) -> list[str]:
    """Genes genotyped in the rows of new drugs that ``model``'s pathway layer never learned.

    A frozen pathway layer treats them as unknown; ``finetune_pathways`` learns them.

    Parameters
    ----------
    model
        A fitted dosing model.
    rows
        Long tidy rows with ``drug``; only those of drugs the model lacks are looked at.

    Returns
    -------
    list of str
        Gene symbols, in the model's order.
    """
    new = rows[~rows["drug"].astype(str).isin(model.drugs_)]
    if not len(new):
        return []
    feats, _ = feature_table(new.reset_index(drop=True))
    return [g for g in model.untrained_genes_ if (feats[GENE_FEATURES[g][1]] == 0).any()]


def add_drugs(model: DosingModel, rows: pd.DataFrame, *, finetune_pathways: bool = False,
              path: object = None, progress: ProgressCallback | None = None) -> list[str]:
    """Add a head for every drug of ``rows`` that ``model`` does not have yet.

    Parameters
    ----------
    model
        A fitted dosing model (changed in place).
    rows
        Long tidy rows with ``drug`` and ``dose_mg_per_week``. Rows of drugs the model
        already has are the rehearsal rows when ``finetune_pathways`` is set (else unused).
    finetune_pathways
        Fine-tune the pathway layer too (see
        :meth:`~bio_mtl.dosing.model.DosingModel.add_drug`).
    path
        The file ``rows`` come from, for error messages.
    progress
        Optional progress callback.

    Returns
    -------
    list of str
        The added drugs, in the order of ``rows``.

    Raises
    ------
    InputError
        When ``rows`` hold no drug the model lacks.
    """
    model.check_is_fitted()
    new = [d for d in dict.fromkeys(rows["drug"].astype(str)) if d not in model.drugs_]
    if not new:
        raise InputError(f"no new drug to add: the model already has heads for "
                         f"{', '.join(model.drugs_)}", path=path)
    drug = rows["drug"].astype(str)
    for name in new:
        rehearsal = rows[drug.isin(model.drugs_)] if finetune_pathways else None
        model.add_drug(rows[drug == name], rehearsal=rehearsal,
                       finetune_pathways=finetune_pathways, progress=progress)
    return new
