"""Shipped model weights, model cards and gene sets (found with importlib.resources).

:data:`SHIPPED` is the one table of shipped models and :func:`shipped_path` the one resolver:
every application looks its named models up here, so a name means the same model everywhere
(``predict-structure --model``, ``dose --model``, ``dissect --model``,
:func:`bio_mtl.mtl.estimator.load_estimator`). Files are reached through
:mod:`importlib.resources`, so they load after a regular (non-editable) install from any
working directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from ..errors import CheckpointError

__all__ = ["SHIPPED", "available", "is_shipped", "shipped_folder", "shipped_path"]

#: shipped model name -> (checkpoint kind, folder inside ``bio_mtl/resources``).
SHIPPED: dict[str, tuple[str, str]] = {
    "ss_rsa_cnnbilstm_ens2_nsp2_v1": ("structure-ensemble", "ss_rsa_cnnbilstm_ens2_nsp2_v1"),
    "ss_rsa_cnnbilstm_nsp2_v1": ("structure", "ss_rsa_cnnbilstm_nsp2_v1"),
    "ss_rsa_resdcnn_nsp2_v1": ("structure", "ss_rsa_resdcnn_nsp2_v1"),
    "ss_rsa_dis_dcnn96x10_kd_nsp2_v1": ("structure", "ss_rsa_dis_dcnn96x10_kd_nsp2_v1"),
    "ss_rsa_dis_ens3_nsp2_v1": ("structure-ensemble", "ss_rsa_dis_ens3_nsp2_v1"),
    "warfarin_iwpc_v1": ("dosing", "dose_warfarin_iwpc_v1"),
}


def is_shipped(name: object) -> bool:
    """Whether ``name`` is the name of a shipped model (a string key of :data:`SHIPPED`)."""
    return isinstance(name, str) and name in SHIPPED


def available(kind: str | None = None) -> list[str]:
    """Names of the shipped models (of one ``kind``, or ``kind`` prefix) present here."""
    root = resources.files(__name__)
    return [name for name, (k, folder) in SHIPPED.items()
            if (kind is None or k.startswith(kind)) and (root / folder / "config.json").is_file()]


def shipped_folder(name: str) -> Path:
    """The folder of shipped model ``name`` in this installation, as a path on disk (the
    package is installed as files, never zipped; :func:`shipped_path` for either).

    Raises
    ------
    CheckpointError
        ``name`` is not a shipped model.
    """
    if not is_shipped(name):
        raise CheckpointError(f"{name!r} is not a shipped model; shipped models: "
                              f"{', '.join(SHIPPED)}")
    return Path(str(resources.files(__name__) / SHIPPED[name][1]))


@contextlib.contextmanager
def shipped_path(name_or_path: str | os.PathLike) -> Iterator[Path]:
    """The folder of a shipped model name, or ``name_or_path`` itself, as a real path.

    A folder on disk wins over a shipped name of the same spelling. Use as a context manager
    (the files are only guaranteed to exist inside it, as with
    :func:`importlib.resources.as_file`).

    Raises
    ------
    CheckpointError
        A name that is neither a folder nor a shipped model (listing the shipped names), or a
        shipped model whose files are missing from this installation.

    Examples
    --------
    >>> with shipped_path("warfarin_iwpc_v1") as folder:
    ...     (folder / "config.json").is_file()
    True
    """
    path = Path(name_or_path)
    if path.is_dir() or not is_shipped(name_or_path):
        if not path.exists() and not is_shipped(name_or_path):
            raise CheckpointError(f"{name_or_path}: no such model folder or shipped model; "
                                  f"shipped models: {', '.join(SHIPPED)}")
        yield path
        return
    folder = resources.files(__name__) / SHIPPED[str(name_or_path)][1]
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"the shipped model {name_or_path!r} is missing from this "
                              f"installation ({folder}); reinstall bio-mtl or pass a folder")
    with resources.as_file(folder) as real:
        yield Path(real)
