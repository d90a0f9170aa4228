"""The ``biomtl`` command line (installed as ``bio_mtl.cli``; relative imports only)."""

from __future__ import annotations

from .main import cli, main

__all__ = ["cli", "main"]
