"""Date parsing for the `ParseDate` method (spec/parsers.md §6.1).

`parse_date(text, layout_hint, current_year=...)` tries, in order, the Go layout
`layout_hint` (the event's `StrTimeFormat`), the 16 layouts CrowdSec tries,
then a unix epoch. Layouts are Go reference-time layouts
(`2006-01-02T15:04:05Z07:00`); `GoLayout` compiles one into a small chunk list
and parses values with the rules of Go's `time.Parse` that matter here: space
runs, a fraction accepted after seconds, numeric and named zones, day validity,
case-insensitive month and weekday names. A layout without a year gives year 0,
which CrowdSec replaces by the current year (Feb 29 then rolls to Mar 1 in a
non-leap year); Python has no year 0, so the year is applied while building
the datetime.

Go keeps nanoseconds; Python datetimes keep microseconds. A parsed value whose
fraction needs more than 6 digits is a `GoDatetime`, a datetime subclass that
also carries the full nanosecond, so that `marshal_time` prints the fraction
exactly as Go's MarshalText does; other values are plain aware datetimes.

Speed (this is on the per-line hot path): results are cached per
(text, layout hint, year) since log timestamps repeat; the syslog, CLF,
RFC3339 and `2006-01-02 15:04:05` layouts have hand-written fast paths that accept a subset of what the
generic parser accepts and give the same result for it; and each layout has a
permissive "shape" regex checked before the exact parse, so most layouts are
rejected without running it. None of these changes a result (tests compare
the fast paths and the shape check against the exact parser).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

__all__ = ["GoDatetime", "GoLayout", "LAYOUTS", "marshal_time", "parse_date", "parse_layout"]

#: The layouts CrowdSec's ParseDate tries, in its order (#9 repeats #1 on purpose).
LAYOUTS = (
    "2006-01-02T15:04:05Z07:00",
    "02/Jan/2006:15:04:05 -0700",
    "Mon Jan 2 15:04:05 2006",
    "02-Jan-2006 15:04:05 europe/paris",
    "01/02/2006 15:04:05",
    "2006-01-02 15:04:05.999999999 -0700 MST",
    "Jan  2 15:04:05",
    "Mon Jan 02 15:04:05.000000 2006",
    "2006-01-02T15:04:05Z07:00",
    "2006/01/02",
    "2006/01/02 15:04",
    "2006-01-02",
    "2006-01-02 15:04",
    "2006/01/02 15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04:05",
)

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_SHORT_MONTHS = {name[:3].lower(): number for number, name in enumerate(_MONTHS, start=1)}
_LONG_MONTHS = {name.lower(): number for number, name in enumerate(_MONTHS, start=1)}
_SHORT_WEEKDAYS = {name[:3].lower() for name in _WEEKDAYS}
_LONG_WEEKDAYS = {name.lower() for name in _WEEKDAYS}

_INT64_MAX = 2**63 - 1


class GoDatetime(datetime):
    """A datetime that also remembers nanoseconds (0..999999999 of the second)."""

    nanosecond: int

    def __new__(cls, *args, nanosecond: int = 0, **kwargs):
        value = super().__new__(cls, *args, **kwargs)
        value.nanosecond = nanosecond
        return value

    def __reduce_ex__(self, protocol):
        # Keep the nanoseconds through pickling/deepcopy (events are copied).
        return (_rebuild, (datetime(*self.timetuple()[:6], self.microsecond, self.tzinfo), self.nanosecond))


def _rebuild(plain: datetime, nanosecond: int) -> GoDatetime:
    return _go_datetime(plain, nanosecond)


def _go_datetime(plain: datetime, nanosecond: int) -> GoDatetime:
    return GoDatetime(
        plain.year, plain.month, plain.day, plain.hour, plain.minute, plain.second,
        nanosecond // 1000, plain.tzinfo, nanosecond=nanosecond,
    )


# ---------------------------------------------------------------------------
# Go layouts -> chunks
# ---------------------------------------------------------------------------
# Chunk kinds (a chunk is a literal string or one of these tuples).
YEAR4, YEAR2 = "2006", "06"
MONTH_SHORT, MONTH_LONG, MONTH_NUM, MONTH_ZERO = "Jan", "January", "1", "01"
WEEKDAY_SHORT, WEEKDAY_LONG = "Mon", "Monday"
DAY, DAY_ZERO, DAY_UNDER = "2", "02", "_2"
HOUR24, HOUR12, HOUR12_ZERO = "15", "3", "03"
MINUTE, MINUTE_ZERO, SECOND, SECOND_ZERO = "4", "04", "5", "05"
PM_UPPER, PM_LOWER = "PM", "pm"
ZONE_NAME = "MST"
FRACTION_EXACT, FRACTION_OPTIONAL = ".0", ".9"
# Numeric zones: (text, with "Z" for UTC, digits layout)
_NUMERIC_ZONES = (
    ("Z07:00:00", True, "hh:mm:ss"), ("-07:00:00", False, "hh:mm:ss"),
    ("Z070000", True, "hhmmss"), ("-070000", False, "hhmmss"),
    ("Z07:00", True, "hh:mm"), ("-07:00", False, "hh:mm"),
    ("Z0700", True, "hhmm"), ("-0700", False, "hhmm"),
    ("Z07", True, "hh"), ("-07", False, "hh"),
)


def _next_chunk(layout: str, i: int):
    """(chunk, length) of the standard element at layout[i], or None if literal."""
    rest = layout[i:]
    first = rest[0]
    if first == "J" and rest.startswith("Jan"):
        return (MONTH_LONG, 7) if rest.startswith("January") else (MONTH_SHORT, 3)
    if first == "M":
        if rest.startswith("Monday"):
            return WEEKDAY_LONG, 6
        if rest.startswith("Mon"):
            return WEEKDAY_SHORT, 3
        if rest.startswith("MST"):
            return ZONE_NAME, 3
    if first == "0" and len(rest) > 1 and rest[1] in "123456":
        return {"1": MONTH_ZERO, "2": DAY_ZERO, "3": HOUR12_ZERO, "4": MINUTE_ZERO,
                "5": SECOND_ZERO, "6": YEAR2}[rest[1]], 2
    if first == "1":
        return (HOUR24, 2) if rest.startswith("15") else (MONTH_NUM, 1)
    if first == "2":
        return (YEAR4, 4) if rest.startswith("2006") else (DAY, 1)
    if first == "_" and rest.startswith("_2") and not rest.startswith("_2006"):
        return DAY_UNDER, 2
    if first in "345":
        return {"3": HOUR12, "4": MINUTE, "5": SECOND}[first], 1
    if rest.startswith("PM"):
        return PM_UPPER, 2
    if rest.startswith("pm"):
        return PM_LOWER, 2
    if first in "-Z":
        for text, _, _ in _NUMERIC_ZONES:
            if rest.startswith(text):
                return ("zone", text), len(text)
    if first in ".," and len(rest) > 1 and rest[1] in "09":
        digit = rest[1]
        length = 1
        while length < len(rest) and rest[length] == digit:
            length += 1
        if not (length < len(rest) and rest[length].isdigit()):
            kind = FRACTION_EXACT if digit == "0" else FRACTION_OPTIONAL
            return (kind, length - 1), length
    return None


@lru_cache(maxsize=256)
def parse_layout(layout: str) -> "GoLayout":
    """Compile a Go reference-time layout once (cached)."""
    return GoLayout(layout)


class GoLayout:
    """A Go time layout split into literal strings and element chunks."""

    def __init__(self, layout: str):
        self.layout = layout
        chunks: list = []
        literal = []
        i = 0
        while i < len(layout):
            found = _next_chunk(layout, i)
            if found is None:
                literal.append(layout[i])
                i += 1
                continue
            if literal:
                chunks.append("".join(literal))
                literal = []
            element = found[0]
            # Elements are tuples, literals are strings: "06" as text never
            # gets mistaken for the two-digit-year element.
            chunks.append(element if isinstance(element, tuple) else (element,))
            i += found[1]
        if literal:
            chunks.append("".join(literal))
        self.chunks = tuple(chunks)
        # A permissive regex of the layout's shape: every value Go's parser
        # accepts matches it (the converse is not true). Checking it first is
        # a pure speed-up: most values are rejected without the full parse.
        self.shape = re.compile("".join(_shape(chunk, self.chunks, i) for i, chunk in enumerate(self.chunks)),
                                re.ASCII)

    def parse(self, value: str, current_year: int):
        """A datetime (GoDatetime when it has nanoseconds), or None when `value`
        does not fit the layout."""
        if self.shape.fullmatch(value) is None:
            return None
        return self.parse_exactly(value, current_year)

    def parse_exactly(self, value: str, current_year: int):
        """`parse` without the shape pre-check (tests compare both)."""
        try:
            fields = _parse_fields(self.chunks, value)
        except _Mismatch:
            return None
        return _build(fields, current_year)


class _Mismatch(Exception):
    pass


def _shape(chunk, chunks, index) -> str:
    """Permissive regex for one chunk (see GoLayout.shape)."""
    if isinstance(chunk, str):
        return "".join(" *" if char == " " else re.escape(char) for char in chunk)
    kind = chunk[0]
    if kind == YEAR4:
        return r"\d{4}"
    if kind in (YEAR2, MONTH_ZERO, DAY_ZERO, HOUR12_ZERO, MINUTE_ZERO):
        return r"\d\d"
    if kind in (MONTH_NUM, DAY, HOUR24, HOUR12, MINUTE):
        return r"\d\d?"
    if kind == DAY_UNDER:
        return r" ?\d\d?"
    if kind in (SECOND, SECOND_ZERO):
        digits = r"\d\d" if kind == SECOND_ZERO else r"\d\d?"
        following = chunks[index + 1] if index + 1 < len(chunks) else None
        if isinstance(following, tuple) and following[0] in (FRACTION_EXACT, FRACTION_OPTIONAL):
            return digits
        return digits + r"(?:[.,]\d+)?"  # a fraction is accepted after seconds
    if kind in (MONTH_SHORT, MONTH_LONG, WEEKDAY_SHORT, WEEKDAY_LONG):
        return "[A-Za-z]+"
    if kind in (PM_UPPER, PM_LOWER):
        return "[AaPp][Mm]"
    if kind == FRACTION_EXACT:
        return r"[.,]\d{%d}" % chunk[1]
    if kind == FRACTION_OPTIONAL:
        return r"(?:[.,]\d+)?"
    if kind == "zone":
        return r"(?:Z|[+-][0-9:]+)" if chunk[1].startswith("Z") else r"[+-][0-9:]+"
    if kind == ZONE_NAME:
        return r"[A-Za-z+-][A-Za-z0-9+-]*"
    raise AssertionError(f"unhandled layout element {chunk!r}")  # pragma: no cover


def _skip_literal(value: str, pos: int, literal: str) -> int:
    """Go's prefix skip: a layout space needs >= 1 value space, then runs collapse."""
    i = 0
    n = len(value)
    while i < len(literal):
        if literal[i] == " ":
            if pos < n and value[pos] != " ":
                raise _Mismatch
            while i < len(literal) and literal[i] == " ":
                i += 1
            while pos < n and value[pos] == " ":
                pos += 1
            continue
        if pos >= n or value[pos] != literal[i]:
            raise _Mismatch
        i += 1
        pos += 1
    return pos


