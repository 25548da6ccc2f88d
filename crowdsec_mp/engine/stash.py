"""Named key/value caches shared across events (spec/parsers.md §9).

Each cache has a maximum size and evicts the least recently used entry when
full. The LFU and ARC strategies CrowdSec also accepts fall back to LRU here
(documented difference; no hub item depends on the eviction order). Entries
expire `ttl` after they were set, measured with the injected clock (wall
clock in live mode, a fixed function in tests).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

STRATEGIES = ("LRU", "LFU", "ARC")
DEFAULT_SIZE = 100


def ttl_to_timedelta(ttl) -> timedelta:
    """A TTL as Go duration text ("30s", "1h5m") or seconds (int/float)."""
    if isinstance(ttl, timedelta):
        return ttl
    if isinstance(ttl, bool):
        raise ValueError(f"invalid ttl {ttl!r}")
    if isinstance(ttl, (int, float)):
        return timedelta(seconds=ttl)
    if isinstance(ttl, str):
        from crowdsec_mp.engine.expr.gotime import parse_go_duration

        return parse_go_duration(ttl)
    raise ValueError(f"invalid ttl {ttl!r}")


class _Cache:
    def __init__(self, size: int, strategy: str):
        self.size = size
        self.strategy = strategy
        self.entries: OrderedDict[str, tuple[str, datetime | None]] = OrderedDict()


class StashStore:
    def __init__(self, clock):
        #: Callable returning the current aware datetime.
        self.clock = clock
        self._caches: dict[str, _Cache] = {}

    def configure(self, cache: str, size: int = DEFAULT_SIZE, strategy: str = "LRU") -> None:
        """Create `cache` (or resize it). Raises ValueError for a bad size/strategy."""
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"stash size must be a positive integer, got {size!r}")
        strategy = (strategy or "LRU").upper()
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown stash strategy {strategy!r} "
                             f"(expected one of {', '.join(STRATEGIES)})")
        existing = self._caches.get(cache)
        if existing is None:
            self._caches[cache] = _Cache(size, strategy)
        else:
            existing.size, existing.strategy = size, strategy
            self._evict(existing)

    def set(self, cache: str, key: str, value: str, ttl_seconds, size: int = DEFAULT_SIZE,
            strategy: str = "LRU") -> None:
        """Store key -> value in `cache` (created with `size`/`strategy` if new),
        expiring after `ttl_seconds` (seconds or Go duration text; <= 0 = never)."""
        ttl = ttl_to_timedelta(ttl_seconds)
        if cache not in self._caches:
            self.configure(cache, size, strategy)
        store = self._caches[cache]
        expires = self.clock() + ttl if ttl > timedelta(0) else None
        store.entries[key] = (value, expires)
        store.entries.move_to_end(key)
        self._evict(store)

    def get(self, cache: str, key: str) -> str:
        """The value, or "" when the cache/key is unknown or the entry expired."""
        store = self._caches.get(cache)
        if store is None:
            return ""
        entry = store.entries.get(key)
        if entry is None:
            return ""
        value, expires = entry
        if expires is not None and self.clock() >= expires:
            del store.entries[key]
            return ""
        store.entries.move_to_end(key)
        return value

    def __len__(self):
        return sum(len(c.entries) for c in self._caches.values())

    @staticmethod
    def _evict(store: _Cache) -> None:
        while len(store.entries) > store.size:
            store.entries.popitem(last=False)
