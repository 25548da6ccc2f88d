"""The leaky bucket's continuous token bucket (spec/scenarios.md §4.1).

Tokens are the FREE space of the bucket: a new bucket holds `capacity` tokens
(empty bucket), each poured event takes one, and tokens flow back
continuously at `1 / leakspeed` per second. An event that finds less than one
free token overflows the bucket. Times are int nanoseconds; the token count is
a float, as in Go's x/time/rate.
"""

from __future__ import annotations

from crowdsec_mp.engine.buckets.timeutil import NS_PER_S


class TokenBucket:
    """`allow(t)` takes one token at time `t` or refuses (state untouched).

    `capacity == -1` is the "always full" limiter of counters/bayesian:
    every call succeeds and the reported token count is 0.
    """

    __slots__ = ("capacity", "rate_per_ns", "tokens", "last")

    def __init__(self, capacity: int, leakspeed_ns: int, tokens: float | None = None, last: int | None = None):
        self.capacity = capacity
        self.rate_per_ns = (1.0 / leakspeed_ns) if leakspeed_ns > 0 else 0.0
        self.tokens = float(capacity) if tokens is None else tokens
        self.last = last

    @property
    def unlimited(self) -> bool:
        return self.capacity == -1

    def available(self, t: int) -> float:
        """Tokens that would be available at `t` (time going backwards gives no refill)."""
        if self.unlimited:
            return 0.0
        if self.last is None:
            return float(self.capacity)
        base = self.last if t >= self.last else t
        # Elapsed seconds times the rate, as rate.Limiter does (float64).
        refill = ((t - base) / NS_PER_S) * (self.rate_per_ns * NS_PER_S)
        return min(float(self.capacity), self.tokens + refill)

    def allow(self, t: int) -> bool:
        if self.unlimited:
            return True
        avail = self.available(t)
        if avail - 1 >= 0:
            self.tokens = avail - 1
            self.last = t
            return True
        return False
