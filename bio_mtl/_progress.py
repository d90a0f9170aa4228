"""The progress protocol: the library reports progress, the CLI draws it."""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullProgress", "ProgressCallback"]


class ProgressCallback(Protocol):
    """What long-running library functions call to report progress.

    ``start(total, description)`` opens a task, ``advance(n)`` moves it, ``log(record)`` passes a
    dict of metrics (one per epoch, say), ``finish()`` closes it.
    """

    def start(self, total: int | None, description: str) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def log(self, record: dict) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """A progress callback that does nothing (the library default)."""

    def start(self, total: int | None, description: str) -> None:
        """Ignore."""

    def advance(self, n: int = 1) -> None:
        """Ignore."""

    def log(self, record: dict) -> None:
        """Ignore."""

    def finish(self) -> None:
        """Ignore."""
