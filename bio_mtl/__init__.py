"""bio_mtl: multi-task learning for protein structure, pharmacogenomic dosing and latent dissection.

The five domain namespaces are loaded lazily so that ``import bio_mtl`` and ``biomtl --help``
stay fast:

- :mod:`bio_mtl.mtl` -- the generic multi-task engine (tasks, heads, weighting, trainer).
- :mod:`bio_mtl.structure` -- per-residue secondary structure and solvent accessibility.
- :mod:`bio_mtl.dosing` -- pharmacogenomic dosing with a shared metabolic-pathway layer.
- :mod:`bio_mtl.expression` -- multi-task models of gene expression (AnnData in, latent out).
- :mod:`bio_mtl.dissect` -- what each latent dimension of a trained model tracks.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

__all__ = ["__version__", "dissect", "dosing", "expression", "mtl", "structure"]

_SUBMODULES = {"mtl", "structure", "dosing", "expression", "dissect"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'bio_mtl' has no attribute {name!r}")
