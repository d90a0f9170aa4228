"""Output-path checks and JSON helpers shared by the structure commands.

Every structure command checks its output paths before it reads or computes anything, so an
hour of prediction never ends in "cannot write"; a path that still fails when written becomes
the same one-line usage error (exit code 2, as click's own ``Path(writable=True)`` check).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

__all__ = ["check_output_dir", "check_output_file", "finite_json", "output_errors",
           "stdout_closed_quietly"]


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


def check_output_file(path: str | None, option: str) -> None:
    """Raise a usage error now if the output file ``path`` could not be written later.

    Parameters
    ----------
    path
        The output file; ``None`` (no output) and ``-`` (standard output) pass. A missing
        folder is fine when it can be created (the writers create it).
    option
        The option's name as click shows it (``"'-o' / '--output'"``).

    Raises
    ------
    click.BadParameter
        A directory, an unwritable file, or a folder that is a file or not writable.
    """
    if path is None or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise click.BadParameter(f"{path} is a directory; give a file name", param_hint=option)
    if target.exists() and not os.access(target, os.W_OK):
        raise click.BadParameter(f"{path} exists and is not writable", param_hint=option)
    _check_creatable(target, option)


def check_output_dir(path: str, option: str) -> None:
    """Raise a usage error now if the output folder ``path`` could not be created or used.

    Parameters
    ----------
    path
        The output folder (it may not exist yet).
    option
        The option's name as click shows it (``"'--out'"``).

    Raises
    ------
    click.BadParameter
        An existing file, a folder without write permission, or one that cannot be created.
    """
    target = Path(path)
    if target.exists():
        if not target.is_dir():
            raise click.BadParameter(f"{path} exists and is not a directory", param_hint=option)
        if not os.access(target, os.W_OK | os.X_OK):
            raise click.BadParameter(f"{path}: no write permission", param_hint=option)
        return
    _check_creatable(target, option)


@contextlib.contextmanager
def output_errors(path: str, option: str) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into a one-line usage error.

    Parameters
    ----------
    path
        The file being written (named in the message).
    option
        The option that gave it.
    """
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise click.BadParameter(f"cannot write {path}: {reason}", param_hint=option) from None


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
