"""The one mapping from library errors to click exceptions and exit codes.

| exit code | meaning |
|---|---|
| 0 | success |
| 1 | unexpected internal error (traceback only with ``--debug``) |
| 2 | usage error (bad option or argument, from click) |
| 3 | bad input data (FASTA, genotype, table, AnnData) |
| 4 | bad model, checkpoint or config |
| 5 | an output could not be written (disk full, read-only file system, I/O error) |
"""

from __future__ import annotations

import click

from ..errors import BioMTLError, InputError, ModelError, OutputError

__all__ = ["EXIT_CODES", "BadInput", "BadModel", "BadOutput", "translate"]


class BadInput(click.ClickException):
    """Bad input data (exit code 3)."""

    exit_code = 3


class BadModel(click.ClickException):
    """Bad model, checkpoint or config (exit code 4)."""

    exit_code = 4


class BadOutput(click.ClickException):
    """An output that could not be written (exit code 5)."""

    exit_code = 5


EXIT_CODES = {"ok": 0, "internal": 1, "usage": 2, "input": 3, "model": 4, "output": 5}


def translate(exc: BioMTLError) -> click.ClickException:
    """Return the click exception (with its exit code) for a library error."""
    message = " ".join(str(exc).split("\n"))
    if isinstance(exc, ModelError):
        return BadModel(message)
    if isinstance(exc, InputError):
        return BadInput(message)
    if isinstance(exc, OutputError):
        return BadOutput(message)
    return click.ClickException(message)
