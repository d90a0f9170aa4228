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

Nothing here trains or changes the model; it works for any model with a ``structure_config``
(residue tokens, or per-residue features through an ``embedder``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError

__all__ = ["KYTE_DOOLITTLE", "PROTEIN_COVARIATES", "composition", "pca_scores",
           "pooled_structure_latent", "protein_covariates", "read_protein_records",
           "structure_anndata"]

#: Hydropathy index per residue (Kyte J, Doolittle RF. J Mol Biol 1982;157:105-132).
KYTE_DOOLITTLE = {
    "A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5, "G": -0.4,
    "H": -3.2, "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8, "P": -1.6, "S": -0.8,
    "T": -0.7, "W": -0.9, "Y": -1.3, "V": 4.2,
}

#: The ``obs`` columns :func:`protein_covariates` computes.
PROTEIN_COVARIATES = ("length", "gravy", "helix_fraction", "strand_fraction", "coil_fraction",
                      "mean_rsa")

_FASTA_SUFFIXES = (".fa", ".fasta", ".faa", ".fas", ".fa.gz", ".fasta.gz", ".faa.gz")


def _id_seq(records: Iterable) -> list[tuple[str, str]]:
    out = []
    for i, rec in enumerate(records):
        if hasattr(rec, "seq"):
            rid, seq = getattr(rec, "id", f"seq{i + 1}"), rec.seq
        elif isinstance(rec, (tuple, list)):
            rid, seq = rec[0], rec[1]
        else:
            rid, seq = f"seq{i + 1}", rec
        seq = str(seq).upper()
        if not seq:
            raise InputError("empty sequence", record=str(rid))
        out.append((str(rid), seq))
    return out


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
        A structure model (:func:`bio_mtl.structure.load_model` or
        :func:`~bio_mtl.structure.build_structure_model`).
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
    >>> net = build_structure_model(StructureModelConfig(conv_channels=8, lstm_layers=0))
    >>> pooled_structure_latent([("a", "MKV"), ("b", "ACDEFG")], net).shape
    (2, 8)
    """
    import torch

    from ..structure.alphabet import PAD_INDEX, encode_sequence
    from ..structure.predict import chunk_spans

    config = getattr(model, "structure_config", None)
    if config is None:
        raise ConfigError(f"not a structure model ({type(model).__name__} has no "
                          "structure_config); load one with bio_mtl.structure.load_model")
    if config.input_dim is not None and embedder is None:
        raise ConfigError("this structure model reads per-residue embeddings; pass an embedder "
                          f"(its backbone: {config.backbone or 'not recorded'})")
    items = _id_seq(records)
    pieces = [(r, *span) for r, (_, seq) in enumerate(items)
              for span in chunk_spans(len(seq), chunk_size, overlap)]
    pieces.sort(key=lambda p: p[2] - p[1])
    sums: np.ndarray | None = None
    model.eval()
    with torch.inference_mode():
        start = 0
        while start < len(pieces):
            width = pieces[start][2] - pieces[start][1]
            stop = start + 1  # pieces are sorted by length: the last one sets the width
            while stop < len(pieces) and (pieces[stop][2] - pieces[stop][1]) * (
                    stop - start + 1) <= batch_tokens:
                width = pieces[stop][2] - pieces[stop][1]
                stop += 1
            segs = pieces[start:stop]
            mask = torch.zeros(len(segs), width, dtype=torch.bool)
            for i, (_, s, e, _, _) in enumerate(segs):
                mask[i, :e - s] = True
            if config.input_dim is None:
                inputs = torch.full((len(segs), width), PAD_INDEX, dtype=torch.long)
                for i, (r, s, e, _, _) in enumerate(segs):
                    inputs[i, :e - s] = torch.from_numpy(encode_sequence(items[r][1][s:e]))
            else:
                feats = embedder([items[r][1][s:e] for r, s, e, _, _ in segs])
                inputs = torch.zeros(len(segs), width, config.input_dim)
                for i, f in enumerate(feats):
                    inputs[i, :len(f)] = torch.as_tensor(np.asarray(f), dtype=torch.float32)
            hidden = model.encode(inputs, mask=mask).double().numpy()  # (N, width, D)
            if sums is None:
                sums = np.zeros((len(items), hidden.shape[-1]))
            for i, (r, s, _, kf, kt) in enumerate(segs):
                sums[r] += hidden[i, kf - s:kt - s].sum(axis=0)
            start = stop
    lengths = np.array([len(seq) for _, seq in items], dtype=np.float64)
    return sums / lengths[:, None]


def composition(records: Iterable) -> tuple[np.ndarray, list[str]]:
    """Amino-acid composition (fractions of the standard residues) and the 20 letters.

    Examples
    --------
    >>> comp, letters = composition([("a", "AAK")])
    >>> round(float(comp[0, letters.index("A")]), 3), round(float(comp[0, letters.index("K")]), 3)
    (0.667, 0.333)
    """
    from ..structure.alphabet import AMINO_ACIDS, encode_sequence

    items = _id_seq(records)
    out = np.zeros((len(items), len(AMINO_ACIDS)))
    for i, (_, seq) in enumerate(items):
        counts = np.bincount(encode_sequence(seq), minlength=len(AMINO_ACIDS) + 1)[:20]
        out[i] = counts / max(counts.sum(), 1)
    return out, list(AMINO_ACIDS)


def protein_covariates(records: Iterable):
    """Per-protein covariates from the sequence and, where present, the DSSP labels.

    Parameters
    ----------
    records
        :class:`~bio_mtl.structure.data.Chain` objects (labelled: SS8 indices with ``-100`` for
        unlabelled residues, RSA with NaN) or unlabelled ``(id, seq)`` records.

    Returns
    -------
    pandas.DataFrame
        Indexed by id, columns :data:`PROTEIN_COVARIATES`: ``length`` (residues), ``gravy``
        (mean Kyte-Doolittle hydropathy of the standard residues), ``helix_fraction``,
        ``strand_fraction``, ``coil_fraction`` (3-state shares among SS-labelled residues;
        NaN without labels) and ``mean_rsa`` (mean over RSA-labelled residues; NaN without).

    Examples
    --------
    >>> protein_covariates([("p1", "AIKE")])[["length", "gravy"]].round(3).values.tolist()
    [[4.0, -0.275]]
    """
    import pandas as pd

    from ..structure.alphabet import SS8_TO_SS3_INDEX

    rows, ids = [], []
    records = list(records)
    for (rid, seq), rec in zip(_id_seq(records), records, strict=True):
        hyd = [KYTE_DOOLITTLE[c] for c in seq if c in KYTE_DOOLITTLE]
        row = {"length": float(len(seq)), "gravy": float(np.mean(hyd)) if hyd else np.nan,
               "helix_fraction": np.nan, "strand_fraction": np.nan, "coil_fraction": np.nan,
               "mean_rsa": np.nan}
        ss8 = np.asarray(getattr(rec, "ss8", []), dtype=np.int64)
        if (ss8 >= 0).any():
            ss3 = SS8_TO_SS3_INDEX[ss8[ss8 >= 0]]  # 0 = H, 1 = E, 2 = C
            share = np.bincount(ss3, minlength=3) / len(ss3)
            row.update(helix_fraction=share[0], strand_fraction=share[1], coil_fraction=share[2])
        rsa = np.asarray(getattr(rec, "rsa", []), dtype=np.float64)
        if np.isfinite(rsa).any():
            row["mean_rsa"] = float(np.nanmean(rsa))
        rows.append(row)
        ids.append(rid)
    return pd.DataFrame(rows, index=pd.Index(ids, name="id"), columns=list(PROTEIN_COVARIATES))


def pca_scores(latent: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Principal-component scores of the standardised latent and their variance shares.

    Constant dimensions are dropped before standardising. Each component's sign is chosen so
    that its largest-magnitude loading is positive (deterministic output).

    Returns
    -------
    tuple
        ``(scores (n, c), explained variance ratio (c,))`` with
        ``c = min(n_components, n - 1, non-constant dims)``.
    """
    x = np.asarray(latent, dtype=np.float64)
    sd = x.std(axis=0)
    x = (x[:, sd > 0] - x[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    if x.shape[1] == 0 or len(x) < 2:
        raise InputError("the pooled latent is constant; nothing to decompose")
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    c = min(n_components, len(x) - 1, x.shape[1])
    signs = np.sign(vt[np.arange(c), np.abs(vt[:c]).argmax(axis=1)])
    return u[:, :c] * s[:c] * signs, (s[:c] ** 2 / np.sum(s**2))


def read_protein_records(source: str | os.PathLike) -> list:
    """Labelled chains from a JSON-lines file (``.jsonl``/``.jsonl.gz``), or FASTA records.

    Raises
    ------
    InputError
        Missing or malformed file (see :func:`bio_mtl.structure.read_chains`).
    """
    name = Path(source).name.lower()
    if name.endswith(_FASTA_SUFFIXES):
        from ..structure.io import read_sequences

        return read_sequences(source)
    from ..structure.data import read_chains

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
        A structure model.
    embedder
        For models that read per-residue features.
    n_components
        Principal components stored in ``obsm["X_structure_pca"]``.
    dataset_key
        ``obs`` column naming each protein's source (use it as ``batch_key``).
    batch_tokens
        Padded residues per forward pass.
    model_name
        What to record as the model in ``uns`` (default: its recorded checkpoint path).

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
    >>> net = build_structure_model(StructureModelConfig(conv_channels=8, lstm_layers=0))
    >>> a = structure_anndata({"toy": [("p1", "MKVL"), ("p2", "GGSA"), ("p3", "EEKR")]}, net,
    ...                       n_components=2)
    >>> a.obsm["X_structure"].shape, a.obsm["X_structure_pca"].shape
    ((3, 8), (3, 2))
    """
    import anndata as ad
    import pandas as pd

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
    info = getattr(model, "checkpoint_info", None) or {}
    adata.uns["biomtl_structure_latent"] = {"params": {
        "model": model_name or str(info.get("path", type(model).__name__)),
        "pooling": "mean of the shared encoder output over residues",
        "encoder_dim": int(latent.shape[1]), "sources": summary, "dataset_key": dataset_key,
        "pca": {"standardised": True, "n_components": int(scores.shape[1]),
                "explained_variance_ratio": ratio.round(6).tolist()}}}
    return adata
