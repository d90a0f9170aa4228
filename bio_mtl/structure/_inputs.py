"""Opening the structure application's input files through the library's one input opener.

:func:`bio_mtl._io.open_input` turns every OS problem (missing file, folder, permission) into
an :class:`~bio_mtl.errors.InputError` naming the file; :func:`text_input` adds what the
structure readers need on top: gzip recognised by its magic bytes, ``"-"`` for stdin and open
handles passed through.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
from collections.abc import Iterator
from typing import IO

from .._io import open_input

__all__ = ["text_input"]


@contextlib.contextmanager
def text_input(source: str | os.PathLike | IO[str], *, what: str = "file"
               ) -> Iterator[IO[str]]:
    """A UTF-8 text handle on ``source``: a path (plain or gzip), ``"-"`` or an open handle.

    Parameters
    ----------
    source
        The input; handles (and stdin) are not closed on exit.
    what
        What the file is, for messages (``"file"`` gives ``"no such file"``).

    Raises
    ------
    InputError
        The file is missing, a folder or unreadable (decoding errors are left to the reader,
        which knows what the content should have been).

    Examples
    --------
    >>> with text_input(io.StringIO(">a\\nMKV\\n")) as handle:
    ...     handle.read()
    '>a\\nMKV\\n'
    """
    if hasattr(source, "read"):
        yield source  # type: ignore[misc]
        return
    if str(source) == "-":
        yield sys.stdin
        return
    with open_input(source, "rb", what=what) as raw:
        binary = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == b"\x1f\x8b" else raw
        yield io.TextIOWrapper(binary, encoding="utf-8")
