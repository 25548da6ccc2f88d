"""Everything the pure engine needs from the outside world, passed in explicitly.

One `EngineContext` is built per process (worker, hubtest run, unit test) and
handed to every compile step: expression helpers that read data files, the
stash, GeoIP databases or the time get them from here, never from globals,
files or `time.time()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class EngineContext:
    #: Returns "now" as an aware UTC datetime. Live mode passes the wall clock,
    #: tests pass a fixed function.
    clock: Callable[[], datetime] = utc_now
    #: Year given to timestamps without a year (syslog). None = year of clock().
    current_year: int | None = None
    #: Data files loaded through `data:` sections (engine.datafiles.DataLibrary).
    data: Any = None
    #: Named stash caches (engine.stash.StashStore).
    stash: Any = None
    #: MaxMind readers (engine.enrich.geoip.GeoIPDatabases) or None when absent.
    geoip: Any = None
    #: Directory data files are read from (hub `data:` dest_file is relative to it).
    data_dir: str | None = None
    #: Free-form extras (e.g. a resolver for reverse_dns; None = offline).
    extras: dict = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def year(self) -> int:
        return self.current_year if self.current_year is not None else self.clock().year

    def __post_init__(self):
        # Imported here so that the context module has no import cycle with
        # the modules that consume it.
        if self.data is None:
            from crowdsec_mp.engine.datafiles import DataLibrary

            self.data = DataLibrary()
        if self.stash is None:
            from crowdsec_mp.engine.stash import StashStore

            self.stash = StashStore(clock=self.clock)
