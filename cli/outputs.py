"""The CLI's one output layer: every command checks all its outputs before any work.

:func:`check_outputs` runs first in every command. It refuses, as usage errors (exit code 2),
an output that

* is the same file as one of the command's inputs (compared by device and inode with
  :func:`os.path.samefile`, so ``./s.fa``, ``s.fa`` and a symlink to it are one file);
* lies inside a model folder the command reads (``-o MODEL/model.safetensors``);
* is a directory where a file is expected, or a file where a folder is expected;
* cannot be written or created (no permission, read-only file system, a parent that is a file).

``-`` (standard output), device files (``/dev/null``) and FIFOs pass the identity checks: the
library writes them directly (:func:`bio_mtl._io.atomic_write`). Failures that can only happen
while writing (a full disk) are :class:`bio_mtl.errors.OutputError`, exit code 5.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import click

from .._io import is_inside, same_file

__all__ = ["check_outputs", "finite_json", "stdout_closed_quietly"]


def _first_existing(path: Path) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _check_creatable(path: Path, option: str) -> None:
    parent = _first_existing(path)
    if not parent.is_dir():
        raise click.BadParameter(f"cannot create {path}: {parent} is not a directory",
                                 param_hint=option)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise click.BadParameter(f"cannot create {path}: no write permission in {parent}",
                                 param_hint=option)
    if _read_only(parent):
        raise click.BadParameter(f"cannot create {path}: {parent} is on a read-only file "
                                 "system", param_hint=option)


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _check_file(path: str, option: str) -> None:
    target = Path(path)
    if target.is_dir():
        raise click.BadParameter(f"{path} is a directory; give a file name", param_hint=option)
    if target.exists():
        if not os.access(target, os.W_OK):
            raise click.BadParameter(f"{path} exists and is not writable", param_hint=option)
        if not target.is_file():  # a device or FIFO: written directly, never replaced
            return
    _check_creatable(target, option)


def _check_folder(path: str, option: str) -> None:
    target = Path(path)
    if target.exists():
        if not target.is_dir():
            raise click.BadParameter(f"{path} exists and is not a directory", param_hint=option)
        if not os.access(target, os.W_OK | os.X_OK) or _read_only(target):
            raise click.BadParameter(f"{path}: no write permission", param_hint=option)
        return
    _check_creatable(target, option)


def _is_stream(path: str) -> bool:
    return path == "-" or (os.path.exists(path) and not os.path.isdir(path)
                           and not os.path.isfile(path))


def check_outputs(files: Mapping[str, str | os.PathLike | None] | None = None,
                  folders: Mapping[str, str | os.PathLike | None] | None = None, *,
                  inputs: Iterable[str | os.PathLike | None] = (),
                  model_dirs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Refuse (exit code 2) any output that cannot be written or would destroy an input.

    Parameters
    ----------
    files
        ``{option as shown to the user: output file}`` (``None`` = not requested, ``-`` =
        standard output).
    folders
        ``{option: output folder}``.
    inputs
        Every input file the command reads (paths that do not exist are ignored).
    model_dirs
        Model folders the command reads; no output may lie inside one.

    Raises
    ------
    click.BadParameter
        Naming the option and the problem.
    """
    inputs = [str(p) for p in inputs if p is not None and str(p) != "-"]
    models = [str(m) for m in model_dirs if m is not None and os.path.isdir(str(m))]
    outputs = [(opt, str(p), False) for opt, p in (files or {}).items() if p is not None]
    outputs += [(opt, str(p), True) for opt, p in (folders or {}).items() if p is not None]
    for option, path, is_folder in outputs:
        if not is_folder and _is_stream(path):
            continue
        for source in inputs:
            if same_file(path, source):
                raise click.BadParameter(f"{path} is also an input of this command; writing "
                                         "it would destroy the input: give another output path",
                                         param_hint=option)
            if is_folder and os.path.isdir(path) and is_inside(source, path) \
                    and os.path.isdir(source):
                raise click.BadParameter(f"{path} holds the input {source}; give another "
                                         "output folder", param_hint=option)
        for model in models:
            if is_inside(path, model):
                raise click.BadParameter(f"{path} is inside the model folder {model} that this "
                                         "command reads; give a path outside it",
                                         param_hint=option)
        (_check_folder if is_folder else _check_file)(path, option)


@contextlib.contextmanager
def stdout_closed_quietly() -> Iterator[None]:
    """Stop without an error message when the reader of stdout goes away (``... | head``).

    As click's own ``main`` does for EPIPE (exit code 1, nothing printed): later writes and
    the interpreter's final flush go to ``/dev/null`` instead of raising again.
    """
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        raise click.exceptions.Exit(1) from None


def finite_json(value):
    """``value`` with every NaN or infinite float replaced by ``None`` (strict JSON null).

    Parameters
    ----------
    value
        Nested dicts, lists and tuples of JSON-ready values.

    Returns
    -------
    object
        The same structure (tuples become lists).

    Examples
    --------
    >>> finite_json({"q3": 0.5, "f1": float("nan"), "r": [1.0, float("inf")]})
    {'q3': 0.5, 'f1': None, 'r': [1.0, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value
