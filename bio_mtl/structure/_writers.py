"""Prediction writers (TSV, CSV, JSON, SS FASTA, summaries) and the readable text table.

Re-exported by :mod:`bio_mtl.structure.io`; every file is written through
:func:`bio_mtl._io.atomic_write`, so a failure leaves no partial output.
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
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import numpy as np

from .._io import atomic_write
from ..errors import ConfigError
from .alphabet import SS3, SS8
from .results import StructurePrediction

__all__ = ["DISORDER_COLUMNS", "EXPOSED_RSA", "FORMATS", "RESIDUE_COLUMNS", "SUMMARY_COLUMNS",
           "PredictionWriter", "format_table", "open_output", "write_predictions",
           "write_summary"]

#: RSA at or above this is shown as exposed (``e``) by :func:`format_table` (a common cut-off).
EXPOSED_RSA = 0.25

RESIDUE_COLUMNS = ("id", "position", "residue", "ss3", "ss8", "rsa", "asa", "p_H", "p_E", "p_C")
#: Added after :data:`RESIDUE_COLUMNS` for a model with a ``disorder`` head.
DISORDER_COLUMNS = ("p_disorder",)
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


def _column(values: np.ndarray, digits: int) -> tuple[str, list]:
    """A numeric column as ``(printf format, values)``: ``%.<digits>f`` of the numbers, or
    ``%s`` of their text (:func:`_num`) when some are not finite (written as empty cells)."""
    values = np.asarray(values, dtype=np.float64)
    if np.isfinite(values).all():
        return f"%.{digits}f", values.tolist()
    return "%s", [_num(v, digits) for v in values.tolist()]


def _csv_field(text: str, delimiter: str) -> str:
    """``text`` as :mod:`csv` writes it (quoted only where needed, e.g. an id with a comma)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerow([text])
    return out.getvalue()[:-1]


def _residue_text(p: StructurePrediction, delimiter: str, disorder: bool) -> str:
    """The per-residue rows of ``p``, byte for byte what ``csv.writer`` makes of them, but
    printed in one ``%`` operation (the writer must keep up with the model)."""
    n = len(p.seq)
    numeric = [_column(p.rsa, 3), _column(p.asa, 3),
               *(_column(p.ss3_probs[:, j], 4) for j in range(3))]
    if disorder:
        numeric.append(_column(_disorder(p, disorder), 4))
    row = delimiter.join(["%s", "%d", "%s", "%s", "%s", *(f for f, _ in numeric)]) + "\n"
    columns = [[_csv_field(p.id, delimiter)] * n, range(1, n + 1), p.seq, p.ss3, p.ss8,
               *(v for _, v in numeric)]
    return (row * n) % tuple(itertools.chain.from_iterable(zip(*columns, strict=True)))


def _disorder(p: StructurePrediction, disorder: bool) -> np.ndarray | None:
    """The disorder probabilities to write (NaN, an empty cell, where the model has none)."""
    if not disorder:
        return None
    return p.disorder if p.disorder is not None else np.full(len(p.seq), np.nan)


class _Numbers(list):
    """A list of numbers already printed as JSON (``null`` where not finite)."""


_TRAILING_ZEROS = re.compile(r"0+\n")
_BARE_POINT = re.compile(r"\.\n")


