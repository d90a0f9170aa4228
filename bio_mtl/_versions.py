"""Versions of the packages that matter for reproducing a result."""

from __future__ import annotations

import importlib.metadata as md
import platform

__all__ = ["versions"]

_PACKAGES = ("torch", "numpy", "fair-esm", "scikit-learn", "pandas", "scanpy", "anndata", "biopython")


def versions() -> dict[str, str]:
    """Return ``{package: version}`` for bio_mtl, Python and its key dependencies."""
    from ._version import __version__

    out = {"bio_mtl": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out
