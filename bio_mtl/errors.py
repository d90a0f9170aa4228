"""The bio_mtl exception tree.

Every error a user can cause is a :class:`BioMTLError`. The CLI maps each branch to one exit
code (see ``cli/errors.py``): input data -> 3, model/checkpoint/config -> 4, output that could not
be written (disk full, I/O error) -> 5.
"""

from __future__ import annotations

__all__ = [
    "BioMTLError",
    "CheckpointError",
    "ConfigError",
    "FastaFormatError",
    "InputError",
    "MissingColumnError",
    "ModelError",
    "NotFittedError",
    "OutputError",
    "UnknownAlleleError",
    "UnknownResidueError",
]


class BioMTLError(Exception):
    """Base class of every error bio_mtl raises on purpose."""


class InputError(BioMTLError, ValueError):
    """Bad user input data.

    Parameters
    ----------
    problem
        What is wrong, in words.
    path
        The file the problem is in, if any.
    record
        The record (sequence id, row, sample) the problem is in, if any.
    """

    def __init__(self, problem: str, *, path: object = None, record: object = None) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.record = None if record is None else str(record)
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.path:
            parts.append(self.path)
        if self.record:
            parts.append(f"record {self.record!r}" if not self.record.startswith("row ") else self.record)
        parts.append(self.problem)
        return ": ".join(parts)


class FastaFormatError(InputError):
    """A FASTA file that cannot be parsed or has an invalid record."""


class UnknownResidueError(InputError):
    """A sequence letter outside the accepted amino-acid alphabet."""


class UnknownAlleleError(InputError):
    """A gene, star allele or variant that the genotype tables do not define."""


class MissingColumnError(InputError):
    """A table lacks a required column."""


class ModelError(BioMTLError):
    """A model that cannot be built, loaded or used."""


class CheckpointError(ModelError, ValueError):
    """A checkpoint directory or file that is corrupt, foreign or incompatible."""


class ConfigError(ModelError, ValueError):
    """An invalid configuration key or value."""


class NotFittedError(BioMTLError, ValueError, AttributeError):
    """An estimator used before ``fit``."""


class OutputError(BioMTLError):
    """An output that could not be written (disk full, read-only file system, I/O error).

    Raised while writing, after the checks made up front passed; nothing partial is left.

    Parameters
    ----------
    problem
        What went wrong, in words.
    path
        The output being written.
    """

    def __init__(self, problem: str, *, path: object = None) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