def _number(value: str, pos: int, fixed: bool) -> tuple[int, int]:
    """Go getnum: 1 or 2 digits (exactly 2 when `fixed`)."""
    n = len(value)
    if pos >= n or not "0" <= value[pos] <= "9":
        raise _Mismatch
    if pos + 1 >= n or not "0" <= value[pos + 1] <= "9":
        if fixed:
            raise _Mismatch
        return int(value[pos]), pos + 1
    return int(value[pos : pos + 2]), pos + 2


def _digits(value: str, pos: int, count: int) -> int:
    text = value[pos : pos + count]
    if len(text) != count or not text.isdigit() or not text.isascii():
        raise _Mismatch
    return int(text)


def _name(value: str, pos: int, names) -> tuple[str, int]:
    """Case-insensitive name lookup (longest names are all the same length per table)."""
    for name in names:
        candidate = value[pos : pos + len(name)]
        if candidate.lower() == name:
            return name, pos + len(name)
    raise _Mismatch


def _nanoseconds(value: str, pos: int, length: int) -> int:
    """value[pos] is '.' or ','; the next length-1 characters are digits."""
    digits = value[pos + 1 : pos + length]
    if value[pos] not in ".," or not digits.isdigit() or not digits.isascii():
        raise _Mismatch
    return int((digits + "000000000")[:9])


