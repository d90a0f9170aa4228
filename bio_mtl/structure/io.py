"""Structure input/output: validated FASTA input, labelled JSON lines, prediction writers.

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

import contextlib
import csv
import gzip
import io
import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

import numpy as np

from .._io import atomic_write, open_text
from ..errors import ConfigError, FastaFormatError, InputError, UnknownResidueError
from .alphabet import AMINO_ACIDS, SS3, SS8
from .results import StructurePrediction

__all__ = ["FORMATS", "RESIDUE_MAP", "SequenceRecord", "format_table", "parse_sequences",
           "read_labelled", "read_sequence", "read_sequences", "write_predictions",
           "write_summary"]

#: Non-standard one-letter codes accepted with ``unknown="x"`` and what they become.
RESIDUE_MAP = {"U": "C", "O": "K", "B": "X", "Z": "X", "J": "X", "X": "X"}
_STANDARD = frozenset(AMINO_ACIDS)
_ALLOWED = f"{AMINO_ACIDS} plus X/B/Z/J/U/O (mapped)"
_NUCLEOTIDES = frozenset("ACGTUN")
#: A sequence this long or longer made of >= this fraction of A/C/G/T/U/N is taken as nucleotides.
NUCLEOTIDE_MIN_LENGTH = 20
NUCLEOTIDE_FRACTION = 0.9
#: RSA at or above this is shown as exposed (``e``) by :func:`format_table` (a common cut-off).
EXPOSED_RSA = 0.25


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


def _read_text(source, name: str) -> str:
    try:
        handle = open_text(source)
    except FileNotFoundError:
        raise FastaFormatError("no such file", path=name) from None
    except IsADirectoryError:
        raise FastaFormatError("is a directory, expected a FASTA file", path=name) from None
    try:
        text = handle.read()
    except UnicodeDecodeError:
        raise FastaFormatError("does not look like FASTA (binary content, not UTF-8 text)",
                               path=name) from None
    except (OSError, EOFError) as exc:  # truncated or corrupt gzip
        raise FastaFormatError(f"cannot be read ({exc})", path=name) from None
    finally:
        if handle is not source and str(source) != "-":
            handle.close()
    if isinstance(text, bytes):
        raise FastaFormatError("expected a text handle, got a binary one", path=name)
    if "\x00" in text:
        raise FastaFormatError("does not look like FASTA (binary content)", path=name)
    return text


def _header_lines(text: str, name: str) -> list[int]:
    """1-based line numbers of the ``>`` header lines; checks that the file starts like FASTA."""
    headers: list[int] = []
    first_seen = False
    for number, line in enumerate(text.split("\n"), 1):  # as Biopython splits
        if not first_seen:
            if not line.strip():
                continue
            if not line.startswith(">"):
                shown = " ".join(line.split())
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                raise FastaFormatError(
                    f"does not look like FASTA (first line {shown!r} does not start with '>'); "
                    "pass a FASTA file of protein sequences", path=name)
            first_seen = True
        if line.startswith(">"):
            headers.append(number)
    if not first_seen:
        raise FastaFormatError("empty file: no FASTA records", path=name)
    return headers


def _line_of(text_lines: list[str], header_line: int, position: int) -> int:
    """Line number holding residue ``position`` (1-based) of the record at ``header_line``."""
    seen = 0
    number = header_line
    for number in range(header_line + 1, len(text_lines) + 1):
        line = text_lines[number - 1]
        if line.startswith(">"):
            break
        seen += len("".join(line.split()))
        if seen >= position:
            return number
    return number


def _is_nucleotide(seq: str) -> tuple[bool, float]:
    if len(seq) < NUCLEOTIDE_MIN_LENGTH:
        return False, 0.0
    frac = sum(seq.count(c) for c in _NUCLEOTIDES) / len(seq)
    return frac >= NUCLEOTIDE_FRACTION, frac


def _clean(seq: str, rid: str, name: str, where: Callable[[int], str], unknown: str) -> str:
    """Validate and normalise one sequence (see the module docstring for the policy)."""
    seq = seq.upper()
    if seq.endswith("*"):
        seq = seq[:-1]
    if not seq:
        raise FastaFormatError("empty sequence", path=name, record=rid)
    nucleotide, frac = _is_nucleotide(seq)
    if nucleotide:
        raise FastaFormatError(
            f"looks like a nucleotide sequence ({100 * frac:.0f}% A/C/G/T/U/N over "
            f"{len(seq)} letters); translate it to protein first (e.g. Bio.Seq.translate)",
            path=name, record=rid)
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
    """Iterate over the validated protein sequences of a FASTA file.

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
    UnknownResidueError
        A letter outside the protein alphabet (or a non-standard one with ``unknown="error"``).
    """
    from Bio import SeqIO

    if unknown not in ("x", "error"):
        raise ConfigError(f"unknown={unknown!r}: choose 'x' or 'error'")
    name = _source_name(source)
    text = _read_text(source, name)
    headers = _header_lines(text, name)
    lines = text.split("\n")
    seen: dict[str, int] = {}
    # start at the first header: Biopython's "fasta" format refuses leading blank lines
    parsed = SeqIO.parse(io.StringIO(text[text.index(">"):]), "fasta")
    for k in itertools.count():
        try:
            rec = next(parsed)
        except StopIteration:
            break
        except ValueError as exc:  # anything Biopython itself rejects
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FastaFormatError(f"not valid FASTA ({reason})", path=name) from None
        line = headers[k]
        if not rec.id:
            raise FastaFormatError(f"record {k + 1} (line {line}) has an empty id; "
                                   "write an identifier after '>'", path=name)
        if rec.id in seen:
            raise FastaFormatError(f"duplicate id (lines {seen[rec.id]} and {line}); ids "
                                   "must be unique", path=name, record=rec.id)
        seen[rec.id] = line

        def where(pos: int, _line: int = line) -> str:
            return f" (line {_line_of(lines, _line, pos)})"

        seq = _clean(str(rec.seq), rec.id, name, where, unknown)
        yield SequenceRecord(rec.id, seq, rec.description)


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


# --------------------------------------------------------------------------------------------
# Labelled JSON lines
# --------------------------------------------------------------------------------------------

_LABELLED_SEQ = frozenset(AMINO_ACIDS) | frozenset(RESIDUE_MAP)
_SS8_SET = frozenset(SS8)


def _check_labelled(rec, name: str, line: int) -> dict:
    where = f"line {line}"
    if not isinstance(rec, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(rec).__name__}", path=name)
    missing = [k for k in ("id", "seq", "ss8", "rsa", "mask") if k not in rec]
    if missing:
        raise InputError(f"{where}: missing key(s) {', '.join(missing)}; each record needs "
                         "id, seq, ss8, rsa, mask", path=name, record=rec.get("id"))
    rid = rec["id"]
    if not isinstance(rid, str) or not rid:
        raise InputError(f"{where}: 'id' must be a non-empty string", path=name)
    seq, ss8, rsa, mask = rec["seq"], rec["ss8"], rec["rsa"], rec["mask"]
    for key, value in (("seq", seq), ("ss8", ss8), ("mask", mask)):
        if not isinstance(value, str):
            raise InputError(f"{where}: {key!r} must be a string", path=name, record=rid)
    if not isinstance(rsa, list):
        raise InputError(f"{where}: 'rsa' must be a list of numbers or null", path=name,
                         record=rid)
    n = len(seq)
    if n == 0:
        raise InputError(f"{where}: empty sequence", path=name, record=rid)
    lengths = {"seq": n, "ss8": len(ss8), "rsa": len(rsa), "mask": len(mask)}
    if len(set(lengths.values())) != 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise InputError(f"{where}: lengths differ ({shown})", path=name, record=rid)
    for key, value, allowed in (("seq", seq, _LABELLED_SEQ), ("ss8", ss8, _SS8_SET),
                                ("mask", mask, frozenset("01"))):
        for i, c in enumerate(value, 1):
            if c not in allowed:
                raise InputError(f"{where}: {key} has {c!r} at position {i}; allowed: "
                                 f"{''.join(sorted(allowed))}", path=name, record=rid)
    for i, v in enumerate(rsa, 1):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise InputError(f"{where}: rsa[{i}] = {v!r} is not a number in [0, 1] or null",
                             path=name, record=rid)
    return {"id": rid, "seq": seq, "ss8": ss8, "rsa": [None if v is None else float(v)
                                                        for v in rsa], "mask": mask}


def read_labelled(path: str | os.PathLike | IO[str]) -> list[dict]:
    """Read labelled chains in the shared JSON-lines format (plain or gzip).

    One JSON object per line: ``{"id", "seq", "ss8", "rsa", "mask"}`` with equal lengths,
    ``ss8`` over ``GHIBESTC``, ``mask`` over ``01`` and ``rsa`` a list of numbers in [0, 1] or
    null (the NetSurfP-2.0 derived format, Klausen et al. 2019, Proteins 87:520).

    Parameters
    ----------
    path
        File path (gzip detected by magic bytes), ``"-"`` or a text handle.

    Returns
    -------
    list of dict
        The records with ``rsa`` values as float or None.

    Raises
    ------
    InputError
        Invalid JSON, a missing key, unequal lengths, a bad letter or value, or a duplicate
        id; the message names the file and line.
    """
    name = _source_name(path)
    try:
        handle = open_text(path)
    except FileNotFoundError:
        raise InputError("no such file", path=name) from None
    out: list[dict] = []
    ids: dict[str, int] = {}
    try:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {number}: not valid JSON ({exc.msg}); expected one "
                                 "JSON object per line", path=name) from None
            rec = _check_labelled(rec, name, number)
            if rec["id"] in ids:
                raise InputError(f"line {number}: duplicate id (first on line "
                                 f"{ids[rec['id']]})", path=name, record=rec["id"])
            ids[rec["id"]] = number
            out.append(rec)
    except UnicodeDecodeError:
        raise InputError("not a JSON-lines text file (binary content)", path=name) from None
    finally:
        if handle is not path and str(path) != "-":
            handle.close()
    if not out:
        raise InputError("no records (empty file)", path=name)
    return out


# --------------------------------------------------------------------------------------------
# Prediction writers
# --------------------------------------------------------------------------------------------

RESIDUE_COLUMNS = ("id", "position", "residue", "ss3", "ss8", "rsa", "asa", "p_H", "p_E", "p_C")
SUMMARY_COLUMNS = ("id", "length", "helix", "strand", "coil", "mean_rsa")


def _num(value: float, digits: int) -> str:
    value = float(value)
    return "" if not math.isfinite(value) else f"{value:.{digits}f}"


def _json_num(value: float, digits: int) -> float | None:
    value = float(value)
    return None if not math.isfinite(value) else round(value, digits)


def _summary_row(p: StructurePrediction) -> list[str]:
    s = p.summary()
    return [str(s["id"]), str(s["length"]), _num(s["helix"], 3), _num(s["strand"], 3),
            _num(s["coil"], 3), _num(s["mean_rsa"], 3)]


def _residue_rows(p: StructurePrediction) -> Iterator[list[str]]:
    ss3, ss8, asa = p.ss3, p.ss8, p.asa
    for i, aa in enumerate(p.seq):
        yield [p.id, str(i + 1), aa, ss3[i], ss8[i], _num(p.rsa[i], 3), _num(asa[i], 3),
               *(_num(v, 4) for v in p.ss3_probs[i])]


def _write_delimited(predictions, handle: IO[str], delimiter: str, summary: bool) -> None:
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    if summary:
        writer.writerow(SUMMARY_COLUMNS)
        writer.writerows(_summary_row(p) for p in predictions)
        return
    writer.writerow(RESIDUE_COLUMNS)
    for p in predictions:
        writer.writerows(_residue_rows(p))


def _write_tsv(predictions, handle: IO[str], *, summary: bool = False, **_) -> None:
    _write_delimited(predictions, handle, "\t", summary)


def _write_csv(predictions, handle: IO[str], *, summary: bool = False, **_) -> None:
    _write_delimited(predictions, handle, ",", summary)


def _json_record(p: StructurePrediction, summary: bool) -> dict:
    s = {k: (_json_num(v, 4) if isinstance(v, float) else v) for k, v in p.summary().items()}
    if summary:
        return s
    rec: dict = {"id": p.id, "seq": p.seq, "ss3": p.ss3, "ss8": p.ss8,
                 "rsa": [_json_num(v, 3) for v in p.rsa],
                 "asa": [_json_num(v, 3) for v in p.asa]}
    for j, state in enumerate(SS3):
        rec[f"p_{state}"] = [_json_num(v, 4) for v in p.ss3_probs[:, j]]
    for j, state in enumerate(SS8):
        rec[f"p8_{state}"] = [_json_num(v, 4) for v in p.ss8_probs[:, j]]
    rec["summary"] = s
    return rec


def _write_json(predictions, handle: IO[str], *, summary: bool = False, **_) -> None:
    json.dump([_json_record(p, summary) for p in predictions], handle, indent=1)
    handle.write("\n")


def _write_fasta(predictions, handle: IO[str], *, summary: bool = False,
                 include_ss8: bool = False) -> None:
    if summary:
        raise ConfigError("a summary cannot be written as FASTA; choose tsv, csv or json")
    for p in predictions:
        handle.write(f">{p.id}\n")
        for k in range(0, len(p.ss3), 60):
            handle.write(p.ss3[k:k + 60] + "\n")
        if include_ss8:
            handle.write(f">{p.id}|ss8\n")
            for k in range(0, len(p.ss8), 60):
                handle.write(p.ss8[k:k + 60] + "\n")


#: Output format name -> writer(predictions, text handle, *, summary, include_ss8).
FORMATS: dict[str, Callable[..., None]] = {
    "tsv": _write_tsv,
    "csv": _write_csv,
    "json": _write_json,
    "fasta": _write_fasta,
}


@contextlib.contextmanager
def _open_output(path: str | os.PathLike) -> Iterator[IO[str]]:
    """Atomic text output; ``.gz`` paths are gzip-compressed (reproducibly, mtime 0)."""
    if str(path).endswith(".gz"):
        with atomic_write(path, "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
                io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as text:
            yield text
    else:
        with atomic_write(path, "w", newline="\n") as text:
            yield text


def write_predictions(predictions: Sequence[StructurePrediction], path: str | os.PathLike,
                      fmt: str = "tsv", *, summary: bool = False,
                      include_ss8: bool = False) -> None:
    """Write predictions atomically (a failed write leaves no partial file).

    Parameters
    ----------
    predictions
        :class:`~bio_mtl.structure.results.StructurePrediction` objects.
    path
        Output file; a ``.gz`` suffix gzip-compresses it.
    fmt
        One of :data:`FORMATS`:

        - ``tsv`` / ``csv``: one row per residue with columns ``id, position`` (1-based)
          ``, residue, ss3, ss8, rsa, asa, p_H, p_E, p_C`` (rsa/asa 3 decimals, probabilities 4;
          ``asa`` is empty for X);
        - ``json``: a list with one object per sequence holding ``seq, ss3, ss8`` strings,
          per-residue ``rsa, asa, p_H, p_E, p_C`` and the 8 ``p8_G ... p8_C`` arrays, and a
          ``summary``;
        - ``fasta``: ``>id`` and the SS3 string (60 per line).
    summary
        Write one line per sequence (``id, length, helix, strand, coil, mean_rsa``) instead of
        per-residue values (tsv, csv, json).
    include_ss8
        For ``fasta``, add a second record ``>id|ss8`` with the 8-state string.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown output format {fmt!r}; choose one of "
                          f"{', '.join(sorted(FORMATS))}")
    if fmt == "fasta" and summary:
        raise ConfigError("a summary cannot be written as FASTA; choose tsv, csv or json")
    predictions = list(predictions)
    with _open_output(path) as handle:
        FORMATS[fmt](predictions, handle, summary=summary, include_ss8=include_ss8)


