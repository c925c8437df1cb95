"""Progress bars and notes on stderr while the benchmark runs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any


class Ui:
    """Rich progress bars on stderr for the long phases, and notes; silent when stderr is not a TTY."""

    def __init__(self, console: Any = None, *, enabled: bool | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console or Console(stderr=True)
        show = self.console.is_terminal if enabled is None else enabled
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                                 disable=not show, transient=False)
        self.quiet = not show

    def __enter__(self) -> Ui:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        task_id = self.progress.add_task(description, total=total)
        started = time.perf_counter()

        def advance(n: int) -> None:
            self.progress.advance(task_id, n)

        try:
            yield advance
        finally:
            self.progress.remove_task(task_id)
            self.note(f"done: {description} ({time.perf_counter() - started:.1f} s)")

    def note(self, message: str) -> None:
        if not self.quiet:
            self.progress.console.print(f"[dim]{message}[/dim]")