def _zone_name_length(value: str, pos: int) -> int:
    """Length of a zone abbreviation at value[pos] (Go's rules), 0 if none."""
    rest = value[pos:]
    if len(rest) < 3:
        return 0
    if rest.startswith(("ChST", "MeST")):
        return 4
    if rest.startswith("GMT"):
        # GMT, optionally followed by a signed offset (GMT+2, GMT-10).
        return 3 + _signed_offset_length(rest[3:])
    if rest[0] in "+-":
        return _signed_offset_length(rest)
    upper = 0
    while upper < min(len(rest), 6) and "A" <= rest[upper] <= "Z":
        upper += 1
    if upper == 3:
        return 3
    if upper == 4 and (rest[3] == "T" or rest.startswith("WITA")):
        return 4
    if upper == 5 and rest[4] == "T":
        return 5
    return 0


_SIGNED_NUMBER = re.compile(r"[+-]([0-9]+)", re.ASCII)


def _signed_offset_length(text: str) -> int:
    """Length of a `+N`/`-N` zone suffix (N <= 86400 like Go), 0 if none."""
    match = _SIGNED_NUMBER.match(text)
    if match is None or int(match.group(1)) > 86400:
        return 0
    return match.end()


def _parse_fields(chunks, value: str) -> dict:
    fields = {"year": 0, "month": -1, "day": -1, "hour": 0, "minute": 0, "second": 0,
              "nanosecond": 0, "pm": None, "offset": None, "zone_name": None}
    pos = 0
    n = len(value)
    for index, chunk in enumerate(chunks):
        if isinstance(chunk, str):
            pos = _skip_literal(value, pos, chunk)
            continue
        kind = chunk[0]
        if kind == YEAR4:
            fields["year"] = _digits(value, pos, 4)
            pos += 4
        elif kind == YEAR2:
            year = _digits(value, pos, 2)
            fields["year"] = year + (1900 if year >= 69 else 2000)
            pos += 2
        elif kind == MONTH_SHORT:
            name, pos = _name(value, pos, _SHORT_MONTHS)
            fields["month"] = _SHORT_MONTHS[name]
        elif kind == MONTH_LONG:
            name, pos = _name(value, pos, sorted(_LONG_MONTHS, key=len, reverse=True))
            fields["month"] = _LONG_MONTHS[name]
        elif kind in (MONTH_NUM, MONTH_ZERO):
            month, pos = _number(value, pos, kind == MONTH_ZERO)
            if not 1 <= month <= 12:
                raise _Mismatch
            fields["month"] = month
        elif kind == WEEKDAY_SHORT:
            _, pos = _name(value, pos, _SHORT_WEEKDAYS)
        elif kind == WEEKDAY_LONG:
            _, pos = _name(value, pos, sorted(_LONG_WEEKDAYS, key=len, reverse=True))
        elif kind in (DAY, DAY_ZERO, DAY_UNDER):
            if kind == DAY_UNDER and pos < n and value[pos] == " ":
                pos += 1
            day, pos = _number(value, pos, kind == DAY_ZERO)
            if not 1 <= day <= 31:
                raise _Mismatch
            fields["day"] = day
        elif kind == HOUR24:
            hour, pos = _number(value, pos, False)
            if hour > 23:
                raise _Mismatch
            fields["hour"] = hour
        elif kind in (HOUR12, HOUR12_ZERO):
            hour, pos = _number(value, pos, kind == HOUR12_ZERO)
            if hour > 12:
                raise _Mismatch
            fields["hour"] = hour
        elif kind in (MINUTE, MINUTE_ZERO):
            minute, pos = _number(value, pos, kind == MINUTE_ZERO)
            if minute > 59:
                raise _Mismatch
            fields["minute"] = minute
        elif kind in (SECOND, SECOND_ZERO):
            second, pos = _number(value, pos, kind == SECOND_ZERO)
            if second > 59:
                raise _Mismatch
            fields["second"] = second
            # A fraction in the value is accepted even when the layout has none,
            # unless the layout's next element is itself a fraction.
            following = chunks[index + 1] if index + 1 < len(chunks) else None
            layout_has_fraction = isinstance(following, tuple) and following[0] in (FRACTION_EXACT, FRACTION_OPTIONAL)
            if (not layout_has_fraction and pos + 1 < n and value[pos] in ".,"
                    and "0" <= value[pos + 1] <= "9"):
                end = pos + 1
                while end < n and "0" <= value[end] <= "9":
                    end += 1
                fields["nanosecond"] = _nanoseconds(value, pos, end - pos)
                pos = end
        elif kind == FRACTION_EXACT:
            length = 1 + chunk[1]
            if n - pos < length:
                raise _Mismatch
            fields["nanosecond"] = _nanoseconds(value, pos, length)
            pos += length
        elif kind == FRACTION_OPTIONAL:
            if n - pos >= 2 and value[pos] in ".," and "0" <= value[pos + 1] <= "9":
                end = pos + 1
                while end < n and "0" <= value[end] <= "9":
                    end += 1
                fields["nanosecond"] = _nanoseconds(value, pos, end - pos)
                pos = end
        elif kind in (PM_UPPER, PM_LOWER):
            text = value[pos : pos + 2]
            expected = ("PM", "AM") if kind == PM_UPPER else ("pm", "am")
            if text not in expected:
                raise _Mismatch
            fields["pm"] = text == expected[0]
            pos += 2
        elif kind == "zone":
            pos = _parse_numeric_zone(chunk[1], value, pos, fields)
        elif kind == ZONE_NAME:
            if value.startswith("UTC", pos):
                fields["zone_name"] = "UTC"
                pos += 3
            else:
                length = _zone_name_length(value, pos)
                if not length:
                    raise _Mismatch
                fields["zone_name"] = value[pos : pos + length]
                pos += length
        else:  # pragma: no cover - every chunk kind is handled above
            raise _Mismatch
    if pos != n:
        raise _Mismatch  # extra text after the layout
    return fields


