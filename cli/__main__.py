"""``python -m bio_mtl.cli`` runs ``biomtl`` (needed by ``torchrun -m bio_mtl.cli ...``)."""

from __future__ import annotations

from .main import main

if __name__ == "__main__":
    main()
