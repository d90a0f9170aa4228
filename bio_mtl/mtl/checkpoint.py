"""Checkpoints: ``model.safetensors`` (weights) plus ``config.json`` (everything else).

Loading never executes code from the files: safetensors holds raw tensors only, and the JSON is
plain data. A model is rebuilt from its config by the caller's builder, then the weights are
loaded strictly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import _umask, atomic_folder, write_error
from .._versions import versions
from ..errors import CheckpointError

if TYPE_CHECKING:  # torch only for annotations: reading a config.json needs no torch
    import torch
    from torch import nn

__all__ = ["CONFIG_NAME", "FORMAT", "WEIGHTS_NAME", "load_weights", "read_config",
           "save_checkpoint"]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT = "bio_mtl.checkpoint/1"


def save_checkpoint(directory: str | os.PathLike, model: nn.Module, *, kind: str,
                    config: dict[str, Any], extra_tensors: dict[str, torch.Tensor] | None = None,
                    **metadata: Any) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory``, all or nothing.

    Parameters
    ----------
    directory
        Output folder (created).
    model
        The module whose ``state_dict`` is saved (tied weights are handled by safetensors).
    kind
        What the checkpoint holds (``"mtl"``, ``"structure"``, ``"dosing"``, ``"expression"``);
        checked on load so a dosing model is not loaded as a structure model.
    config
        Everything needed to rebuild the model (model config, task specs, label vocabularies).
    extra_tensors
        Optional non-module tensors (e.g. a weighting strategy's state), saved in
        ``extra.safetensors``.
    **metadata
        More JSON-ready data: metrics, seed, training config, data fingerprints.
    """
    from safetensors.torch import save_file, save_model

    directory = Path(directory)
    doc = {"format": FORMAT, "kind": kind, "config": config, "versions": versions(), **metadata}
    text = json.dumps(doc, indent=2, sort_keys=False, default=_json_default)
    # every file is written into a temporary sibling folder and moved in at the end, so a
    # failure (a full disk) leaves no half-written model folder
    with atomic_folder(directory) as tmp:
        try:
            save_model(model, str(tmp / WEIGHTS_NAME))
            if extra_tensors:
                save_file({k: v.detach().contiguous().cpu() for k, v in extra_tensors.items()},
                          str(tmp / "extra.safetensors"))
            (tmp / CONFIG_NAME).write_text(text, encoding="utf-8")
            for name in (WEIGHTS_NAME, CONFIG_NAME, "extra.safetensors"):
                if (tmp / name).exists():
                    os.chmod(tmp / name, 0o666 & ~_umask())
        except OSError as exc:
            raise write_error(exc, directory) from None
    return directory


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_config(directory: str | os.PathLike, *, kind: str | None = None) -> dict[str, Any]:
    """Read and check ``config.json`` of a checkpoint directory.

    Raises
    ------
    CheckpointError
        If the directory or file is missing, not JSON, not a bio_mtl checkpoint, or of
        another kind than ``kind``.
    """
    directory = Path(directory)
    path = directory / CONFIG_NAME
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a checkpoint directory (expected a folder "
                              f"holding {WEIGHTS_NAME} and {CONFIG_NAME})")
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_NAME}; not a bio_mtl checkpoint")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint config ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a bio_mtl checkpoint (format "
                              f"{doc.get('format') if isinstance(doc, dict) else None!r}, "
                              f"expected {FORMAT!r})")
    if kind is not None and doc.get("kind") != kind:
        raise CheckpointError(f"{directory}: holds a {doc.get('kind')!r} model, "
                              f"not a {kind!r} model")
    return doc


def load_weights(model: nn.Module, directory: str | os.PathLike, *,
                 rename: Callable[[str], str] | None = None) -> nn.Module:
    """Load ``model.safetensors`` from ``directory`` into ``model`` strictly.

    Parameters
    ----------
    model
        The rebuilt module.
    directory
        The checkpoint folder.
    rename
        Maps a saved tensor name to the model's current name, for checkpoints written before a
        module was renamed (applied before the strict key check).

    Raises
    ------
    CheckpointError
        If the file is missing or corrupt, or its keys or shapes differ from the model's
        (the message lists missing and unexpected keys).
    """
    from safetensors.torch import load_file

    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"{Path(directory)}: no {WEIGHTS_NAME}")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types on corrupt headers
        raise CheckpointError(f"{path}: corrupt or foreign weights file ({exc})") from None
    if rename is not None:
        tensors = {rename(k): v for k, v in tensors.items()}
    expected = model.state_dict()
    # safetensors.save_model drops one name of each tied pair: accept names whose storage is
    # shared with a saved one.
    missing = [k for k in expected if k not in tensors and not _is_tied(model, k, tensors)]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys: {', '.join(missing[:8])}")
        if unexpected:
            parts.append(f"unexpected keys: {', '.join(unexpected[:8])}")
        if wrong:
            parts.append(f"wrong shapes: {', '.join(wrong[:8])}")
        raise CheckpointError(f"{path}: weights do not match the model ({'; '.join(parts)})")
    model.load_state_dict(tensors, strict=False)
    return model


def _is_tied(model: nn.Module, key: str, tensors: dict[str, torch.Tensor]) -> bool:
    state = model.state_dict(keep_vars=True)
    ptr = state[key].data_ptr()
    return any(k in tensors and v.data_ptr() == ptr for k, v in state.items() if k != key)
