"""Go time.Time / time.Duration methods callable on datetime / timedelta values
(`evt.Time.Hour()`, `evt.Time.Weekday().String()`, `d.Seconds()`), and Go
duration text parsing (`duration("1h5m")`, stash TTLs)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from crowdsec_mp.engine.goduration import DurationSyntaxError, scan_go_duration
from crowdsec_mp.engine.event import ZERO_TIME
from crowdsec_mp.engine.expr.errors import ExprRuntimeError
from crowdsec_mp.engine.expr.values import format_duration, format_time

_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


class GoWeekday(int):
    """time.Weekday: an int (Sunday = 0) with a String() method."""

    def String(self):
        return _WEEKDAYS[self]


class GoMonth(int):
    """time.Month: an int (January = 1) with a String() method."""

    def String(self):
        return _MONTHS[self - 1]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _unix(value: datetime) -> int:
    delta = _aware(value) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta.days * 86400 + delta.seconds


def _nanoseconds(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _require(value, kind, method):
    if not isinstance(value, kind):
        raise ExprRuntimeError(f"{method}: wrong argument type")
    return value


TIME_METHODS = {
    "Year": lambda t: t.year,
    "Month": lambda t: GoMonth(t.month),
    "Day": lambda t: t.day,
    "Hour": lambda t: t.hour,
    "Minute": lambda t: t.minute,
    "Second": lambda t: t.second,
    "Nanosecond": lambda t: t.microsecond * 1000,
    "YearDay": lambda t: t.timetuple().tm_yday,
    "Weekday": lambda t: GoWeekday((t.weekday() + 1) % 7),
    "Unix": _unix,
    "UnixMilli": lambda t: _unix(t) * 1000 + t.microsecond // 1000,
    "UnixNano": lambda t: _unix(t) * 10**9 + t.microsecond * 1000,
    "UTC": lambda t: _aware(t).astimezone(timezone.utc),
    "Local": lambda t: t,
    "IsZero": lambda t: _aware(t) == ZERO_TIME,
    "String": format_time,
    "Sub": lambda t, u: _aware(t) - _aware(_require(u, datetime, "Sub")),
    "Add": lambda t, d: t + _require(d, timedelta, "Add"),
    "After": lambda t, u: _aware(t) > _aware(_require(u, datetime, "After")),
    "Before": lambda t, u: _aware(t) < _aware(_require(u, datetime, "Before")),
    "Equal": lambda t, u: _aware(t) == _aware(_require(u, datetime, "Equal")),
}

DURATION_METHODS = {
    "Hours": lambda d: _nanoseconds(d) / 3.6e12,
    "Minutes": lambda d: _nanoseconds(d) / 6e10,
    "Seconds": lambda d: _nanoseconds(d) / 1e9,
    "Milliseconds": lambda d: _nanoseconds(d) // 10**6,
    "Microseconds": lambda d: _nanoseconds(d) // 10**3,
    "Nanoseconds": _nanoseconds,
    "Abs": abs,
    "String": format_duration,
}


def parse_go_duration(text: str) -> timedelta:
    """Go time.ParseDuration: `300ms`, `-1.5h`, `1h5m10s`, `0`. Raises ValueError
    with Go's messages."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}")
    try:
        nanoseconds = scan_go_duration(text)
    except DurationSyntaxError as exc:
        what = "missing unit in duration" if exc.missing_unit else "invalid duration"
        raise ValueError(f"time: {what} {text!r}") from None
    return timedelta(microseconds=nanoseconds / 1000)