def _parse_numeric_zone(layout_text: str, value: str, pos: int, fields: dict) -> int:
    accepts_z = layout_text.startswith("Z")
    shape = next(shape for text, _, shape in _NUMERIC_ZONES if text == layout_text)
    if accepts_z and value.startswith("Z", pos):
        fields["offset"] = 0
        return pos + 1
    width = 1 + len(shape)
    text = value[pos : pos + width]
    if len(text) < width or text[0] not in "+-":
        raise _Mismatch
    body = text[1:]
    for index, symbol in enumerate(shape):
        if (symbol == ":") != (body[index] == ":"):
            raise _Mismatch
        if symbol != ":" and not "0" <= body[index] <= "9":
            raise _Mismatch
    numbers = [int(part) for part in (body.replace(":", "")[k : k + 2] for k in (0, 2, 4)) if part]
    hours, minutes, seconds = (numbers + [0, 0, 0])[:3]
    if hours > 24 or minutes > 60 or seconds > 60:
        raise _Mismatch
    offset = hours * 3600 + minutes * 60 + seconds
    fields["offset"] = -offset if text[0] == "-" else offset
    return pos + width


def _zone(fields: dict):
    if fields["offset"] is not None:
        return _fixed_zone(fields["offset"])
    name = fields["zone_name"]
    if name and len(name) > 3 and name.startswith("GMT"):
        try:
            return _fixed_zone(int(name[3:]) * 3600)
        except ValueError:
            return timezone.utc
    # A zone name without offset: Go uses a zero-offset zone of that name.
    return timezone.utc


