"""Reader for the NetSurfP-2.0 ``.npz`` data files (``Train_HHblits.npz``, ``CB513_HHblits.npz``).

Klausen MS et al. (2019) *NetSurfP-2.0: Improved prediction of protein structural features by
integrated deep learning.* Proteins 87:520-527, doi:10.1002/prot.25674.

Each file holds ``pdbids`` (N) and ``data`` (N, L, 68) with, per residue, the columns

======== ==================================================================
[0:20]   one-hot over ``ACDEFGHIKLMNPQRSTVWY`` (all zero = unknown, read as X)
[20:50]  HHblits profile (not used here)
[50]     sequence mask (1 = a residue, 0 = padding)
[51]     ordered mask (0 = disordered / unobserved)
[52]     CB513 evaluation mask
[53:55]  ASA isolated / complexed
[55:57]  RSA isolated / complexed, clipped to [0, 1]
[57:65]  Q8 one-hot ``GHIBESTC``
[65:67]  phi, psi
[67]     ASA max
======== ==================================================================

:func:`read_netsurfp_npz` turns it into the same record dicts as
:func:`bio_mtl.structure.io.read_labelled`: ``mask = ordered AND evaluation mask``, ``ss8`` is
``C`` where the mask is 0, ``rsa`` is rounded to 3 decimals and null where the residue is not
ordered.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from .._io import open_input
from ..errors import ConfigError, InputError
from .alphabet import AMINO_ACIDS, SS8

__all__ = ["NPZ_COLUMNS", "read_netsurfp_npz"]

#: Column slices of the 68 NetSurfP-2.0 features.
NPZ_COLUMNS = {"onehot": slice(0, 20), "profile": slice(20, 50), "seq_mask": 50,
               "ordered_mask": 51, "eval_mask": 52, "asa_isolated": 53, "asa_complexed": 54,
               "rsa_isolated": 55, "rsa_complexed": 56, "q8": slice(57, 65),
               "phi": 65, "psi": 66, "asa_max": 67}
_RSA_COLUMN = {"isolated": 55, "complexed": 56}


def _decode_one(pid: str, row: np.ndarray, rsa_col: int, name: str) -> dict:
    seq_mask = row[:, NPZ_COLUMNS["seq_mask"]] > 0.5
    length = int(seq_mask.sum())
    if length == 0:
        raise InputError("no residues (sequence mask all 0)", path=name, record=pid)
    if not seq_mask[:length].all():
        raise InputError("sequence mask is not a contiguous prefix", path=name, record=pid)
    row = row[:length]
    onehot = row[:, NPZ_COLUMNS["onehot"]]
    letters = np.array(list(AMINO_ACIDS + "X"))
    index = np.where(onehot.max(axis=1) > 0.5, onehot.argmax(axis=1), 20)
    seq = "".join(letters[index])
    ordered = row[:, NPZ_COLUMNS["ordered_mask"]] > 0.5
    mask = ordered & (row[:, NPZ_COLUMNS["eval_mask"]] > 0.5)
    q8 = row[:, NPZ_COLUMNS["q8"]]
    has_q8 = q8.max(axis=1) > 0.5
    ss8 = "".join(SS8[j] if m and h else "C"
                  for j, m, h in zip(q8.argmax(axis=1), mask, has_q8, strict=True))
    mask &= has_q8 | ~ordered  # an ordered residue without a Q8 label cannot be scored
    rsa = [round(float(v), 3) if o else None
           for v, o in zip(row[:, rsa_col], ordered, strict=True)]
    return {"id": pid, "seq": seq, "ss8": ss8, "rsa": rsa,
            "mask": "".join("1" if m else "0" for m in mask)}


def _arrays(handle, name: str, allow_pickle: bool) -> tuple[np.ndarray, np.ndarray]:
    """The ``pdbids`` and ``data`` arrays of the ``.npz`` archive open in ``handle``."""
    try:
        archive = np.load(handle, allow_pickle=allow_pickle)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"not a readable .npz file ({exc})", path=name) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputError("is a single .npy array, expected a .npz archive with 'pdbids' and "
                         "'data'", path=name)
    with archive:
        missing = [k for k in ("pdbids", "data") if k not in archive.files]
        if missing:
            raise InputError(f"missing array(s) {', '.join(missing)} (found "
                             f"{', '.join(archive.files) or 'none'}); expected the NetSurfP-2.0 "
                             "layout", path=name)
        try:
            return archive["pdbids"], archive["data"]
        except ValueError:
            raise InputError("'pdbids' is stored as Python objects; re-save it as a string "
                             "array or pass allow_pickle=True for a trusted file",
                             path=name) from None


def read_netsurfp_npz(path: str | os.PathLike, *, rsa: str = "isolated",
                      allow_pickle: bool = False) -> list[dict]:
    """Read a NetSurfP-2.0 ``.npz`` file into labelled record dicts.

    Parameters
    ----------
    path
        The ``.npz`` file (keys ``pdbids`` and ``data``).
    rsa
        ``"isolated"`` (column 55, the chain alone) or ``"complexed"`` (column 56, the whole
        entry) relative solvent accessibility.
    allow_pickle
        Some NumPy versions store string arrays as Python objects, which need pickle to load.
        Pickle can run code: set this only for files from a source you trust.

    Returns
    -------
    list of dict
        ``{"id", "seq", "ss8", "rsa", "mask"}`` per chain, as
        :func:`~bio_mtl.structure.io.read_labelled` returns.
    """
    if rsa not in _RSA_COLUMN:
        raise ConfigError(f"rsa={rsa!r}: choose 'isolated' or 'complexed'")
    name = str(path)
    with open_input(path, "rb", what="file") as handle:
        ids, data = _arrays(handle, name, allow_pickle)
    if data.ndim != 3 or data.shape[2] < 65:
        raise InputError(f"'data' has shape {data.shape}; expected (N, L, 68)", path=name)
    if len(ids) != data.shape[0]:
        raise InputError(f"{len(ids)} pdbids but {data.shape[0]} rows in 'data'", path=name)
    out = []
    for k, pid in enumerate(ids):
        pid = pid.decode() if isinstance(pid, bytes) else str(pid)
        out.append(_decode_one(pid, data[k], _RSA_COLUMN[rsa], name))
    return out
