"""What every datasource produces and the interface the supervisor drives.

A datasource yields batches of `RawLine(raw, src, labels, module)`: the fields
of CrowdSec's `Line` that acquisition fills (spec/event.md §2). The supervisor
calls `poll()` from its single main loop, so sources never block: they return
what is available now (possibly nothing) and keep their own bookkeeping.
"""

from __future__ import annotations

from typing import NamedTuple


class RawLine(NamedTuple):
    raw: str
    src: str
    labels: dict
    module: str


class Source:
    """Base class. Subclasses implement `poll()` and, when they hold OS resources, `close()`.

    Contract:
    * `poll(max_lines)` never blocks for long (a few ms of I/O at most) and
      returns at most `max_lines` lines;
    * `done` becomes True when a cat-mode source has nothing more to give
      (tail-mode sources are never done);
    * `counters` holds plain counts (lines read, truncated, errors...) that the
      metrics layer exports per source name.
    """

    module = ""

    def __init__(self, name: str, labels: dict, mode: str):
        self.name = name
        self.labels = dict(labels)
        self.mode = mode
        self.done = False
        #: Events from this source are TIMEMACHINE (log time drives the buckets):
        #: cat mode or `use_time_machine: true` (spec/cli.md §4).
        self.time_machine = mode == "cat"
        self.counters = {"lines_read": 0, "lines_truncated": 0, "errors": 0}
        self.last_error = ""

    def start(self) -> None:
        """Open sockets/processes. Called once before the first poll()."""

    def poll(self, max_lines: int = 1000) -> list[RawLine]:
        raise NotImplementedError

    def close(self) -> None:
        """Release OS resources. Safe to call twice."""

    def fileno_list(self) -> list[int]:
        """File descriptors worth waiting on (sockets, pipes); empty = poll periodically."""
        return []

    def save_state(self) -> dict:
        """Positions to persist across restarts (tail mode); {} when stateless."""
        return {}

    def _count(self, key: str, amount: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + amount
