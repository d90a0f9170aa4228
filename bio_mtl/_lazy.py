"""Lazy public names for the packages: ``import bio_mtl.structure`` loads nothing heavy.

Each application package (``mtl``, ``structure``, ``dosing``, ``dissect``, ``expression``)
lists its public names and the submodule defining each; a name is imported on first use and then
kept in the package's namespace. So ``import bio_mtl.structure`` or reading a checkpoint's
``config.json`` does not import torch, while ``from bio_mtl.structure import StructureModel``
works as an eager import would.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: dict[str, str], names: Iterable[str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a package with lazily loaded names.

    Parameters
    ----------
    package
        The package's ``__name__``.
    where
        Public name -> the submodule that defines it (``"model"`` or ``".model"``).
    names
        What ``dir(package)`` lists (its ``__all__``).

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("bio_mtl", {"lazy_exports": "._lazy"}, ["lazy_exports"])
    >>> getattr_("lazy_exports") is lazy_exports, dir_()
    (True, ['lazy_exports'])
    """
    listed = sorted(names)

    def getattr_(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = where[name] if where[name].startswith(".") else f".{where[name]}"
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return listed

    return getattr_, dir_
