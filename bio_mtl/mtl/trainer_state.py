"""Resumable trainer state without pickle: tensors in safetensors, the rest in JSON.

The optimizer and scheduler state dicts are split into their tensors (saved in
``state.safetensors`` under flat keys) and their plain values (saved in ``state.json``).
"""

from __future__ import annotations

import json
import os
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
    """Save a nested dict of tensors and JSON values (no pickle) into ``directory``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(state, "s", tensors)
    tmp = directory / f".{_TENSORS}.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, directory / _TENSORS)
    with atomic_write(directory / _JSON) as handle:
        json.dump(skeleton, handle)


def load_state(directory: str | os.PathLike) -> dict[str, Any] | None:
    """Load what :func:`save_state` wrote, or ``None`` if ``directory`` holds no state."""
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / _JSON).is_file() or not (directory / _TENSORS).is_file():
        return None
    try:
        skeleton = json.loads((directory / _JSON).read_text(encoding="utf-8"))
        tensors = load_file(str(directory / _TENSORS))
        return _join(skeleton, tensors)
    except Exception as exc:
        raise CheckpointError(f"{directory}: corrupt resumable trainer state ({exc}); delete "
                              "the folder to start afresh") from None
