"""Replay progress on a terminal (rich): lines read and lines acknowledged by the parsers."""

from __future__ import annotations

import time

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class ReplayProgress:
    """Called by the supervisor loop with itself; redraws at most 10 times a second."""

    def __init__(self, label: str):
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), transient=False)
        self.task = self.progress.add_task(f"replay {label}", total=None, detail="")
        self.progress.start()
        self._next = 0.0

    def __call__(self, supervisor) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 0.1
        read = sum(supervisor.metrics["lines_read"].values())
        parsed = sum(supervisor.metrics["lines_parsed"].values())
        unparsed = sum(supervisor.metrics["lines_unparsed"].values())
        self.progress.update(self.task, detail=f"read {read}  parsed {parsed}  unparsed {unparsed}  "
                                               f"phase {supervisor.phase}")

    def close(self) -> None:
        self.progress.stop()
