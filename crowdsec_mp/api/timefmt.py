"""Times as the LAPI stores and renders them.

Every time column holds integer microseconds since the Unix epoch (UTC):
identical comparisons on SQLite, PostgreSQL and MySQL (whose DATETIME drops
fractions by default), and no timezone conversion in the drivers.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dateutil import parser as date_parser

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US = 1_000_000


def to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def parse_rfc3339_us(text) -> int | None:
    """Microseconds of an RFC3339 / RFC3339Nano time, None when unparsable.

    Nanoseconds beyond the sixth digit are dropped (Python datetimes stop at
    microseconds); a time without an offset is taken as UTC.
    """
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = date_parser.isoparse(_trim_fraction(text))
    except (ValueError, OverflowError):
        return None
    return to_us(moment)


def _trim_fraction(text: str) -> str:
    dot = text.find(".")
    if dot < 0:
        return text
    end = dot + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    return text[: min(end, dot + 7)] + text[end:]


def rfc3339_seconds(value_us: int | None) -> str:
    """`2024-05-02T08:01:04Z` (alert start_at/stop_at/created_at on GET)."""
    if value_us is None:
        return ""
    return from_us(value_us).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_time_string(value_us: int | None) -> str:
    """Go `Time.String()` in UTC: `2024-05-02 08:01:00 +0000 UTC`."""
    if value_us is None:
        return ""
    moment = from_us(value_us)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += ("." + f"{moment.microsecond:06d}").rstrip("0")
    return text + " +0000 UTC"