def write_summary(predictions: Iterable[StructurePrediction], path: str | os.PathLike) -> None:
    """Write the per-sequence summary TSV (length, helix/strand/coil fractions, mean RSA).

    Parameters
    ----------
    predictions
        Prediction objects.
    path
        Output file (atomic; ``.gz`` compresses).
    """
    write_predictions(list(predictions), path, "tsv", summary=True)


def _confidence(probs: np.ndarray) -> str:
    """PSIPRED-style 0-9 confidence: 10 x (top probability - second), capped at 9."""
    top2 = np.sort(probs, axis=1)[:, -2:]
    conf = np.clip(np.floor(10 * (top2[:, 1] - top2[:, 0])), 0, 9).astype(int)
    return "".join(str(c) for c in conf)


def format_table(predictions: Iterable[StructurePrediction], *, max_residues: int = 3000,
                 width: int = 60) -> str:
    """A readable text block per sequence, in the style of PSIPRED's horizontal output.

    Each block of ``width`` residues shows a ruler, the sequence, the SS3 and SS8 strings, a
    0-9 SS3 confidence (``10 x (p_top - p_second)``, as PSIPRED's ``Conf`` line) and RSA as
    ``b``/``e`` (buried / exposed at RSA >= 0.25).

    Parameters
    ----------
    predictions
        Prediction objects.
    max_residues
        Show at most this many residues per sequence (the rest is announced, not shown).
    width
        Residues per line.

    Returns
    -------
    str
    """
    blocks = []
    for p in predictions:
        n = len(p.seq)
        shown = min(n, max_residues)
        ss3, ss8 = p.ss3, p.ss8
        conf = _confidence(np.asarray(p.ss3_probs)[:shown])
        rsa = "".join("e" if r >= EXPOSED_RSA else "b" for r in np.asarray(p.rsa)[:shown])
        s = p.summary()
        lines = [f">{p.id}  length {n}  helix {s['helix']:.2f}  strand {s['strand']:.2f}  "
                 f"coil {s['coil']:.2f}  mean RSA {s['mean_rsa']:.2f}"]
        for k in range(0, shown, width):
            end = min(k + width, shown)
            ruler = "".join(f"{i:>10d}" for i in range(k + 10, end + 1, 10))
            lines += ["", f"       {ruler}", f"  AA:  {p.seq[k:end]}", f"  SS3: {ss3[k:end]}",
                      f"  SS8: {ss8[k:end]}", f"  Conf:{conf[k:end]}", f"  RSA: {rsa[k:end]}"]
        if shown < n:
            lines += ["", f"  ... {n - shown} more residues not shown; write them with -o FILE"]
        blocks.append("\n".join(lines))
    legend = ("SS3: H helix, E strand, C coil; SS8: DSSP G H I B E S T C; Conf: 0 (low) - 9; "
              f"RSA: b buried / e exposed (RSA >= {EXPOSED_RSA})")
    return "\n\n".join([*blocks, legend])
