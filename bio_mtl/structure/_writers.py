"""Prediction writers (TSV, CSV, JSON, SS FASTA, summaries) and the readable text table.

Re-exported by :mod:`bio_mtl.structure.io`; every file is written through
:func:`bio_mtl._io.atomic_write`, so a failure leaves no partial output.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

import numpy as np

from .._io import atomic_write
from ..errors import ConfigError
from .alphabet import SS3, SS8
from .results import StructurePrediction

__all__ = ["EXPOSED_RSA", "FORMATS", "RESIDUE_COLUMNS", "SUMMARY_COLUMNS", "format_table",
           "write_predictions", "write_summary"]

#: RSA at or above this is shown as exposed (``e``) by :func:`format_table` (a common cut-off).
EXPOSED_RSA = 0.25

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
