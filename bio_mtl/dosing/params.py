"""DosingModel hyperparameters from a config file or a saved model, checked by name and type.

``biomtl train-dose --config`` reads its YAML through :func:`read_params` (the one config-file
reader :func:`bio_mtl.mtl.config.read_mapping`, then the one loader
:func:`~bio_mtl.mtl._dataclasses.dataclass_from_dict` over the ``DosingModel.__init__``
signature), so a mistyped value such as ``epochs: many`` is a
:class:`~bio_mtl.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import os
from typing import Any

from ..mtl.checkpoint import read_config
from ..mtl.config import read_mapping
from ..resources import shipped_path
from ._inputs import check_params
from .model import DosingModel

__all__ = ["read_params", "saved_params"]


def read_params(path: str | os.PathLike) -> dict[str, Any]:
    """The DosingModel hyperparameters of a YAML (or JSON) file.

    Parameters
    ----------
    path
        A mapping of :class:`~bio_mtl.dosing.model.DosingModel` parameter names to values.

    Returns
    -------
    dict
        The parameters given (the others keep their defaults).

    Raises
    ------
    ConfigError
        An unreadable file, not a mapping, an unknown key (listing the valid ones), or a
        value of the wrong type or outside its choices (naming the key).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "dose.yaml"
    >>> _ = f.write_text("epochs: many")
    >>> read_params(f)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bio_mtl.errors.ConfigError: ...dose.yaml: DosingModel: epochs: expected an integer, got 'many'
    """
    data = read_mapping(path, what="DosingModel parameters")
    return check_params(DosingModel, data, where=f"{path}: DosingModel")


def saved_params(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The DosingModel hyperparameters of a saved or shipped model (without its weights).

    Parameters
    ----------
    name_or_path
        A model folder or a shipped model name (:data:`bio_mtl.resources.SHIPPED`).

    Raises
    ------
    CheckpointError
        Neither a shipped name nor a dosing checkpoint folder.

    Examples
    --------
    >>> saved_params("warfarin_iwpc_v1")["target"]
    'sqrt'
    """
    with shipped_path(name_or_path) as path:
        return dict(read_config(path, kind="dosing")["config"]["params"])
