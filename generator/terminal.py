"""Progress of a long ``render`` or ``validate`` on the terminal: a transient status line on
stderr, "rendering prod · fraud-detector-0042 (1,234/3,000 units)" beside a bar.

The CLI creates it only when stderr is a terminal (and not ``--quiet``); the pipeline only
calls ``on_unit``. Nothing shows for a command that ends within ``SHOW_AFTER`` seconds: a
timer starts the display then, and only then is ``rich`` imported, so a quick command pays
neither for the import nor for a flash of a bar. The display is transient: it is erased
when the command ends, before the CLI prints its result or its findings.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

SHOW_AFTER = 0.5  # seconds: a shorter command shows nothing


class TerminalProgress:
    """A context manager showing ``label`` (then each unit, as ``on_unit`` is told) on ``stream``."""

    def __init__(self, stream: TextIO, label: str, *, show_after: float = SHOW_AFTER) -> None:
        self.stream, self.label = stream, label
        self._lock = threading.Lock()
        self._closed = False
        self._description = label
        self._done, self._total = 0, 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._timer = threading.Timer(show_after, self._show)
        self._timer.daemon = True

    def __enter__(self) -> TerminalProgress:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def on_unit(self, env: str, model: str, done: int, total: int) -> None:
        """The pipeline's ``UnitProgress``: ``done`` of ``total`` units, the last ``model`` in ``env``."""
        with self._lock:
            self._description = f"{self.label} {env} · {model} ({done:,}/{total:,} units)"
            self._done, self._total = done, total
            self._update()

    def _update(self) -> None:
        """Show the latest state (with the lock held); nothing before the display starts."""
        if self._progress is not None and self._task is not None:
            total = self._total or None  # no total yet: a pulsing bar
            self._progress.update(self._task, description=self._description, completed=self._done, total=total)

    def _show(self) -> None:
        """Start the display (on the timer's thread), unless the command has ended."""
        with self._lock:
            if self._closed:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            console = Console(file=self.stream)
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._task = self._progress.add_task(self._description, total=None)
            self._update()
            self._progress.start()

    def close(self) -> None:
        """Stop the timer and erase the display; the stream is left as it was before."""
        with self._lock:
            self._closed = True
        self._timer.cancel()
        if self._timer.is_alive():
            self._timer.join()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
