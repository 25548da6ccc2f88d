"""State of one live bucket instance (spec/scenarios.md §3.2).

A `Bucket` is plain data: counters, timestamps (int ns), the limiter, the
event queue, the distinct set and the bayesian guillotine flags. What to do
with an event lives in `store.py`; this module only knows how the queue is
bounded and how the state looks from expressions (`queue`, `leaky`).
"""

from __future__ import annotations

from crowdsec_mp.engine.buckets.limiter import TokenBucket


class QueueView:
    """What expressions see as `queue`: `queue.Queue` is the list of queued events."""

    __slots__ = ("Queue", "L")

    def __init__(self, events: list, limit: int):
        self.Queue = events
        self.L = limit


class Bucket:
    """One partition of one scenario. `mode` is fixed by the first event's ExpectMode."""

    __slots__ = (
        "scenario", "group", "mapkey", "mode", "first_ts", "last_ts", "ovflw_ts",
        "total_count", "limiter", "queue", "seen", "guillotine", "deadline",
    )

    def __init__(self, scenario, group: str, mapkey: str, mode: int):
        self.scenario = scenario
        self.group = group
        self.mapkey = mapkey
        self.mode = mode
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.ovflw_ts: int | None = None
        self.total_count = 0
        self.limiter = TokenBucket(scenario.capacity, scenario.leakspeed_ns)
        self.queue: list = []
        #: distinct values already seen, insertion-ordered (dict as an ordered set).
        self.seen: dict = {}
        #: bayesian guillotine flags, one per condition.
        self.guillotine = [False] * len(scenario.bayesian_conditions)
        #: wall-clock ns at which the timer fires (None until the first pour).
        self.deadline: int | None = None

    def enqueue(self, evt) -> None:
        """Append, keeping at most queue_limit + 1 events (oldest dropped first, §3.4)."""
        limit = self.scenario.queue_limit
        queue = self.queue
        if limit >= 0:
            while len(queue) > limit:
                del queue[0]
        queue.append(evt)

    def queue_view(self) -> QueueView:
        return QueueView(self.queue, self.scenario.queue_limit)

    # Go-named read-only fields for expressions using `leaky` (rare in the hub).
    @property
    def Name(self):
        return self.scenario.name

    @property
    def Total_count(self):
        return self.total_count

    @property
    def Capacity(self):
        return self.scenario.capacity

    @property
    def Mapkey(self):
        return self.mapkey