def _json_list(values: np.ndarray, digits: int) -> _Numbers:
    """``values`` rounded to ``digits`` decimals as JSON numbers (``null`` if not finite): the
    text ``json.dumps(round(v, digits))`` gives, printed in one ``%`` operation."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    text = (f"%.{digits}f\n" * len(values)) % tuple(np.where(finite, values, 0).tolist())
    numbers = _Numbers(_BARE_POINT.sub(".0\n", _TRAILING_ZEROS.sub("\n", text)).split("\n"))
    numbers.pop()  # after the last newline
    for i in np.flatnonzero(~finite).tolist():
        numbers[i] = "null"
    return numbers


def _json_record(p: StructurePrediction, summary: bool, disorder: bool) -> dict:
    s = {k: (_json_num(v, 4) if isinstance(v, float) else v) for k, v in p.summary().items()}
    if summary:
        return s
    rec: dict = {"id": p.id, "seq": p.seq, "ss3": p.ss3, "ss8": p.ss8,
                 "rsa": _json_list(p.rsa, 3), "asa": _json_list(p.asa, 3)}
    for j, state in enumerate(SS3):
        rec[f"p_{state}"] = _json_list(p.ss3_probs[:, j], 4)
    if disorder:
        rec["p_disorder"] = _json_list(_disorder(p, disorder), 4)
    for j, state in enumerate(SS8):
        rec[f"p8_{state}"] = _json_list(p.ss8_probs[:, j], 4)
    rec["summary"] = s
    return rec


def _json_text(value, depth: int = 0) -> str:
    """``json.dumps(value, indent=1)`` for the dicts, lists and scalars of :func:`_json_record`,
    byte for byte, at C-like speed (``json`` drops to its pure-Python encoder with ``indent``).
    """
    pad = "\n" + " " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = (f"{json.dumps(k)}: {_json_text(v, depth + 1)}" for k, v in value.items())
        return "{" + pad + ("," + pad).join(items) + "\n" + " " * depth + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if isinstance(value, _Numbers):
            items = value
        elif any(isinstance(v, (dict, list)) for v in value):
            items = (_json_text(v, depth + 1) for v in value)
        else:
            items = map(_json_scalar, value)
        return "[" + pad + ("," + pad).join(items) + "\n" + " " * depth + "]"
    return _json_scalar(value)


def _json_scalar(value) -> str:
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not valid JSON")
    return repr(value) if isinstance(value, float) else str(int(value))


class PredictionWriter:
    """Write predictions one at a time, in one of the :data:`FORMATS`, to a text handle.

    What a stream of :meth:`write` calls produces is byte for byte what the format's writer
    gives for the whole list at once, so a run can write each prediction as soon as it is
    ready and forget it (memory does not grow with the number of sequences).

    Parameters
    ----------
    handle
        An open text handle (not closed by the writer).
    fmt
        ``tsv``, ``csv``, ``json`` or ``fasta``.
    summary
        One line per sequence instead of per-residue rows (tsv, csv, json).
    include_ss8
        For ``fasta``, add a record ``>id|ss8`` with the 8-state string.
    header
        Write the column header (tsv, csv); ``False`` for a shard after the first, so that
        the shards' files concatenate into one table.
    disorder
        Add the ``p_disorder`` column (tsv, csv) / array (json); ``None``: when the first
        prediction has a disorder probability.

    Examples
    --------
    >>> import io
    >>> p = StructurePrediction("a", "MK", np.eye(8)[[1, 4]], np.eye(3)[[0, 1]],
    ...                         np.array([0.2, 0.5]))
    >>> out = io.StringIO()
    >>> writer = PredictionWriter(out, "csv", summary=True)
    >>> writer.write(p)
    >>> writer.close()
    >>> print(out.getvalue(), end="")
    id,length,helix,strand,coil,mean_rsa
    a,2,0.500,0.500,0.000,0.350
    """

    def __init__(self, handle: IO[str], fmt: str = "tsv", *, summary: bool = False,
                 include_ss8: bool = False, header: bool = True,
                 disorder: bool | None = None) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown output format {fmt!r}; choose one of "
                              f"{', '.join(sorted(FORMATS))}")
        if fmt == "fasta" and summary:
            raise ConfigError("a summary cannot be written as FASTA; choose tsv, csv or json")
        self.handle, self.fmt, self.summary = handle, fmt, summary
        self.include_ss8, self.header, self.disorder = include_ss8, header, disorder
        self.count = self.residues = 0
        self._delimiter = "\t" if fmt == "tsv" else ","
        self._csv = csv.writer(handle, delimiter=self._delimiter,
                               lineterminator="\n") if fmt in ("tsv", "csv") else None
        self._started = False

    def _start(self, first: StructurePrediction | None) -> None:
        self._started = True
        if self.disorder is None:
            self.disorder = first is not None and first.disorder is not None
        if self._csv is not None and self.header:
            self._csv.writerow(SUMMARY_COLUMNS if self.summary else
                               RESIDUE_COLUMNS + DISORDER_COLUMNS * self.disorder)

    def write(self, prediction: StructurePrediction) -> None:
        """Write one prediction."""
        if not self._started:
            self._start(prediction)
        if self.fmt == "fasta":
            self.handle.write(_fasta_record(prediction, self.include_ss8))
        elif self.fmt == "json":
            text = _json_text(_json_record(prediction, self.summary, self.disorder))
            lead = "[\n " if self.count == 0 else ",\n "
            self.handle.write(lead + text.replace("\n", "\n "))
        elif self.summary:
            self._csv.writerow(_summary_row(prediction))
        else:
            self.handle.write(_residue_text(prediction, self._delimiter, self.disorder))
        self.count += 1
        self.residues += len(prediction.seq)

    def close(self) -> None:
        """Finish the output (the header of an empty table, the end of the JSON list)."""
        if not self._started:
            self._start(None)
        if self.fmt == "json":
            self.handle.write("[]\n" if self.count == 0 else "\n]\n")


def _fasta_record(p: StructurePrediction, include_ss8: bool) -> str:
    lines = [f">{p.id}"] + [p.ss3[k:k + 60] for k in range(0, len(p.ss3), 60)]
    if include_ss8:
        lines += [f">{p.id}|ss8"] + [p.ss8[k:k + 60] for k in range(0, len(p.ss8), 60)]
    return "\n".join(lines) + "\n"


def _writer_function(fmt: str) -> Callable[..., None]:
    def write(predictions: Iterable[StructurePrediction], handle: IO[str], *,
              summary: bool = False, include_ss8: bool = False) -> None:
        writer = PredictionWriter(handle, fmt, summary=summary, include_ss8=include_ss8,
                                  disorder=None)
        for p in predictions:
            writer.write(p)
        writer.close()

    write.__doc__ = f"Write predictions to a text handle as {fmt} (see PredictionWriter)."
    return write


#: Output format name -> writer(predictions, text handle, *, summary, include_ss8).
FORMATS: dict[str, Callable[..., None]] = {}
FORMATS.update((fmt, _writer_function(fmt)) for fmt in ("tsv", "csv", "json", "fasta"))


@contextlib.contextmanager
def open_output(path: str | os.PathLike) -> Iterator[IO[str]]:
    """A text handle on ``path`` that appears only complete (:func:`bio_mtl._io.atomic_write`).

    A regular file is written to a temporary file in its folder and renamed over ``path``
    when the block ends without an error (so it can be written piece by piece for hours and
    a failure leaves nothing); a device file or FIFO (``/dev/stdout``, a named pipe) is
    written directly and never replaced. ``.gz`` paths are gzip-compressed reproducibly: mtime
    0 and the file's own name (without ``.gz``) in the header, not the temporary one.
    """
    if str(path).endswith(".gz"):
        with atomic_write(path, "wb") as raw, \
                gzip.GzipFile(os.path.basename(path), "wb", fileobj=raw, mtime=0) as gz, \
                io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as text:
            yield text
    else:
        with atomic_write(path, "w", newline="\n") as text:
            yield text


def write_predictions(predictions: Iterable[StructurePrediction], path: str | os.PathLike,
                      fmt: str = "tsv", *, summary: bool = False,
                      include_ss8: bool = False) -> None:
    """Write predictions atomically (a failed write leaves no partial file).

    The predictions are written as they come: pass a generator (e.g.
    :func:`~bio_mtl.structure.predict.iter_predictions`) to write a proteome in constant
    memory.

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
          ``asa`` is empty for X), and ``p_disorder`` for a model with a disorder head;
        - ``json``: a list with one object per sequence holding ``seq, ss3, ss8`` strings,
          per-residue ``rsa, asa, p_H, p_E, p_C`` (and ``p_disorder``) and the 8
          ``p8_G ... p8_C`` arrays, and a ``summary``;
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
    with open_output(path) as handle:
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
