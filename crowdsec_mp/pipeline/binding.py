"""The seam between the pipeline processes and the pure engine.

The pipeline moves bytes between processes; everything that *decides*
(parsing, scenario filters, buckets, alert building) lives behind the three
stage objects below. A binding is a module exposing:

    shard_for(key: str, n: int) -> int
    make_parser_stage(run: RunSpec) -> ParserStage
    make_bucket_stage(run: RunSpec, shard: int) -> BucketStage
    make_output_stage(run: RunSpec) -> OutputStage

The daemon uses `crowdsec_mp.pipeline.engine_binding` (the real engine).
Pipeline tests use a trivial stand-in binding of their own to exercise the
processes and sockets; a stand-in is never used by the daemon.

`make_*` raise `BootError`/`ConfigError` when they cannot build their stage; the
child then exits with EXIT_BOOT_ERROR and the supervisor stops everything.

Items crossing the wire (`ParseResult.routed[i][1]`, overflow items, alerts)
must be msgpack-able plain data (wire.event_to_wire for events).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol

from crowdsec_mp.errors import BootError


@dataclass
class ParseResult:
    #: False when no parser accepted the line (counted as unparsed).
    parsed: bool
    #: (route_key, item) for each scenario bucket family the event may fall in;
    #: the worker sends `item` to shard `shard_for(route_key, M)`.
    routed: list = field(default_factory=list)


class ParserStage(Protocol):
    def process(self, raw: str, src: str, labels: dict, module: str, time_machine: bool) -> ParseResult:
        """Parse one line; `time_machine`: the source wants TIMEMACHINE events (replay, cat mode)."""


class BucketStage(Protocol):
    def apply(self, item) -> list:
        """Pour one routed item; returns overflow items (possibly empty)."""

    def tick(self, now: float) -> list:
        """Live mode: leak/expire buckets at wall time `now` (epoch seconds)."""

    def end_of_input(self) -> list:
        """Replay end: whatever the single-process engine does at end of input."""

    def dump(self) -> bytes: ...

    def restore(self, blob: bytes) -> None: ...


class OutputStage(Protocol):
    def handle(self, overflow_item) -> list:
        """Postoverflows + alert building: returns LAPI alert dicts (possibly none)."""


def load_binding(module_name: str):
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BootError(f"engine binding {module_name!r} cannot be imported: {exc}") from exc
    missing = [name for name in ("shard_for", "make_parser_stage", "make_bucket_stage", "make_output_stage")
               if not hasattr(module, name)]
    if missing:
        raise BootError(f"engine binding {module_name!r} lacks {', '.join(missing)}")
    return module
