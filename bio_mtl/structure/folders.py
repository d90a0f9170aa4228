"""What a structure model folder holds, read without torch.

A structure model is a checkpoint folder (``model.safetensors`` + ``config.json`` of kind
``"structure"``, :mod:`bio_mtl.mtl.checkpoint`) or an ensemble folder (``config.json`` of kind
:data:`ENSEMBLE_KIND` listing member checkpoint folders). Either may carry exported ONNX graphs:
``model.onnx`` beside a checkpoint's weights, with a record ``model.onnx.json`` written when the
graph was checked against the torch network (:func:`bio_mtl.structure.backends.save_onnx_graphs`).

The record ties the check to the exact files: the SHA-256 of the graph and of the weights it was
compared with, the largest difference seen and the tolerance. :func:`graph_is_verified` accepts a
graph only while both files still hash to the recorded values, so a graph that was re-exported,
edited or left behind by retrained weights is never run unchecked
(:mod:`bio_mtl.structure.onnx_predictor` runs verified graphs without importing torch; anything
else goes through the torch loader, which checks the graph itself).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from .._io import atomic_write
from .._versions import versions
from ..errors import CheckpointError
from ..mtl.checkpoint import CONFIG_NAME, WEIGHTS_NAME, read_config
from ..resources import is_shipped, shipped_folder

__all__ = ["ENSEMBLE_KIND", "GRAPH_FILE", "RECORD_FILE", "graph_is_verified", "member_folders",
           "member_names", "save_graph", "verified_graph"]

#: ``kind`` of an ensemble folder's ``config.json``.
ENSEMBLE_KIND = "structure-ensemble"

#: File name of an exported graph beside a checkpoint's ``model.safetensors``.
GRAPH_FILE = "model.onnx"

#: File name of the record of a graph's check against the torch network.
RECORD_FILE = "model.onnx.json"


def member_names(directory: Path, doc: dict) -> list[str]:
    """The member entries an ensemble ``config.json`` lists (checked, see
    :func:`member_folders`).

    Raises
    ------
    CheckpointError
        A missing, empty or malformed ``members`` list.
    """
    names = doc.get("members")
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) and _entry_ok(n) for n in names)):
        raise CheckpointError(f"{directory}: ensemble config.json must list its member "
                              f"folders by name under 'members' (got {names!r})")
    return names


def _plain(name: str) -> bool:
    return bool(name) and Path(name).name == name and name not in (".", "..")


def _entry_ok(entry: str) -> bool:
    """A plain folder name, or ``SHIPPED_NAME:FOLDER`` (a member of a shipped model)."""
    model, sep, member = entry.partition(":")
    return _plain(entry) if not sep else is_shipped(model) and _plain(member)


def member_folders(directory: str | os.PathLike) -> list[Path]:
    """The checkpoint folders of a structure model: ``[directory]`` for one model, the member
    folders for an ensemble.

    A member entry is a folder name inside the ensemble folder (``member_0``), or
    ``SHIPPED_NAME:FOLDER``, a member of a shipped model: the accurate
    ``ss_rsa_dis_ens3_nsp2_v1`` lists the default's two members that way instead of shipping
    copies of them.

    Raises
    ------
    CheckpointError
        Not a structure checkpoint or ensemble folder, or a malformed member list.
    """
    directory = Path(directory)
    doc = read_config(directory)
    if doc.get("kind") == ENSEMBLE_KIND:
        out = []
        for entry in member_names(directory, doc):
            model, sep, member = entry.partition(":")
            out.append(shipped_folder(model) / member if sep else directory / entry)
        return out
    if doc.get("kind") != "structure":
        raise CheckpointError(f"{directory}: holds a {doc.get('kind')!r} model, not a "
                              "structure model")
    return [directory]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_graph(folder: str | os.PathLike, graph: bytes, *, max_difference: float,
               tolerance: float) -> Path:
    """Write ``graph`` as ``folder``'s ``model.onnx`` with the record of its check.

    Called by :func:`bio_mtl.structure.backends.save_onnx_graphs` after comparing the graph with
    the network of ``folder``'s weights: writes ``model.onnx`` and ``model.onnx.json`` (hashes
    of the graph and the weights, the difference, the tolerance, versions).

    Raises
    ------
    CheckpointError
        ``max_difference`` is above ``tolerance`` (or not a number): nothing is written.
    """
    folder = Path(folder)
    if not (math.isfinite(max_difference) and max_difference <= tolerance):
        raise CheckpointError(f"{folder / GRAPH_FILE}: differs from the torch network by "
                              f"{max_difference:.2g} (> {tolerance:g}); not saved")
    record = {"graph": GRAPH_FILE, "graph_sha256": _sha256(graph),
              "weights": WEIGHTS_NAME,
              "weights_sha256": _sha256((folder / WEIGHTS_NAME).read_bytes()),
              "max_difference": float(max_difference), "tolerance": float(tolerance),
              "check": "largest absolute difference of every output (logits, RSA) over the "
                       "real residues of the padded probe batch of "
                       "bio_mtl.structure.backends.max_difference",
              "versions": versions()}
    with atomic_write(folder / GRAPH_FILE, "wb") as handle:
        handle.write(graph)
    path = folder / RECORD_FILE
    with atomic_write(path) as handle:
        json.dump(record, handle, indent=2)
    return path


def verified_graph(folder: str | os.PathLike) -> bytes | None:
    """``folder``'s ``model.onnx`` if its record still matches the graph and the weights (see
    the module docstring), else ``None`` (also when any of the three files is missing)."""
    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
        graph = (folder / GRAPH_FILE).read_bytes()
        ok = (isinstance(record, dict)
              and (folder / CONFIG_NAME).is_file()
              and float(record["max_difference"]) <= float(record["tolerance"])
              and record["graph_sha256"] == _sha256(graph)
              and record["weights_sha256"] == _sha256((folder / WEIGHTS_NAME).read_bytes()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return graph if ok else None


def graph_is_verified(folder: str | os.PathLike) -> bool:
    """Whether :func:`verified_graph` accepts ``folder``'s graph."""
    return verified_graph(folder) is not None