@lru_cache(maxsize=128)
def _fixed_zone(offset_seconds: int):
    """A fixed-offset tzinfo; None for offsets Python cannot hold (|offset| >= 24h,
    which Go accepts): such values are treated as unparseable."""
    if offset_seconds == 0:
        return timezone.utc
    try:
        return timezone(timedelta(seconds=offset_seconds))
    except ValueError:
        return None


_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    # Year 0 is a leap year in the proleptic Gregorian calendar (Go's view).
    if month == 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return 29
    return _DAYS_IN_MONTH[month]


def _build(fields: dict, current_year: int):
    month = fields["month"] if fields["month"] >= 0 else 1
    day = fields["day"] if fields["day"] >= 0 else 1
    hour = fields["hour"]
    if fields["pm"] is True and hour < 12:
        hour += 12
    elif fields["pm"] is False and hour == 12:
        hour = 0
    return _make(fields["year"], month, day, hour, fields["minute"], fields["second"],
                 fields["nanosecond"], _zone(fields), current_year)


def _make(year, month, day, hour, minute, second, nanosecond, tz, current_year):
    """The datetime, or None when the day does not exist in the month.

    A plain datetime when microseconds hold the fraction exactly, else a
    GoDatetime carrying the nanoseconds.
    """
    if tz is None or day > _days_in_month(year, month):
        return None
    if year == 0:
        # CrowdSec adds the current year to a year-0 time (AddDate): Feb 29
        # in a non-leap year normalizes to Mar 1.
        year = current_year
        if month == 2 and day == 29 and _days_in_month(year, 2) == 28:
            month, day = 3, 1
    try:
        if nanosecond % 1000:
            return GoDatetime(year, month, day, hour, minute, second, nanosecond // 1000, tz,
                              nanosecond=nanosecond)
        return datetime(year, month, day, hour, minute, second, nanosecond // 1000, tz)
    except (ValueError, OverflowError):
        return None


# ---------------------------------------------------------------------------
# Fast paths for the hot layouts (same results as the generic parser)
# ---------------------------------------------------------------------------
_SYSLOG = re.compile(r"([A-Za-z]{3}) +(\d{1,2}) +(\d{1,2}):(\d\d):(\d\d)", re.ASCII)
_CLF = re.compile(r"(\d\d)/([A-Za-z]{3})/(\d{4}):(\d{1,2}):(\d\d):(\d\d) +([+-])(\d\d)(\d\d)", re.ASCII)
_SQL_DATETIME = re.compile(r"(\d{4})-(\d\d)-(\d\d) +(\d{1,2}):(\d\d):(\d\d)(?:[.,](\d+))?", re.ASCII)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d{1,2}):(\d\d):(\d\d)(?:[.,](\d+))?(?:(Z)|([+-])(\d\d):(\d\d))", re.ASCII
)


