"""Dissecting a structure model: per-protein pooled latents and covariates as an AnnData.

A structure model (:func:`bio_mtl.structure.load_model`) maps each residue to a shared feature
vector, ``encoder(tokens) -> (L, D)``, that its SS8 / SS3 / RSA heads read. One protein's latent
is the mean of those vectors over its residues (mean pooling, as for ESM per-protein
embeddings). :func:`structure_anndata` collects, for one or more labelled datasets:

- ``obsm["X_structure"]``: ``(n, D)`` the pooled encoder output;
- ``obsm["X_structure_pca"]``: its principal components (dimensions standardised first), the
  axes :func:`~bio_mtl.dissect.dissect` reads by default, because the raw channels of a
  convolutional encoder are many and redundant;
- ``obs``: per-protein covariates from the sequence (``length``, Kyte-Doolittle ``gravy``) and,
  where labels exist, from DSSP (``helix_fraction``, ``strand_fraction``, ``coil_fraction`` of
  the labelled residues, 3-state reduction G/H/I, E/B, S/T/C) and ``mean_rsa``; plus the source
  ``dataset``, a batch-like key;
- ``X``: the amino-acid composition (20 columns, fractions), so variance explained and the
  top-weights panel say which residues each dimension follows (gene attribution by
  correlation; there are no gene sets for residues, so enrichment is skipped).

Nothing here trains or changes the model; it works for any fitted structure estimator
(residue tokens, or per-residue features through an ``embedder``); the covariates come from
:mod:`.protein`. :func:`structure_source` is
the adapter of checkpoint kinds ``"structure"`` and ``"structure-ensemble"`` (an ensemble's
latent is its members' encoder outputs side by side).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch

from ...errors import ConfigError, InputError
from ...mtl.estimator import Estimator, load_estimator
from ...structure.alphabet import PAD_INDEX, encode_sequence
from ...structure.data import read_chains
from ...structure.embeddings import embedder_for
from ...structure.io import read_sequences
from ...structure.predict import chunk_spans
from ..latent import LatentSource, describe_model
from .protein import PROTEIN_COVARIATES, composition, id_sequences, pca_scores, protein_covariates

__all__ = ["STRUCTURE_KINDS", "pooled_structure_latent", "read_protein_records",
           "structure_anndata", "structure_source"]

#: The checkpoint kinds this adapter reads.
STRUCTURE_KINDS = ("structure", "structure-ensemble")

_FASTA_SUFFIXES = (".fa", ".fasta", ".faa", ".fas", ".fa.gz", ".fasta.gz", ".faa.gz")


def _network(model):
    """The torch network and config of a fitted structure estimator."""
    if not isinstance(model, Estimator) or model.kind not in STRUCTURE_KINDS:
        raise ConfigError(f"not a structure model ({type(model).__name__}); load one with "
                          "bio_mtl.structure.load_model")
    model.check_is_fitted()
    return model.module_, model.config_


def pooled_structure_latent(records: Iterable, model, *,
                            embedder: Callable[[Sequence[str]], list] | None = None,
                            batch_tokens: int = 16384, chunk_size: int = 1000,
                            overlap: int = 100) -> np.ndarray:
    """Mean over residues of a structure model's shared encoder output, per protein.

    Parameters
    ----------
    records
        ``(id, seq)`` pairs, objects with ``.id`` / ``.seq`` (chains, FASTA records) or strings.
    model
        A fitted structure model or ensemble (:func:`bio_mtl.structure.load_model`).
    embedder
        Needed when the model reads per-residue features (``input_dim`` set).
    batch_tokens
        Maximum padded residues per forward pass.
    chunk_size, overlap
        Sequences longer than ``chunk_size`` are encoded in overlapping windows, each residue
        taken from the window where it is most central (as in prediction).

    Returns
    -------
    numpy.ndarray
        ``(n, D)`` float64, in input order.

    Raises
    ------
    ConfigError
        If the model is not a structure model, or needs an embedder and none is given.

    Examples
    --------
    >>> from bio_mtl.structure import StructureModelConfig, build_structure_model
    >>> from bio_mtl.structure.estimator import StructureModel
    >>> cfg = StructureModelConfig(conv_channels=8, lstm_layers=0)
    >>> est = StructureModel.from_network(build_structure_model(cfg), cfg)
    >>> pooled_structure_latent([("a", "MKV"), ("b", "ACDEFG")], est).shape
    (2, 8)
    """
    network, config = _network(model)
    if config.input_dim is not None and embedder is None:
        raise ConfigError("this structure model reads per-residue embeddings; pass an embedder "
                          f"(its backbone: {config.backbone or 'not recorded'})")
    items = id_sequences(records)
    pieces = sorted(((r, *span) for r, (_, seq) in enumerate(items)
                     for span in chunk_spans(len(seq), chunk_size, overlap)),
                    key=lambda p: p[2] - p[1])
    sums: np.ndarray | None = None
    network.eval()
    with torch.inference_mode():
        for segs in _token_batches(pieces, batch_tokens):
            inputs, mask = _inputs(segs, items, config.input_dim, embedder)
            hidden = network.encode(inputs, mask=mask).double().numpy()  # (N, width, D)
            if sums is None:
                sums = np.zeros((len(items), hidden.shape[-1]))
            for i, (r, s, _, kf, kt) in enumerate(segs):
                sums[r] += hidden[i, kf - s:kt - s].sum(axis=0)
    lengths = np.array([len(seq) for _, seq in items], dtype=np.float64)
    return sums / lengths[:, None]


def _token_batches(pieces: list, batch_tokens: int) -> Iterator[list]:
    """Consecutive runs of length-sorted pieces whose padded size fits ``batch_tokens``."""
    start = 0
    while start < len(pieces):
        stop = start + 1  # pieces are sorted by length: the last one sets the width
        while stop < len(pieces) and (pieces[stop][2] - pieces[stop][1]) * (
                stop - start + 1) <= batch_tokens:
            stop += 1
        yield pieces[start:stop]
        start = stop


def _inputs(segs: list, items: list, input_dim: int | None, embedder
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded tokens (or features) and the padding mask of one batch of pieces."""
    width = max(e - s for _, s, e, _, _ in segs)
    mask = torch.zeros(len(segs), width, dtype=torch.bool)
    for i, (_, s, e, _, _) in enumerate(segs):
        mask[i, :e - s] = True
    if input_dim is None:
        inputs = torch.full((len(segs), width), PAD_INDEX, dtype=torch.long)
        for i, (r, s, e, _, _) in enumerate(segs):
            inputs[i, :e - s] = torch.from_numpy(encode_sequence(items[r][1][s:e]))
        return inputs, mask
    feats = embedder([items[r][1][s:e] for r, s, e, _, _ in segs])
    inputs = torch.zeros(len(segs), width, input_dim)
    for i, f in enumerate(feats):
        inputs[i, :len(f)] = torch.as_tensor(np.asarray(f), dtype=torch.float32)
    return inputs, mask


