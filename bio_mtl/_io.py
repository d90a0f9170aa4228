"""The library's I/O layer: safe output writing, one input opener, gzip-aware text.

Outputs: :func:`atomic_write` (regular files atomically, device files and FIFOs directly),
:func:`atomic_folder` (a model folder appears whole or not at all), :func:`write_error` (an
``OSError`` while writing -> one-line :class:`~bio_mtl.errors.OutputError`), and the identity
checks :func:`same_file` / :func:`is_inside` the CLI uses to refuse an output that would
overwrite an input. Inputs: :func:`open_input` and :func:`open_text`.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_folder", "atomic_write", "file_sha256", "is_inside", "is_regular_target",
           "open_input", "open_text", "same_file", "write_error"]


#: errno values that mean "the output cannot be written", mapped to one-line reasons.
_WRITE_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                 errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                 errno.EPERM: "operation not permitted", errno.EISDIR: "is a directory",
                 errno.EIO: "input/output error", errno.ENOTDIR: "a parent is not a directory"}


def write_error(exc: OSError, path: str | os.PathLike) -> Exception:
    """The :class:`~bio_mtl.errors.OutputError` for an ``OSError`` raised writing ``path``."""
    from .errors import OutputError

    reason = _WRITE_ERRORS.get(exc.errno) or exc.strerror or str(exc)
    return OutputError(f"cannot write: {reason}", path=path)


def is_regular_target(path: str | os.PathLike) -> bool:
    """Whether ``path`` is (or will be) a regular file: absent, or a file after symlinks.

    Device files (``/dev/null``, ``/dev/stdout``), FIFOs and sockets are not: they are written
    directly, never replaced.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return True
    return stat.S_ISREG(mode)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Write ``path`` safely: atomically for regular files, directly for everything else.

    For a regular file (or a new one) the data goes to a temporary file in the same folder,
    renamed over ``path`` at the end (``os.replace``), so a failed run never leaves a partial
    output file and a reader never sees half a file. A symbolic link is followed: its target is
    replaced and the link stays a link. A device file (``/dev/null``, ``/dev/stdout``), FIFO or
    socket is opened and written directly: it is never replaced by a regular file. The file
    gets the permissions a plain ``open(path, "w")`` would give (``0o666`` less the umask),
    not the private ``0o600`` of the temporary file.

    Parameters
    ----------
    path
        Final destination.
    mode
        ``"w"`` (text) or ``"wb"`` (binary).
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``, ``newline``).

    Raises
    ------
    OutputError
        When the disk is full, the file system read-only or another ``OSError`` stops the
        write (:func:`write_error`); nothing partial is left.
    """
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    if not is_regular_target(path):
        try:
            with open(path, mode, **kwargs) as handle:
                yield handle
        except OSError as exc:
            raise write_error(exc, path) from None
        return
    final = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    directory = final.parent if str(final.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=directory)
        os.close(fd)
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        try:
            with open(tmp, mode, **kwargs) as handle:
                yield handle
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, final)
        except OSError as exc:
            raise write_error(exc, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_folder(directory: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Fill a new folder's files in a temporary sibling folder, then move them in together.

    The body writes into the yielded temporary folder; at the end each file is renamed into
    ``directory`` (created if needed; files already there with other names are kept). With
    ``replace``, the temporary folder takes the place of the whole ``directory`` instead (an
    existing one is moved aside and removed), so no file of an earlier version survives. If the
    body fails (a full disk while saving a model, say), the temporary folder is removed and
    ``directory`` is left as it was: no half-written folder.

    Raises
    ------
    OutputError
        For an ``OSError`` while creating or moving the files.
    """
    directory = Path(directory)
    parent = directory.parent if str(directory.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise write_error(exc, directory) from None
    try:
        try:
            yield tmp
        except OSError as exc:
            raise write_error(exc, directory) from None
        created = not directory.exists()
        try:
            if replace:
                _swap_folder(tmp, directory)
            else:
                directory.mkdir(exist_ok=True)
                for item in sorted(tmp.iterdir()):
                    os.replace(item, directory / item.name)
        except OSError as exc:
            if created and not replace:
                shutil.rmtree(directory, ignore_errors=True)
            raise write_error(exc, directory) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_folder(new: Path, directory: Path) -> None:
    """Rename the folder ``new`` to ``directory``, replacing an existing one (which is put back
    if the second rename fails)."""
    if not directory.exists():
        os.replace(new, directory)
        return
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(directory, old)
    try:
        os.replace(new, directory)
    except OSError:
        os.replace(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same existing file (device and inode, as ``os.path.samefile``).

    Examples
    --------
    >>> same_file("/dev/null", "/dev/../dev/null"), same_file("/dev/null", "/no/such")
    (True, False)
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (after resolving symlinks).

    Examples
    --------
    >>> is_inside("/tmp/m/model.safetensors", "/tmp/m"), is_inside("/tmp/other", "/tmp/m")
    (True, False)
    """
    p = Path(os.path.realpath(path))
    f = Path(os.path.realpath(folder))
    return p == f or f in p.parents


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