def _fast_path(text: str, current_year: int):
    """Result for the common shapes, or None to let the generic parser decide."""
    first = text[:1]
    if first.isalpha():
        found = _SYSLOG.fullmatch(text)
        if found is None:
            return None
        name, day, hour, minute, second = found.groups()
        month = _SHORT_MONTHS.get(name.lower())
        year, nanosecond, tz = 0, 0, timezone.utc
    elif first.isdigit():
        # CLF needs "/" at index 2, where RFC3339 and layout 15 need a digit:
        # only CLF can fit, so it is tried first (nginx/apache timestamps).
        found = None if text[2:3] == "/" else _RFC3339.fullmatch(text)
        if found is not None:
            year, month, day, hour, minute, second, fraction, _, sign, zone_h, zone_m = found.groups()
            year, month = int(year), int(month)
            nanosecond = int((fraction + "000000000")[:9]) if fraction else 0
            if sign:
                zone_h, zone_m = int(zone_h), int(zone_m)
                if zone_h > 24 or zone_m > 60:
                    return None
                offset = zone_h * 3600 + zone_m * 60
                tz = _fixed_zone(-offset if sign == "-" else offset)
            else:
                tz = timezone.utc
        elif text[2:3] != "/" and (found := _SQL_DATETIME.fullmatch(text)) is not None:
            # Layout 15: every earlier layout needs something this text lacks.
            year, month, day, hour, minute, second, fraction = found.groups()
            year, month = int(year), int(month)
            nanosecond = int((fraction + "000000000")[:9]) if fraction else 0
            tz = timezone.utc
        else:
            found = _CLF.fullmatch(text)
            if found is None:
                return None
            day, name, year, hour, minute, second, sign, zone_h, zone_m = found.groups()
            month = _SHORT_MONTHS.get(name.lower())
            zone_h, zone_m = int(zone_h), int(zone_m)
            if zone_h > 24 or zone_m > 60:
                return None
            offset = zone_h * 3600 + zone_m * 60
            tz = _fixed_zone(-offset if sign == "-" else offset)
            year, nanosecond = int(year), 0
    else:
        return None
    day, hour, minute, second = int(day), int(hour), int(minute), int(second)
    if month is None or not 1 <= month <= 12 or not 1 <= day <= 31 or hour > 23 or minute > 59 or second > 59:
        return None
    return _make(year, month, day, hour, minute, second, nanosecond, tz, current_year)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def parse_date(text: str, layout_hint: str = "", *, current_year: int):
    """Parse `text` like CrowdSec's ParseDate; None when nothing fits.

    Order: `layout_hint` (a Go layout), then `LAYOUTS`, then a unix epoch
    (seconds before the first `.`, > 0, returned in UTC without fraction).
    Times without a year get `current_year`.
    """
    if not text:
        return None
    if len(text) <= _CACHEABLE_LENGTH:
        # Log timestamps repeat (many lines per second): parsing is pure, so
        # results are cached. GoDatetime values are immutable like datetimes.
        return _parse_date_cached(text, layout_hint, current_year)
    return _parse_date_uncached(text, layout_hint, current_year)


