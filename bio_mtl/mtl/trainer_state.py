"""Resumable trainer state without pickle: tensors in safetensors, the rest in JSON.

The optimizer and scheduler state dicts are split into their tensors (saved in
``state.<token>.safetensors`` under flat keys) and their plain values (saved in ``state.json``,
which also names the tensor file).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write
from ..errors import CheckpointError

__all__ = ["load_state", "save_state"]

_TENSORS = "state.safetensors"
_JSON = "state.json"


def _split(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested structure by a reference to a flat key."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[_key(k), _split(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _key(k: Any) -> Any:
    return {"__int__": k} if isinstance(k, int) else k


def _join(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {(k["__int__"] if isinstance(k, dict) else k): _join(v, tensors)
                for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def save_state(directory: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save a nested dict of tensors and JSON values (no pickle) into ``directory``.

    The tensors go to a new ``state.<token>.safetensors`` first; ``state.json``, written
    atomically afterwards, names that file. The JSON is the commit point: a process killed at
    any moment leaves either the previous pair or the new one, never a mix of two epochs.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(state, "s", tensors)
    name = f"state.{time.time_ns():x}.{os.getpid()}.safetensors"
    with atomic_write(directory / name, "wb") as handle:
        save_file(tensors, handle.name)  # fills the temporary file atomic_write renames
    with atomic_write(directory / _JSON) as handle:
        json.dump({"tensors": name, "state": skeleton}, handle)
    for old in directory.glob("state*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)


def load_state(directory: str | os.PathLike) -> dict[str, Any] | None:
    """Load what :func:`save_state` wrote, or ``None`` if ``directory`` holds no state.

    Raises
    ------
    CheckpointError
        If the state is unreadable (the message says to delete the folder).
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / _JSON).is_file():
        return None
    try:
        doc = json.loads((directory / _JSON).read_text(encoding="utf-8"))
        if isinstance(doc, dict) and set(doc) == {"tensors", "state"}:
            name, skeleton = Path(doc["tensors"]).name, doc["state"]
        else:  # the layout before the commit-point JSON: a fixed tensor file name
            name, skeleton = _TENSORS, doc
        tensors = load_file(str(directory / name)) if (directory / name).is_file() else None
    except Exception as exc:
        raise CheckpointError(f"{directory}: corrupt resumable trainer state ({exc}); delete "
                              "the folder to start afresh") from None
    if tensors is None:
        if name == _TENSORS:  # an old-layout folder without its tensors: nothing to resume
            return None
        raise CheckpointError(f"{directory}: resumable trainer state names {name}, which is "
                              "missing; delete the folder to start afresh")
    try:
        return _join(skeleton, tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory}: corrupt resumable trainer state (no tensor "
                              f"{exc}); delete the folder to start afresh") from None
