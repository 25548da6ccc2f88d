"""Numeric, time, URL and offline-database helpers (spec/expr.md §3.4)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

from crowdsec_mp.engine.expr import values as V
from crowdsec_mp.engine.expr.builtins import parse_go_float
from crowdsec_mp.engine.expr.errors import ExprRuntimeError
from crowdsec_mp.engine.expr.gostrings import need_str
from crowdsec_mp.engine.expr.helpers.text import _unescape

EARTH_RADIUS_KM = 6371.0


class ListMap(dict):
    """map[string][]string: a missing key reads as an empty list (Go zero value)."""

    __slots__ = ()

    def __missing__(self, key):
        return []


def Distance(lat1, lon1, lat2, lon2):
    """Haversine distance in km between two points given as strings."""
    coords = []
    for position, value in enumerate((lat1, lon1, lat2, lon2), start=1):
        try:
            coords.append(parse_go_float(need_str(value, "Distance", position)))
        except ValueError as exc:
            raise ExprRuntimeError(f"Distance(): {exc}") from None
    a_lat, a_lon, b_lat, b_lon = coords
    if (a_lat == 0 and a_lon == 0) or (b_lat == 0 and b_lon == 0):
        return 0.0
    phi1, phi2 = math.radians(a_lat), math.radians(b_lat)
    d_phi = math.radians(b_lat - a_lat)
    d_lambda = math.radians(b_lon - a_lon)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _flatten_into(out, value):
    if isinstance(value, (list, tuple)):
        for item in value:
            _flatten_into(out, item)
    else:
        out.append(value)


def Flatten(*args):
    out: list = []
    _flatten_into(out, list(args))
    return out


def Distinct(items):
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise ExprRuntimeError(f"Distinct(): argument must be a list, got {V.kind_name(items)}")
    out: list = []
    for item in items:
        if not any(V.go_equal(item, seen) for seen in out):
            out.append(item)
    return out


def FlattenDistinct(*args):
    return Distinct(Flatten(*args))


def _intervals(times, func):
    if not isinstance(times, (list, tuple)):
        raise ExprRuntimeError(f"{func}(): argument must be a list of times")
    if len(times) < 2:
        raise ExprRuntimeError(f"{func}(): need at least two times")
    aware = []
    for value in times:
        if not isinstance(value, datetime):
            raise ExprRuntimeError(f"{func}(): {V.kind_name(value)} is not a time")
        aware.append(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    aware.sort()
    return [later - earlier for earlier, later in zip(aware, aware[1:])]


def AverageInterval(times):
    gaps = _intervals(times, "AverageInterval")
    return sum(gaps, timedelta(0)) / len(gaps)


def MedianInterval(times):
    gaps = sorted(_intervals(times, "MedianInterval"))
    middle = len(gaps) // 2
    if len(gaps) % 2:
        return gaps[middle]
    return (gaps[middle - 1] + gaps[middle]) / 2


def FloatApproxEqual(a, b):
    for position, value in enumerate((a, b), start=1):
        if type(value) is not float:
            raise ExprRuntimeError(f"FloatApproxEqual(): argument {position} must be a float, "
                                   f"got {V.kind_name(value)}")
    return abs(a - b) < 1e-6


def _query_unescape(text: str) -> str:
    result = _unescape(text, plus_is_space=True)
    return text if result is None else result


def ParseQuery(query):
    """CrowdSec's lenient query parser: `&` separators, `;` kept, bad `%` kept."""
    need_str(query, "ParseQuery")
    result = ListMap()
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = _lenient_unescape(key)
        result.setdefault(key, []).append(_lenient_unescape(value))
    return result


_PERCENT_BYTE = re.compile(rb"%([0-9A-Fa-f]{2})")


def _lenient_unescape(text: str) -> str:
    """`+` -> space, valid `%XX` decoded, invalid `%` kept literally."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    data = _PERCENT_BYTE.sub(lambda m: bytes([int(m.group(1), 16)]), V.to_bytes(text))
    return data.decode("utf-8", "surrogateescape")


def _go_parse_query(query: str) -> dict | None:
    """Go url.ParseQuery: None (error) if a key/value contains `;` or a bad escape."""
    result = ListMap()
    failed = False
    for part in query.split("&"):
        if not part:
            continue
        if ";" in part:
            failed = True
            continue
        key, _, value = part.partition("=")
        key_text = _unescape(key, plus_is_space=True)
        value_text = _unescape(value, plus_is_space=True)
        if key_text is None or value_text is None:
            failed = True
            continue
        result.setdefault(key_text, []).append(value_text)
    return None if failed else result


def ParseUri(uri):
    need_str(uri, "ParseUri")
    query = uri.split("?", 1)[1] if "?" in uri else ""
    query = query.split("#", 1)[0]
    parsed = _go_parse_query(query)
    return ListMap() if parsed is None else parsed


def ExtractQueryParam(uri, name):
    need_str(uri, "ExtractQueryParam")
    need_str(name, "ExtractQueryParam", 2)
    if "?" not in uri:
        return []
    return ParseQuery(uri.split("?", 1)[1])[name]


def ParseUnix(value):
    need_str(value, "ParseUnix")
    seconds_text = value.split(".", 1)[0]
    if not re.fullmatch(r"[+-]?[0-9]+", seconds_text):
        return ""
    seconds = int(seconds_text)
    if seconds <= 0:
        return ""
    try:
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _zero_count(*args):
    return 0


def _zero_duration(*args):
    return timedelta(0)


def _not_detected(value):
    need_str(value, "LibInjection")
    return False  # libinjection is appsec only; log engines never call it


FUNCTIONS = {
    "Distance": Distance,
    "Flatten": Flatten,
    "Distinct": Distinct,
    "FlattenDistinct": FlattenDistinct,
    "AverageInterval": AverageInterval,
    "MedianInterval": MedianInterval,
    "FloatApproxEqual": FloatApproxEqual,
    "ParseUri": ParseUri,
    "ParseQuery": ParseQuery,
    "ExtractQueryParam": ExtractQueryParam,
    "ParseUnix": ParseUnix,
    "GetDecisionsCount": _zero_count,
    "GetDecisionsSinceCount": _zero_count,
    "GetActiveDecisionsCount": _zero_count,
    "GetActiveDecisionsTimeLeft": _zero_duration,
    "LibInjectionIsSQLI": _not_detected,
    "LibInjectionIsXSS": _not_detected,
}
