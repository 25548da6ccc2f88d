"""Go duration strings, as the LAPI reads and writes them.

`parse_duration("1d12h")` accepts Go's `time.ParseDuration` syntax plus the `d`
(24h) unit CrowdSec allows in decisions, profiles and filters.
`format_duration(seconds)` renders like Go's `Duration.String()` for a whole
number of seconds (`4h0m0s`, `59m1s`, `0s`, `-1m30s`): bouncers parse it back
with `time.ParseDuration`, so it must be valid Go syntax.
"""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")


def parse_duration(text) -> float:
    """Seconds in a Go duration (with optional days). ValueError when invalid."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"invalid duration {text!r}")
    sign = 1.0
    body = text
    if body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    position = 0
    total = 0.0
    while position < len(body):
        match = _PART.match(body, position)
        if not match:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position == 0:
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def format_duration(seconds: float) -> str:
    """Go `Duration.String()` of `seconds` rounded to the nearest second."""
    total = int(round(seconds))
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"
