"""Validated FASTA input for the structure predictor (re-exported by :mod:`.io`).

FASTA is parsed by Biopython's :func:`Bio.SeqIO.parse` (Cock et al. 2009, Bioinformatics
25:1422); this module adds the checks a predictor needs and Biopython leaves to the caller:
the file must look like FASTA, ids must be present and unique, sequences must be non-empty
protein sequences (no digits, gaps, internal stops or nucleotides). Non-standard letters follow
one documented policy (``docs/structure_data.md``):

=====  ===========================  ============  ===================
letter meaning                      ``unknown="x"`` ``unknown="error"``
=====  ===========================  ============  ===================
U      selenocysteine               -> C          error
O      pyrrolysine                  -> K          error
B      Asp or Asn (ambiguous)       -> X          error
Z      Glu or Gln (ambiguous)       -> X          error
J      Leu or Ile (ambiguous)       -> X          error
X      unknown                      X             error
=====  ===========================  ============  ===================

Examples
--------
>>> import io
>>> [(r.id, r.seq) for r in read_sequences(io.StringIO(">a\\nmkU*\\n>b\\nACBZ\\n"))]
[('a', 'MKC'), ('b', 'ACXX')]
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from ..errors import ConfigError, FastaFormatError, UnknownResidueError
from ._inputs import text_input
from .alphabet import AMINO_ACIDS

__all__ = ["NUCLEOTIDE_FRACTION", "NUCLEOTIDE_MIN_LENGTH", "RESIDUE_MAP", "SequenceRecord",
           "parse_sequences", "read_sequence", "read_sequences"]

#: Non-standard one-letter codes accepted with ``unknown="x"`` and what they become.
RESIDUE_MAP = {"U": "C", "O": "K", "B": "X", "Z": "X", "J": "X", "X": "X"}
_STANDARD = frozenset(AMINO_ACIDS)
_ALLOWED = f"{AMINO_ACIDS} plus X/B/Z/J/U/O (mapped)"
_NUCLEOTIDES = frozenset("ACGTUN")
#: A sequence this long or longer made of >= this fraction of A/C/G/T/U/N is taken as nucleotides.
NUCLEOTIDE_MIN_LENGTH = 20
NUCLEOTIDE_FRACTION = 0.9


@dataclass(frozen=True)
class SequenceRecord:
    """One validated protein sequence.

    Unpacks as ``(id, seq)``, so ``for rid, seq in read_sequences(path)`` works.

    Attributes
    ----------
    id
        The FASTA id (first word of the header).
    seq
        Upper-case sequence over ``ACDEFGHIKLMNPQRSTVWY`` and ``X``.
    description
        The full header line after ``>``.
    """

    id: str
    seq: str
    description: str = ""

    def __iter__(self) -> Iterator[str]:
        return iter((self.id, self.seq))

    def __len__(self) -> int:
        return len(self.seq)


# --------------------------------------------------------------------------------------------
# FASTA reading
# --------------------------------------------------------------------------------------------


def _source_name(source) -> str:
    if hasattr(source, "read"):
        return str(getattr(source, "name", "<stream>"))
    return "<stdin>" if str(source) == "-" else str(source)


class _Lines:
    """The lines of a FASTA text handle for Biopython's parser, read lazily and counted.

    Biopython's :class:`~Bio.SeqIO.FastaIO.FastaIterator` reads from this; it notes each
    record's header line number and the residues on each of its lines (for messages such as
    "position 57 (line 2)"), so nothing but the current record is held in memory. Decoding
    problems, NUL bytes and truncated gzip members become :class:`FastaFormatError`.
    """

    def __init__(self, handle: IO[str], name: str) -> None:
        self._handle = handle
        self.name = name
        self.number = 0  # lines read so far
        self.records: collections.deque[tuple[int, list[int]]] = collections.deque()
        self._pending: str | None = None

    def first_header(self) -> bool:
        """Skip leading blank lines up to the first header (``False``: an empty file).

        Raises
        ------
        FastaFormatError
            The first non-blank line is not a ``>`` header.
        """
        while True:
            line = self._next_line()
            if not line:
                return False
            if line.strip():
                break
        if not line.startswith(">"):
            shown = " ".join(line.split())
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise FastaFormatError(
                f"does not look like FASTA (first line {shown!r} does not start with '>'); "
                "pass a FASTA file of protein sequences", path=self.name)
        self._pending = line
        return True

    def _next_line(self) -> str:
        try:
            line = self._handle.readline()
        except UnicodeDecodeError:
            raise FastaFormatError("does not look like FASTA (binary content, not UTF-8 "
                                   "text)", path=self.name) from None
        except (OSError, EOFError) as exc:  # truncated or corrupt gzip
            raise FastaFormatError(f"cannot be read ({exc})", path=self.name) from None
        if isinstance(line, bytes):
            raise FastaFormatError("expected a text handle, got a binary one", path=self.name)
        if "\x00" in line:
            raise FastaFormatError("does not look like FASTA (binary content)", path=self.name)
        if line:
            self.number += 1
        return line

    def read(self, size: int = -1) -> str:
        """Only ``read(0)`` is used (Biopython's text-mode check)."""
        if size:
            raise NotImplementedError("read the lines one at a time")
        return ""

    def readline(self) -> str:
        """The next line, noted as a header or as residues of the current record."""
        if self._pending is not None:
            line, self._pending = self._pending, None
        else:
            line = self._next_line()
        if line.startswith(">"):
            self.records.append((self.number, []))
        elif line and self.records:
            self.records[-1][1].append(len("".join(line.split())))
        return line

    def __iter__(self) -> Iterator[str]:
        return iter(self.readline, "")


def _line_of(header_line: int, residues_per_line: list[int], position: int) -> int:
    """Line number holding residue ``position`` (1-based) of the record at ``header_line``."""
    seen = 0
    for offset, count in enumerate(residues_per_line, 1):
        seen += count
        if seen >= position:
            return header_line + offset
    return header_line + len(residues_per_line)


def _is_nucleotide(seq: str) -> tuple[bool, float]:
    if len(seq) < NUCLEOTIDE_MIN_LENGTH:
        return False, 0.0
    frac = sum(seq.count(c) for c in _NUCLEOTIDES) / len(seq)
    return frac >= NUCLEOTIDE_FRACTION, frac


def _clean(seq: str, rid: str, name: str, where: Callable[[int], str], unknown: str, *,
           line: int) -> str:
    """Validate and normalise one sequence (see the module docstring for the policy).

    ``line`` is the header's line number; ``where(position)`` names the line of a residue.
    """
    seq = seq.upper()
    if seq.endswith("*"):
        seq = seq[:-1]
    if not seq:
        raise FastaFormatError(f"empty sequence (header on line {line})", path=name, record=rid)
    nucleotide, frac = _is_nucleotide(seq)
    if nucleotide:
        raise FastaFormatError(
            f"looks like a nucleotide sequence ({100 * frac:.0f}% A/C/G/T/U/N over "
            f"{len(seq)} letters, header on line {line}); translate it to protein first "
            "(e.g. Bio.Seq.translate)", path=name, record=rid)
    if _STANDARD.issuperset(seq):  # fast path: nothing to map or report
        return seq
    out = []
    for i, c in enumerate(seq, 1):
        if c in _STANDARD:
            out.append(c)
        elif c in RESIDUE_MAP:
            if unknown == "error":
                raise UnknownResidueError(
                    f"non-standard residue {c!r} at position {i}{where(i)}; rerun with "
                    "unknown='x' (CLI: --unknown-residue x) to map U->C, O->K, B/Z/J->X",
                    path=name, record=rid)
            out.append(RESIDUE_MAP[c])
        elif c == "*":
            raise FastaFormatError(f"internal stop '*' at position {i}{where(i)}; only a "
                                   "trailing stop is accepted (and dropped)",
                                   path=name, record=rid)
        elif c in "-.":
            raise FastaFormatError(f"gap character {c!r} at position {i}{where(i)}: aligned "
                                   "FASTA is not accepted; remove the gaps first",
                                   path=name, record=rid)
        else:
            raise UnknownResidueError(f"unknown residue {c!r} at position {i}{where(i)}; "
                                      f"allowed: {_ALLOWED}", path=name, record=rid)
    return "".join(out)


def parse_sequences(source: str | os.PathLike | IO[str], *,
                    unknown: str = "x") -> Iterator[SequenceRecord]:
    """Iterate over the validated protein sequences of a FASTA file, reading it lazily.

    The file is read line by line as the records are consumed (a proteome of any size is never
    held in memory); only the ids seen so far are kept, to refuse a duplicate.

    Parameters
    ----------
    source
        Path to a FASTA file (plain or gzip, detected by its magic bytes), ``"-"`` for
        standard input, or an open text handle.
    unknown
        ``"x"`` maps U->C, O->K, B/Z/J->X and keeps X; ``"error"`` raises
        :class:`~bio_mtl.errors.UnknownResidueError` on any of them.

    Yields
    ------
    SequenceRecord
        Upper-case sequence with a trailing ``*`` removed.

    Raises
    ------
    FastaFormatError
        Not FASTA, empty file, empty or duplicate id, empty sequence, nucleotide sequence,
        gaps or internal stop codon; the message names the file, record, line and position.
        A problem is raised when the reader reaches it: records before it have been yielded.
    UnknownResidueError
        A letter outside the protein alphabet (or a non-standard one with ``unknown="error"``).
    """
    from Bio.SeqIO.FastaIO import FastaIterator

    if unknown not in ("x", "error"):
        raise ConfigError(f"unknown={unknown!r}: choose 'x' or 'error'")
    name = _source_name(source)
    with text_input(source, what="file") as handle:
        lines = _Lines(handle, name)
        if not lines.first_header():
            raise FastaFormatError("empty file: no FASTA records", path=name)
        seen: dict[str, int] = {}
        for k, rec in enumerate(FastaIterator(lines)):
            yield _checked(rec, k, lines.records.popleft(), seen, name, unknown)


def _checked(rec, k: int, lines: tuple[int, list[int]], seen: dict[str, int], name: str,
             unknown: str) -> SequenceRecord:
    """The validated :class:`SequenceRecord` of Biopython's record ``k``; ``lines`` is its
    header's line number and the residues on each of its lines."""
    line, residues_per_line = lines

    def where(position: int) -> str:
        return f" (line {_line_of(line, residues_per_line, position)})"

    if not rec.id:
        raise FastaFormatError(f"record {k + 1} (line {line}) has an empty id; "
                               "write an identifier after '>'", path=name)
    if rec.id in seen:
        raise FastaFormatError(f"duplicate id (lines {seen[rec.id]} and {line}); ids "
                               "must be unique", path=name, record=rec.id)
    seen[rec.id] = line
    seq = _clean(str(rec.seq), rec.id, name, where, unknown, line=line)
    return SequenceRecord(rec.id, seq, rec.description)


def read_sequences(source: str | os.PathLike | IO[str], *,
                   unknown: str = "x") -> list[SequenceRecord]:
    """Read and validate all sequences of a FASTA file (see :func:`parse_sequences`).

    Parameters
    ----------
    source
        Path (plain or gzip), ``"-"`` for stdin, or a text handle.
    unknown
        ``"x"`` (map non-standard letters) or ``"error"``.

    Returns
    -------
    list of SequenceRecord
    """
    return list(parse_sequences(source, unknown=unknown))


def read_sequence(source: str | os.PathLike | IO[str], *, unknown: str = "x") -> SequenceRecord:
    """Read a FASTA file that holds exactly one sequence.

    Parameters
    ----------
    source
        Path (plain or gzip), ``"-"`` for stdin, or a text handle.
    unknown
        ``"x"`` (map non-standard letters) or ``"error"``.

    Returns
    -------
    SequenceRecord
    """
    records = read_sequences(source, unknown=unknown)
    if len(records) != 1:
        raise FastaFormatError(f"expected exactly one sequence, found {len(records)}",
                               path=_source_name(source))
    return records[0]

