"""Per-protein covariates of a set of sequences: length, hydropathy, DSSP shares, composition.

Pure functions of the sequences (and, where present, their DSSP and RSA labels); the structure
adapter (:mod:`.structure`) puts them next to a model's pooled latent. :func:`pca_scores` is the
deterministic PCA that adapter applies to the latent.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ...errors import InputError
from ...structure.alphabet import AMINO_ACIDS, SS8_TO_SS3_INDEX, encode_sequence

__all__ = ["KYTE_DOOLITTLE", "PROTEIN_COVARIATES", "composition", "id_sequences", "pca_scores",
           "protein_covariates"]

#: Hydropathy index per residue (Kyte J, Doolittle RF. J Mol Biol 1982;157:105-132).
KYTE_DOOLITTLE = {
    "A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5, "G": -0.4,
    "H": -3.2, "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8, "P": -1.6, "S": -0.8,
    "T": -0.7, "W": -0.9, "Y": -1.3, "V": 4.2,
}

#: The ``obs`` columns :func:`protein_covariates` computes.
PROTEIN_COVARIATES = ("length", "gravy", "helix_fraction", "strand_fraction", "coil_fraction",
                      "mean_rsa")


def id_sequences(records: Iterable) -> list[tuple[str, str]]:
    """``(id, upper-case sequence)`` of ``(id, seq)`` pairs, records with ``.id``/``.seq``, or
    strings (named ``seq1``, ``seq2``...).

    Raises
    ------
    InputError
        An empty sequence.

    Examples
    --------
    >>> id_sequences(["mkv", ("p2", "GS")])
    [('seq1', 'MKV'), ('p2', 'GS')]
    """
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


def composition(records: Iterable) -> tuple[np.ndarray, list[str]]:
    """Amino-acid composition (fractions of the standard residues) and the 20 letters.

    Examples
    --------
    >>> comp, letters = composition([("a", "AAK")])
    >>> round(float(comp[0, letters.index("A")]), 3), round(float(comp[0, letters.index("K")]), 3)
    (0.667, 0.333)
    """
    items = id_sequences(records)
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
    rows, ids = [], []
    records = list(records)
    for (rid, seq), rec in zip(id_sequences(records), records, strict=True):
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
