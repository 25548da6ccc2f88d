"""Enrichment methods called by node statics (`method: Name`, spec/parsers.md §6).

`METHODS[name](value, evt, ctx) -> dict[str, str]`: `value` is the static's
evaluated value, the returned map is merged into `evt.Enriched` by the caller.
Methods never raise on bad input; they return an empty map instead. Only
`ParseDate` (evt.Time in time-machine mode) and `UnmarshalJSON`
(evt.Unmarshaled) change the event themselves, as CrowdSec's do.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from functools import lru_cache
from datetime import timezone

from crowdsec_mp.engine.enrich.dates import marshal_time, parse_date
from crowdsec_mp.engine.event import TIMEMACHINE

log = logging.getLogger(__name__)


def parse_date_method(value, evt, ctx) -> dict[str, str]:
    """MarshaledTime of the parsed `value` (evt.StrTimeFormat first); now when nothing parses."""
    parsed = None
    if value:
        text = str(value)
        layout_hint = evt.StrTimeFormat or ""
        year = ctx.year()
        if len(text) <= 64:
            parsed, marshaled = _parse_and_marshal(text, layout_hint, year)
        else:
            parsed = parse_date(text, layout_hint, current_year=year)
            marshaled = marshal_time(parsed) if parsed is not None else ""
    if parsed is None:
        return {"MarshaledTime": marshal_time(ctx.now().astimezone(timezone.utc))}
    if evt.ExpectMode == TIMEMACHINE:
        evt.Time = parsed
    return {"MarshaledTime": marshaled}


@lru_cache(maxsize=4096)
def _parse_and_marshal(text: str, layout_hint: str, year: int):
    """Hot path: log timestamps repeat, and parsing + formatting is pure."""
    parsed = parse_date(text, layout_hint, current_year=year)
    return parsed, (marshal_time(parsed) if parsed is not None else "")


def geoip_city(value, evt, ctx) -> dict[str, str]:
    if not value or ctx.geoip is None:
        return {}
    return ctx.geoip.city(str(value))


def geoip_asn(value, evt, ctx) -> dict[str, str]:
    if not value or ctx.geoip is None:
        return {}
    return ctx.geoip.asn(str(value))


def ip_to_range(value, evt, ctx) -> dict[str, str]:
    if not value or ctx.geoip is None:
        return {}
    return ctx.geoip.ip_range(str(value))


def reverse_dns(value, evt, ctx) -> dict[str, str]:
    """PTR name through `ctx.extras["resolver"]` (callable ip -> name or list of
    names, None when unknown). No resolver = offline = nothing."""
    resolver = ctx.extras.get("resolver") if ctx.extras else None
    if resolver is None or not value:
        return {}
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return {}
    try:
        names = resolver(str(value))
    except Exception as exc:  # a resolver failure must not stop parsing
        log.debug("reverse_dns: lookup of %s failed: %s", value, exc)
        return {}
    if isinstance(names, (list, tuple)):
        names = names[0] if names else None
    if not names:
        return {}
    return {"reverse_dns": str(names)}


def unmarshal_json(value, evt, ctx) -> dict[str, str]:
    """Decode evt.Line.Raw (not `value`) as a JSON object into evt.Unmarshaled."""
    try:
        decoded = json.loads(evt.Line.Raw)
    except (ValueError, TypeError, RecursionError) as exc:
        log.debug("UnmarshalJSON: cannot decode line: %s", exc)
        return {}
    if not isinstance(decoded, dict):
        log.debug("UnmarshalJSON: line is not a JSON object")
        return {}
    evt.Unmarshaled.update(decoded)
    return {}


METHODS = {
    "ParseDate": parse_date_method,
    "GeoIpCity": geoip_city,
    "GeoIpASN": geoip_asn,
    "IpToRange": ip_to_range,
    "reverse_dns": reverse_dns,
    "UnmarshalJSON": unmarshal_json,
}
