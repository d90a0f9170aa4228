"""Structure input/output: validated FASTA input, labelled JSON lines, prediction writers.

One import point for the three families, each in its own module:

* FASTA input (:mod:`._fasta`): :func:`parse_sequences`, :func:`read_sequences`,
  :func:`read_sequence` through Biopython's :func:`Bio.SeqIO.parse` plus the checks a predictor
  needs (ids, empty sequences, junk, nucleotides, stops, non-standard letters by the policy of
  :data:`RESIDUE_MAP`);
* labelled chains in the shared JSON-lines format: :func:`read_labelled` (here);
* prediction output (:mod:`._writers`): :func:`write_predictions`, :func:`write_summary`,
  the streaming :class:`PredictionWriter` and :func:`open_output`, :func:`format_table` and
  the :data:`FORMATS` registry.

Examples
--------
>>> import io
>>> [(r.id, r.seq) for r in read_sequences(io.StringIO(">a\\nmkU*\\n>b\\nACBZ\\n"))]
[('a', 'MKC'), ('b', 'ACXX')]
"""

from __future__ import annotations

import json
import os
from typing import IO

from ..errors import InputError
from ._fasta import (
    RESIDUE_MAP,
    SequenceRecord,
    _source_name,
    parse_sequences,
    read_sequence,
    read_sequences,
)
from ._inputs import text_input
from ._writers import (
    DISORDER_COLUMNS,
    EXPOSED_RSA,
    FORMATS,
    PredictionWriter,
    format_table,
    open_output,
    write_predictions,
    write_summary,
)
from .alphabet import AMINO_ACIDS, SS8

__all__ = ["DISORDER_COLUMNS", "EXPOSED_RSA", "FORMATS", "RESIDUE_MAP", "PredictionWriter",
           "SequenceRecord", "format_table", "open_output", "parse_sequences", "read_labelled",
           "read_sequence", "read_sequences", "write_predictions", "write_summary"]

_LABELLED_SEQ = frozenset(AMINO_ACIDS) | frozenset(RESIDUE_MAP)
_SS8_SET = frozenset(SS8)
_MASK_SET = frozenset("01")


def _bad_letter(key: str, value: str, allowed: frozenset, where: str, name: str, rid: str):
    for i, c in enumerate(value, 1):
        if c not in allowed:
            raise InputError(f"{where}: {key} has {c!r} at position {i}; allowed: "
                             f"{''.join(sorted(allowed))}", path=name, record=rid)


def _check_rsa(rsa: list, where: str, name: str, rid: str) -> list[float | None]:
    out: list[float | None] = []
    for i, v in enumerate(rsa, 1):
        if v is None:
            out.append(None)
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise InputError(f"{where}: rsa[{i}] = {v!r} is not a number in [0, 1] or null",
                             path=name, record=rid)
        else:
            out.append(float(v))
    return out


def _check_labelled(rec, name: str, line: int) -> dict:
    """Validate one decoded JSON line; returns it with ``seq`` upper-cased, ``rsa`` as floats.

    ``"rsa": null`` (one null for the whole chain) means no residue has an RSA label.
    """
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
    for key in ("seq", "ss8", "mask"):
        if not isinstance(rec[key], str):
            raise InputError(f"{where}: {key!r} must be a string", path=name, record=rid)
    seq, ss8, rsa, mask = rec["seq"].upper(), rec["ss8"], rec["rsa"], rec["mask"]
    if not seq:
        raise InputError(f"{where}: empty sequence", path=name, record=rid)
    if rsa is None:
        rsa = [None] * len(seq)
    if not isinstance(rsa, list):
        raise InputError(f"{where}: 'rsa' must be a list of numbers or null", path=name,
                         record=rid)
    lengths = {"seq": len(seq), "ss8": len(ss8), "rsa": len(rsa), "mask": len(mask)}
    if len(set(lengths.values())) != 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise InputError(f"{where}: lengths differ ({shown})", path=name, record=rid)
    for key, value, allowed in (("seq", seq, _LABELLED_SEQ), ("ss8", ss8, _SS8_SET),
                                ("mask", mask, _MASK_SET)):
        if not allowed.issuperset(value):  # fast path: only a bad string is scanned
            _bad_letter(key, value, allowed, where, name, rid)
    return {"id": rid, "seq": seq, "ss8": ss8, "rsa": _check_rsa(rsa, where, name, rid),
            "mask": mask}


def read_labelled(path: str | os.PathLike | IO[str]) -> list[dict]:
    """Read labelled chains in the shared JSON-lines format (plain or gzip).

    One JSON object per line: ``{"id", "seq", "ss8", "rsa", "mask"}`` with equal lengths,
    ``seq`` over the 20 amino acids and X/B/Z/J/U/O (lower case is upper-cased), ``ss8`` over
    ``GHIBESTC``, ``mask`` over ``01`` and ``rsa`` a list of numbers in [0, 1] or null, or a
    single null for a chain without RSA labels (the NetSurfP-2.0 derived format, Klausen et al.
    2019, Proteins 87:520).

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
        Invalid JSON, a missing key, unequal lengths, a bad letter or value, a duplicate id,
        or an unreadable (binary, truncated gzip) file; the message names the file and line.

    Examples
    --------
    >>> import io
    >>> line = '{"id": "c", "seq": "mkU", "ss8": "CHH", "rsa": [null, 0.5, 1], "mask": "011"}'
    >>> read_labelled(io.StringIO(line))[0]["seq"]
    'MKU'
    """
    name = _source_name(path)
    with text_input(path, what="file") as handle:
        out = _parse_labelled(handle, name)
    if not out:
        raise InputError("no records (empty file)", path=name)
    return out


def _parse_labelled(handle: IO[str], name: str) -> list[dict]:
    """The checked records of the JSON-lines ``handle`` (``name`` for messages)."""
    out: list[dict] = []
    ids: dict[str, int] = {}  # id -> line of its first record
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
        raise InputError("not a JSON-lines text file (binary content); expected one JSON "
                         "object per line", path=name) from None
    except (OSError, EOFError) as exc:  # truncated or corrupt gzip
        raise InputError(f"cannot be read ({exc})", path=name) from None
    return out

