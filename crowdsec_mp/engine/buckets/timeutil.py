"""Times and durations as integer nanoseconds, with Go's text formats.

Buckets keep every timestamp as an int number of nanoseconds since the Unix
epoch (UTC) and every duration as int nanoseconds: arithmetic is exact, cheap
and deterministic, and the alert texts CrowdSec prints (Go `Duration.String()`,
`Time.String()`, RFC3339Nano) keep their nanosecond precision.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from crowdsec_mp.engine.goduration import DurationSyntaxError, scan_go_duration

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_H = 60 * NS_PER_MIN

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

def parse_go_duration(text) -> int:
    """Go `time.ParseDuration` -> nanoseconds (surrounding blanks ignored).
    Raises ValueError on bad text."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string like '10s', got {text!r}")
    try:
        return scan_go_duration(text.strip())
    except DurationSyntaxError:
        raise ValueError(f"invalid duration {text!r} (expected <number><unit>, "
                         "unit one of ns us ms s m h)") from None


def _fraction(value: int, digits: int) -> str:
    """`value` as a fraction of 10**digits with trailing zeros removed ('' if 0)."""
    text = f"{value:0{digits}d}".rstrip("0")
    return f".{text}" if text else ""


def format_go_duration(ns: int) -> str:
    """Go `Duration.String()`: `0s`, `500ms`, `1.5µs`, `4.5s`, `1m30s`, `2h0m0s`."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < NS_PER_S:
        if ns < NS_PER_US:
            return f"{sign}{ns}ns"
        if ns < NS_PER_MS:
            return f"{sign}{ns // NS_PER_US}{_fraction(ns % NS_PER_US, 3)}µs"
        return f"{sign}{ns // NS_PER_MS}{_fraction(ns % NS_PER_MS, 6)}ms"
    hours, rest = divmod(ns, NS_PER_H)
    minutes, rest = divmod(rest, NS_PER_MIN)
    seconds, frac = divmod(rest, NS_PER_S)
    text = f"{seconds}{_fraction(frac, 9)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return f"{sign}{text}"


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|z|[+-]\d{2}:?\d{2})$"
)


def parse_rfc3339_ns(text: str) -> int | None:
    """RFC3339 / RFC3339Nano text (as in `evt.MarshaledTime`) -> ns since epoch, None if invalid."""
    if not text:
        return None
    match = _RFC3339.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        base = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc)
    except ValueError:
        return None
    offset_s = 0
    if zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset_s = (int(digits[:2]) * 60 + int(digits[2:])) * 60
        if zone[0] == "-":
            offset_s = -offset_s
    ns = datetime_to_ns(base) - offset_s * NS_PER_S
    if frac:
        ns += int(frac.ljust(9, "0"))
    return ns


def datetime_to_ns(value: datetime) -> int:
    """Aware datetime -> ns since epoch (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * NS_PER_US


def ns_to_datetime(ns: int) -> datetime:
    """ns since epoch -> aware UTC datetime (sub-microsecond digits are dropped)."""
    return _EPOCH + timedelta(microseconds=ns // NS_PER_US)


def _utc_parts(ns: int) -> tuple[datetime, int]:
    seconds, frac = divmod(ns, NS_PER_S)
    return _EPOCH + timedelta(seconds=seconds), frac


def format_rfc3339_nano(ns: int) -> str:
    """Go `time.RFC3339Nano` in UTC: `2020-01-01T10:00:05Z`, `...T08:01:02.1234Z`."""
    base, frac = _utc_parts(ns)
    return f"{base:%Y-%m-%dT%H:%M:%S}{_fraction(frac, 9)}Z"


def format_go_time(ns: int) -> str:
    """Go `Time.String()` of a UTC time: `2020-01-01 10:00:05.5 +0000 UTC`."""
    base, frac = _utc_parts(ns)
    return f"{base:%Y-%m-%d %H:%M:%S}{_fraction(frac, 9)} +0000 UTC"
