"""Small I/O helpers: atomic writes and gzip-aware text opening."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "file_sha256", "open_input", "open_text"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Write ``path`` atomically: a temporary file in the same folder, then ``os.replace``.

    If the body raises, the temporary file is removed and ``path`` is left untouched, so a
    failed run never leaves a partial output file. The file gets the permissions a plain
    ``open(path, "w")`` would give (``0o666`` less the umask), not the private ``0o600`` of
    the temporary file.

    Parameters
    ----------
    path
        Final destination.
    mode
        ``"w"`` (text) or ``"wb"`` (binary).
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``, ``newline``).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def open_input(path: str | os.PathLike, mode: str = "r", *, what: str = "input file"
               ) -> Iterator[IO]:
    """Open a user's input file; every OS and decoding problem becomes one ``InputError``.

    The one place that maps ``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError``
    and ``UnicodeDecodeError`` (raised while reading a text handle) to a one-line
    :class:`~bio_mtl.errors.InputError` naming the file.

    Parameters
    ----------
    path
        The file.
    mode
        ``"r"`` (UTF-8 text) or ``"rb"``.
    what
        What the file is, for messages (``"FASTA file"``, ``"patient table"``).

    Examples
    --------
    >>> with open_input("/no/such/file") as handle:
    ...     pass
    Traceback (most recent call last):
    ...
    bio_mtl.errors.InputError: /no/such/file: no such input file
    """
    from .errors import InputError

    try:
        handle = open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"}))
    except FileNotFoundError:
        raise InputError(f"no such {what}", path=path) from None
    except IsADirectoryError:
        raise InputError(f"is a folder, not a {what}", path=path) from None
    except PermissionError:
        raise InputError(f"permission denied reading the {what}", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror})", path=path) from None
    with handle:
        try:
            yield handle
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {exc.start}); is it the right {what}?",
                             path=path) from None


def open_text(source: str | os.PathLike | IO[str]) -> IO[str]:
    """Open a path (plain or ``.gz``), ``"-"`` for stdin, or pass a text handle through.

    Gzip is recognised by its magic bytes, not only by the file name.
    """
    if hasattr(source, "read"):
        return source  # type: ignore[return-value]
    if str(source) == "-":
        return sys.stdin
    path = Path(source)
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def file_sha256(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file (used as a data fingerprint in checkpoints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