_CACHEABLE_LENGTH = 64


@lru_cache(maxsize=4096)
def _parse_date_cached(text: str, layout_hint: str, current_year: int):
    return _parse_date_uncached(text, layout_hint, current_year)


def _parse_date_uncached(text: str, layout_hint: str, current_year: int):
    if layout_hint:
        parsed = parse_layout(layout_hint).parse(text, current_year)
        if parsed is not None:
            return parsed
    parsed = _fast_path(text, current_year)
    if parsed is not None:
        return parsed
    for layout in LAYOUTS:
        parsed = parse_layout(layout).parse(text, current_year)
        if parsed is not None:
            return parsed
    return _parse_epoch(text)


_EPOCH = re.compile(r"[+-]?[0-9]+", re.ASCII)


def _parse_epoch(text: str):
    seconds_text = text.split(".", 1)[0]
    if not _EPOCH.fullmatch(seconds_text):
        return None
    seconds = int(seconds_text)
    if seconds <= 0 or seconds > _INT64_MAX:
        return None
    try:
        plain = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    except OverflowError:
        return None  # beyond year 9999: Go can represent it, Python cannot
    return plain


def marshal_time(value: datetime) -> str:
    """Go's time.MarshalText: RFC3339, nanoseconds with trailing zeros trimmed,
    `Z` for a zero offset, the offset kept otherwise.

    Fast path for the common case (a plain datetime, whole seconds, an offset
    of whole minutes): `isoformat()` already spells it, except `Z` for UTC.
    Anything else goes through `_marshal_time_generic` (tests compare both).
    """
    if type(value) is datetime and not value.microsecond:
        text = value.isoformat()
        if len(text) == 25:  # YYYY-MM-DDTHH:MM:SS+HH:MM
            return text[:19] + "Z" if text.endswith("+00:00") else text
        if len(text) == 19:  # naive: no offset
            return text + "Z"
    return _marshal_time_generic(value)


def _marshal_time_generic(value: datetime) -> str:
    """`marshal_time` for every datetime (GoDatetime, fractions, odd offsets)."""
    nanosecond = getattr(value, "nanosecond", None)
    if nanosecond is None or nanosecond // 1000 != value.microsecond:
        # A plain datetime, or a GoDatetime changed by arithmetic/replace().
        nanosecond = value.microsecond * 1000
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if nanosecond:
        text += "." + f"{nanosecond:09d}".rstrip("0")
    offset = value.utcoffset()
    if offset is None or not offset:
        return text + "Z"
    total = int(offset.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{text}{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"
