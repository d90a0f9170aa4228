"""Reading AnnData files with errors that name the file and the problem."""

from __future__ import annotations

import os
from pathlib import Path

from .._io import open_input
from ..errors import InputError

__all__ = ["read_h5ad"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def read_h5ad(path: str | os.PathLike):
    """Read an ``.h5ad`` file (samples x genes).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    anndata.AnnData
        The file's contents.

    Raises
    ------
    InputError
        A missing or unreadable file, a file without the HDF5 signature (e.g. a CSV table
        named ``.h5ad``), or an HDF5 file that anndata cannot read.
    """
    import anndata as ad

    path = Path(path)
    with open_input(path, "rb", what="AnnData .h5ad file") as handle:
        head = handle.read(8)
    if head != _HDF5_MAGIC:
        raise InputError("not an AnnData .h5ad file (no HDF5 signature); convert it with "
                         "anndata/scanpy (e.g. sc.read_csv(...).write_h5ad(...))", path=path)
    try:
        return ad.read_h5ad(path)
    except Exception as exc:  # h5py/anndata raise many types on malformed files
        raise InputError(f"cannot read as AnnData ({type(exc).__name__}: {exc})",
                         path=path) from None
