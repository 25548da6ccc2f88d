"""Go duration strings, as the LAPI reads and writes them.

`parse_duration("1d12h")` accepts Go's `time.ParseDuration` syntax plus the `d`
(24h) unit CrowdSec allows in decisions, profiles and filters.
`format_duration(seconds)` renders like Go's `Duration.String()` for a whole
number of seconds (`4h0m0s`, `59m1s`, `0s`, `-1m30s`): bouncers parse it back
with `time.ParseDuration`, so it must be valid Go syntax.
"""

from __future__ import annotations

from crowdsec_mp.engine.goduration import GO_UNIT_NS
from crowdsec_mp.engine.goduration import scan_go_duration

#: Go's units plus CrowdSec's `d`, in nanoseconds.
_UNITS_NS = {**GO_UNIT_NS, "d": 24 * 3600 * 10**9}


def parse_duration(text) -> float:
    """Seconds in a Go duration (with optional days). ValueError when invalid."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}")
    return scan_go_duration(text, _UNITS_NS) / 1e9


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
