"""CrowdSec's expression helpers (spec/expr.md §3).

`make_helpers(ctx)` returns name -> callable for every helper. Pure helpers
are shared module-level functions; the ones that need the outside world (data
files, stash, GeoIP, clock) are closures over `ctx` built here.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timezone

from crowdsec_mp.engine.expr.errors import ExprRuntimeError
from crowdsec_mp.engine.expr.gostrings import need_str
from crowdsec_mp.engine.expr.helpers import misc, network, structured, text
from crowdsec_mp.engine.expr.helpers.network import parse_go_ip

log = logging.getLogger(__name__)

PURE_HELPERS: dict = {**text.FUNCTIONS, **structured.FUNCTIONS, **network.FUNCTIONS,
                      **misc.FUNCTIONS}


def _raw_record(ctx, reader_name: str, ip):
    """Raw MaxMind record (a dict) from ctx.geoip.<reader_name> (a maxminddb
    reader, see engine/enrich/geoip.py), None without database or record."""
    need_str(ip, "GeoIP")
    reader = getattr(ctx.geoip, reader_name, None) if ctx.geoip is not None else None
    address = parse_go_ip(ip)
    if reader is None or address is None:
        return None
    try:
        return reader.get(str(address))
    except Exception:  # a corrupt database: no record
        return None


def _geoip_range(ctx, ip):
    """The ASN database network holding ip, as CIDR text (Go returns *net.IPNet)."""
    need_str(ip, "GeoIPRangeEnrich")
    reader = getattr(ctx.geoip, "asn_reader", None) if ctx.geoip is not None else None
    address = parse_go_ip(ip)
    if reader is None or address is None:
        return None
    try:
        record, prefix = reader.get_with_prefix_len(str(address))
    except Exception:
        return None
    if record is None:
        return None
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _country(ctx, ip):
    record = _raw_record(ctx, "city_reader", ip)
    if not isinstance(record, dict):
        return ""
    country = record.get("country") or {}
    return country.get("iso_code", "") if isinstance(country, dict) else ""


def make_helpers(ctx) -> dict:
    """All helpers, with the context-dependent ones bound to `ctx`."""
    data = ctx.data
    stash = ctx.stash

    def File(name):
        need_str(name, "File")
        return data.lines(name)

    def RegexpInFile(value, name):
        need_str(value, "RegexpInFile")
        need_str(name, "RegexpInFile", 2)
        return data.regexp_match(value, name)

    def FileMap(name):
        need_str(name, "FileMap")
        return data.rows(name)

    def LookupFile(value, name):
        need_str(value, "LookupFile")
        need_str(name, "LookupFile", 2)
        return data.lookup(value, name)

    def GetFromStash(cache, key):
        need_str(cache, "GetFromStash")
        need_str(key, "GetFromStash", 2)
        return stash.get(cache, key)

    def SetInStash(cache, key, value, ttl):
        need_str(cache, "SetInStash")
        need_str(key, "SetInStash", 2)
        need_str(value, "SetInStash", 3)
        try:
            stash.set(cache, key, value, ttl)
        except ValueError as exc:
            raise ExprRuntimeError(f"SetInStash(): {exc}") from None
        return None

    def TimeNow():
        return ctx.clock().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    bound = {
        "File": File,
        "RegexpInFile": RegexpInFile,
        "FileMap": FileMap,
        "LookupFile": LookupFile,
        "GetFromStash": GetFromStash,
        "SetInStash": SetInStash,
        "TimeNow": TimeNow,
        "GeoIPEnrich": lambda ip: _raw_record(ctx, "city_reader", ip),
        "GeoIPASNEnrich": lambda ip: _raw_record(ctx, "asn_reader", ip),
        "GeoIPRangeEnrich": lambda ip: _geoip_range(ctx, ip),
        "IPToCountry": lambda ip: _country(ctx, ip),
    }
    return {**PURE_HELPERS, **bound}
