"""Shipped dosing models: named constructors over one loader core.

``warfarin_iwpc_v1()`` is a :class:`~bio_mtl.dosing.model.DosingModel` trained on every IWPC
patient with a stable dose (seed 0; see docs/dose.md for its model card), stored as
``bio_mtl/resources/dose_warfarin_iwpc_v1/`` (``model.safetensors`` + ``config.json``). Names are
resolved by the one shipped-model resolver, :func:`bio_mtl.resources.shipped_path`, so they work
after a non-editable install and mean the same model in every command.
"""

from __future__ import annotations

import os

from ..resources import SHIPPED, shipped_path

__all__ = ["DEFAULT_MODEL", "PRETRAINED", "load_pretrained", "warfarin_iwpc_v1"]

#: shipped dosing model name -> resource folder (the dosing rows of :data:`SHIPPED`).
PRETRAINED = {name: folder for name, (kind, folder) in SHIPPED.items() if kind == "dosing"}
DEFAULT_MODEL = "warfarin_iwpc_v1"


def load_pretrained(name_or_path: str | os.PathLike = DEFAULT_MODEL):
    """Load a shipped model by name, or a saved model folder by path.

    Parameters
    ----------
    name_or_path
        A key of :data:`PRETRAINED` or a folder written by
        :meth:`~bio_mtl.dosing.model.DosingModel.save`.

    Returns
    -------
    DosingModel
        The fitted model.

    Raises
    ------
    CheckpointError
        Neither a shipped name nor a dosing checkpoint folder.
    """
    from .model import DosingModel

    with shipped_path(name_or_path) as path:
        return DosingModel.load(path)


def warfarin_iwpc_v1():
    """The shipped warfarin model trained on the IWPC cohort (research use only).

    Returns
    -------
    DosingModel
        The fitted model (see docs/dose.md for its model card).
    """
    return load_pretrained("warfarin_iwpc_v1")