def read_protein_records(source: str | os.PathLike) -> list:
    """Labelled chains from a JSON-lines file (``.jsonl``/``.jsonl.gz``), or FASTA records.

    Raises
    ------
    InputError
        Missing or malformed file (see :func:`bio_mtl.structure.read_chains`).
    """
    name = Path(source).name.lower()
    if name.endswith(_FASTA_SUFFIXES):
        return read_sequences(source)
    return read_chains(source)


def _dataset_name(source) -> str:
    name = Path(source).name
    for suffix in (".gz", ".jsonl", ".json", ".fasta", ".faa", ".fas", ".fa"):
        name = name.removesuffix(suffix)
    return name


def structure_anndata(sources: Mapping[str, object] | Sequence, model, *,
                      embedder: Callable[[Sequence[str]], list] | None = None,
                      n_components: int = 10, dataset_key: str = "dataset",
                      batch_tokens: int = 16384, model_name: str | None = None):
    """An AnnData of proteins: pooled structure latent, its PCs, covariates and dataset.

    Parameters
    ----------
    sources
        ``{dataset name: path or records}``, or a sequence of paths (named by file stem).
        Paths: labelled JSON lines (``.jsonl.gz``, :func:`bio_mtl.structure.read_chains`) or
        FASTA (covariates from the sequence only).
    model
        A fitted structure model or ensemble.
    embedder
        For models that read per-residue features.
    n_components
        Principal components stored in ``obsm["X_structure_pca"]``.
    dataset_key
        ``obs`` column naming each protein's source (use it as ``batch_key``).
    batch_tokens
        Padded residues per forward pass.
    model_name
        What to record as the model in ``uns`` (default: its class name).

    Returns
    -------
    anndata.AnnData
        ``n_proteins x 20``: ``X`` the amino-acid composition; ``obs`` the
        :data:`PROTEIN_COVARIATES`, ``dataset_key`` (categorical) and ``id``;
        ``obsm["X_structure"]`` and ``obsm["X_structure_pca"]``;
        ``uns["biomtl_structure_latent"]["params"]`` (model, pooling, sources with counts,
        encoder width, PCA variance shares).

    Raises
    ------
    InputError
        A missing or malformed file; fewer than 3 proteins in all.
    ConfigError
        Two sources with the same name.

    Examples
    --------
    >>> from bio_mtl.structure import StructureModelConfig, build_structure_model
    >>> from bio_mtl.structure.estimator import StructureModel
    >>> cfg = StructureModelConfig(conv_channels=8, lstm_layers=0)
    >>> est = StructureModel.from_network(build_structure_model(cfg), cfg)
    >>> a = structure_anndata({"toy": [("p1", "MKVL"), ("p2", "GGSA"), ("p3", "EEKR")]}, est,
    ...                       n_components=2)
    >>> a.obsm["X_structure"].shape, a.obsm["X_structure_pca"].shape
    ((3, 8), (3, 2))
    """
    if not isinstance(sources, Mapping):
        named = [(_dataset_name(s), s) for s in sources]
        dup = sorted({n for n, _ in named if [m for m, _ in named].count(n) > 1})
        if dup:
            raise ConfigError(f"two inputs are both named {dup[0]!r} (by file stem); pass a "
                              "mapping {name: path} to name them")
        sources = dict(named)
    records, datasets, summary = [], [], {}
    for name, source in sources.items():
        recs = read_protein_records(source) if isinstance(source, (str, os.PathLike)) \
            else list(source)
        records += recs
        datasets += [str(name)] * len(recs)
        summary[str(name)] = {"source": str(source) if isinstance(source, (str, os.PathLike))
                              else "records", "n": len(recs)}
    if len(records) < 3:
        raise InputError(f"{len(records)} protein(s) in all; dissection needs at least 3")
    latent = pooled_structure_latent(records, model, embedder=embedder,
                                     batch_tokens=batch_tokens)
    obs = protein_covariates(records)
    ids = list(obs.index)
    obs = obs.reset_index()
    obs[dataset_key] = pd.Categorical(datasets, categories=list(summary))
    index = ids if len(set(ids)) == len(ids) else [f"{d}/{i}" for d, i in
                                                  zip(datasets, ids, strict=True)]
    obs.index = pd.Index([str(i) for i in index])
    comp, letters = composition(records)
    adata = ad.AnnData(X=comp.astype(np.float32), obs=obs,
                       var=pd.DataFrame(index=pd.Index(letters, name="residue")))
    scores, ratio = pca_scores(latent, n_components)
    adata.obsm["X_structure"] = latent.astype(np.float32)
    adata.obsm["X_structure_pca"] = scores.astype(np.float32)
    adata.uns["biomtl_structure_latent"] = {"params": {
        "model": model_name or type(model).__name__,
        "pooling": "mean of the shared encoder output over residues",
        "encoder_dim": int(latent.shape[1]), "sources": summary, "dataset_key": dataset_key,
        "pca": {"standardised": True, "n_components": int(scores.shape[1]),
                "explained_variance_ratio": ratio.round(6).tolist()}}}
    return adata


