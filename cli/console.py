"""Rich output for the CLI: progress bars (implementing ProgressCallback) and tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence

__all__ = ["RichProgress", "print_table", "stderr_console"]


def stderr_console():
    """A rich console on stderr (so stdout stays clean for data)."""
    from rich.console import Console

    return Console(stderr=True)


class RichProgress:
    """A :class:`bio_mtl._progress.ProgressCallback` drawn with rich on stderr.

    Disabled (silent) when ``enabled`` is false, e.g. under ``--quiet``. Metric records passed to
    :meth:`log` are printed as one compact line each, and appended to ``log_path`` as JSON lines
    when given.
    """

    def __init__(self, *, enabled: bool = True, log_path: str | None = None) -> None:
        self.enabled = enabled and sys.stderr is not None
        self.log_path = log_path
        self._progress = None
        self._task = None

    def start(self, total: int | None, description: str) -> None:
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(),
                                      TimeRemainingColumn(), console=stderr_console(),
                                      transient=False)
            self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def log(self, record: dict) -> None:
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        if self.enabled:
            text = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in record.items())
            console = self._progress.console if self._progress else stderr_console()
            console.print(text, highlight=False)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], *,
                stderr: bool = False) -> None:
    """Print a rich table (floats with 4 significant digits)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(str(col))
    for row in rows:
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    Console(stderr=stderr).print(table)
