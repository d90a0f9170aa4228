"""Shipped dosing models: named constructors over one loader core.

``warfarin_iwpc_v1()`` is a :class:`~bio_mtl.dosing.model.DosingModel` trained on every IWPC
patient with a stable dose (seed 0; see docs/dose.md for its model card), stored as
``bio_mtl/resources/dose_warfarin_iwpc_v1/`` (``model.safetensors`` + ``config.json``) and found
with :mod:`importlib.resources`, so it works after a non-editable install.
"""

from __future__ import annotations

import os
from importlib import resources

from ..errors import CheckpointError

__all__ = ["DEFAULT_MODEL", "PRETRAINED", "load_pretrained", "resource_dir",
           "warfarin_iwpc_v1"]

#: name -> resource folder inside ``bio_mtl.resources``.
PRETRAINED = {"warfarin_iwpc_v1": "dose_warfarin_iwpc_v1"}
DEFAULT_MODEL = "warfarin_iwpc_v1"


def resource_dir(name: str = DEFAULT_MODEL):
    """The folder of a shipped model (a :class:`importlib.resources` traversable)."""
    if name not in PRETRAINED:
        raise CheckpointError(f"unknown pretrained dosing model {name!r}; choose one of "
                              f"{', '.join(PRETRAINED)}")
    folder = resources.files("bio_mtl.resources") / PRETRAINED[name]
    if not folder.is_dir():
        raise CheckpointError(f"the shipped model {name!r} is missing from this installation "
                              f"({folder}); reinstall bio-mtl or pass --model DIR")
    return folder


def load_pretrained(name_or_path: str | os.PathLike = DEFAULT_MODEL):
    """Load a shipped model by name, or a saved model folder by path."""
    from .model import DosingModel

    if str(name_or_path) in PRETRAINED:
        with resources.as_file(resource_dir(str(name_or_path))) as path:
            return DosingModel.load(path)
    return DosingModel.load(name_or_path)


def warfarin_iwpc_v1():
    """The shipped warfarin model trained on the IWPC cohort (research use only)."""
    return load_pretrained("warfarin_iwpc_v1")