def structure_source(model, data: Sequence, *, n_components: int = 10, seed: int = 0,
                     path: object = None) -> LatentSource:
    """Adapter for a structure model or ensemble (see :mod:`bio_mtl.dissect.adapters`).

    Parameters
    ----------
    model
        A structure checkpoint folder or shipped name (single model or ensemble), or a fitted
        structure estimator.
    data
        Labelled JSON-lines chains or FASTA files, one dataset each.
    n_components
        Principal components of the pooled latent (``obsm["X_structure_pca"]``).
    seed, path
        Unused (pooling and PCA are deterministic; inputs are files).

    Returns
    -------
    LatentSource
        ``obsm["X_structure_pca"]`` by default (``X_structure`` also written), the
        :data:`PROTEIN_COVARIATES` with a value, and ``dataset`` as the batch key when there
        are several datasets.

    Raises
    ------
    ConfigError
        An AnnData instead of sequence files, or a model that reads ESM features but records
        no backbone (:func:`bio_mtl.structure.embeddings.embedder_for`).
    """
    del seed, path
    if any(hasattr(item, "obs") for item in data):
        raise ConfigError("a structure model reads chain (.jsonl) or FASTA files, not an "
                          "AnnData; build one with model_anndata(model, files)")
    est = model if isinstance(model, Estimator) else load_estimator(model)
    adata = structure_anndata(list(data), est, embedder=embedder_for(est),
                              n_components=n_components, model_name=describe_model(model))
    covariates = [c for c in PROTEIN_COVARIATES if adata.obs[c].notna().any()]
    several = adata.obs["dataset"].nunique() > 1
    return LatentSource(adata, "X_structure_pca", ["X_structure_pca", "X_structure"],
                        covariates, "dataset" if several else None, model=describe_model(model))
