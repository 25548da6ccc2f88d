"""Bucket overflow -> `RuntimeAlert` (spec/alerts.md §2-§3) and the LAPI JSON body (§1).

`build_runtime_alert` turns the state of an overflowing bucket (its scenario,
counters, timestamps and queued events) into the `RuntimeAlert` carried by the
overflow event: one source per distinct scope value, one API alert per source,
the message text exactly as CrowdSec prints it. `alert_to_api` renders an
`Alert` as the JSON object an agent POSTs to `/v1/alerts`.

Pure functions: no clock (times come from the bucket), no I/O.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import struct

from crowdsec_mp.engine.buckets.timeutil import (
    datetime_to_ns,
    format_go_duration,
    format_go_time,
    format_rfc3339_nano,
)
from crowdsec_mp.engine.event import OVFLW, Alert, APIEvent, MetaItem, RuntimeAlert, Source, is_zero_time

log = logging.getLogger(__name__)

SCOPE_IP = "Ip"
SCOPE_RANGE = "Range"
#: Maximum length of one alert-context value (console_context_value_length).
CONTEXT_VALUE_MAX = 4000


class AlertBuildError(Exception):
    """The overflow cannot become an alert (bad source IP, mixed scopes...): nothing is sent."""


def _float32_text(value: float) -> float:
    """The float Go prints for a float32: shortest decimal that round-trips as float32."""
    packed = struct.pack("<f", value)
    exact = struct.unpack("<f", packed)[0]
    for digits in range(1, 10):
        candidate = float(f"{exact:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return exact


def _parse_float32(text: str, field: str, ip: str) -> float:
    try:
        return _float32_text(float(text))
    except (ValueError, OverflowError):
        log.warning("source %s: %s %r is not a number, ignored", ip, field, text)
        return 0.0


def _run_scope_expr(program, evt) -> str:
    from crowdsec_mp.engine.expr import ExprError

    try:
        value = program.run({"evt": evt})
    except ExprError as exc:
        raise AlertBuildError(f"while running scope expression: {exc}") from exc
    return value if isinstance(value, str) else ""


def _ip_source(evt, scope_type: str) -> Source:
    """Ip/Range source of a LOG event: IP, geo fields, range (spec/scenarios.md §6)."""
    if "source_ip" not in evt.Meta:
        raise AlertBuildError(f"scope is {scope_type} but Meta[source_ip] doesn't exist")
    ip = evt.Meta["source_ip"]
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise AlertBuildError(f"scope is {scope_type} but {ip!r} isn't a valid ip") from None
    src = Source(IP=ip, Scope=scope_type)
    enriched = evt.Enriched
    if "ASNumber" in enriched:
        src.AsNumber = enriched["ASNumber"]
    elif "ASNNumber" in enriched:
        src.AsNumber = enriched["ASNNumber"]
    if "IsoCode" in enriched:
        src.Cn = enriched["IsoCode"]
    if "ASNOrg" in enriched:
        src.AsName = enriched["ASNOrg"]
    if "Latitude" in enriched:
        src.Latitude = _parse_float32(enriched["Latitude"], "Latitude", ip)
    if "Longitude" in enriched:
        src.Longitude = _parse_float32(enriched["Longitude"], "Longitude", ip)
    declared = evt.Meta["SourceRange"] if "SourceRange" in evt.Meta else ""
    if declared:
        try:
            src.Range = str(ipaddress.ip_network(declared, strict=False))
        except ValueError:
            raise AlertBuildError(f"declared range {declared} of {ip} can't be parsed") from None
    return src


def sources_of_event(evt, scope_type: str, scope_expr) -> dict:
    """{value: Source} contributed by one queued event."""
    if evt.Type == OVFLW:
        return _sources_of_overflow(evt, scope_type, scope_expr)
    if scope_type in (SCOPE_IP, SCOPE_RANGE):
        src = _ip_source(evt, scope_type)
        if scope_type == SCOPE_IP:
            src.Value = src.IP
        elif scope_expr is not None:
            src.Value = _run_scope_expr(scope_expr, evt)
        else:
            src.Value = src.Range
        return {src.Value: src}
    if scope_expr is None:
        raise AlertBuildError("empty scope information")
    value = _run_scope_expr(scope_expr, evt)
    return {value: Source(Scope=scope_type, Value=value)}


def _sources_of_overflow(evt, scope_type: str, scope_expr) -> dict:
    """A reprocessed overflow keeps its sources when scopes match (Ip may become Range)."""
    found = {}
    for value, original in evt.Overflow.Sources.items():
        src = Source(**{name: getattr(original, name) for name in Source.__dataclass_fields__})
        if src.Scope == scope_type:
            found[value] = src
        elif src.Scope == SCOPE_IP and scope_type == SCOPE_RANGE:
            src.Scope = SCOPE_RANGE
            src.Value = _run_scope_expr(scope_expr, evt) if scope_expr is not None else src.Range
            found[src.Value] = src
        else:
            log.warning("source %s: scope %s cannot become %s, dropped", value, src.Scope, scope_type)
    return found


def build_sources(queue, scope_type: str, scope_expr) -> dict:
    """Merge the sources of every queued event (first seen wins); one scope only."""
    sources: dict = {}
    for evt in queue:
        for value, src in sources_of_event(evt, scope_type, scope_expr).items():
            if value not in sources:
                sources[value] = src
    scopes = {src.Scope for src in sources.values()}
    if len(scopes) > 1:
        raise AlertBuildError(f"alert has sources of several scopes: {sorted(map(str, scopes))}")
    return sources


def _event_has_meta(evt) -> bool:
    # Go skips events whose Meta map is nil; our events always carry a StrMap,
    # and the only ones that never had Meta are bucket-built overflow events.
    if evt.Meta is None:
        return False
    return not (evt.Type == OVFLW and not evt.Meta)


def _event_timestamp(evt) -> str:
    if evt.MarshaledTime:
        return evt.MarshaledTime
    if not is_zero_time(evt.Time):
        return format_rfc3339_nano(datetime_to_ns(evt.Time))
    log.warning("alert event has neither MarshaledTime nor Time")
    return ""


def build_events(queue) -> list:
    """One API event per queued event with Meta; meta items sorted by key."""
    events = []
    for evt in queue:
        if not _event_has_meta(evt):
            continue
        meta = [MetaItem(Key=key, Value=evt.Meta[key]) for key in sorted(evt.Meta)]
        events.append(APIEvent(Timestamp=_event_timestamp(evt), Meta=meta))
    return events


def _context_values(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out.extend(_context_values(item))
        return out
    return [str(value)]


_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json_strings(values: list[str]) -> str:
    """Go json.Marshal of a []string: compact, UTF-8 kept, HTML characters escaped."""
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _GO_JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def _truncate_context(values: list[str]) -> str:
    """JSON-encode, dropping trailing values / halving the last one until it fits (§3)."""
    values = list(values)
    text = go_json_strings(values)
    while len(text.encode("utf-8")) > CONTEXT_VALUE_MAX and values:
        if len(values) > 1:
            values.pop()
        else:
            values[0] = values[0][: len(values[0]) // 2] + "..."
        text = go_json_strings(values)
    return text


def build_context(queue, context) -> list:
    """Alert context meta: `context` is a list of (key, [compiled programs])."""
    if not context:
        return []
    from crowdsec_mp.engine.expr import ExprError

    items = []
    for key, programs in context:
        values: list[str] = []
        for evt in queue:
            for program in programs:
                try:
                    result = program.run({"evt": evt, "match": None, "req": None})
                except ExprError:
                    continue
                for value in _context_values(result):
                    if value and value not in values:
                        values.append(value)
        if values:
            items.append(MetaItem(Key=key, Value=_truncate_context(values)))
    return items


def format_message(scope: str, sources: dict, scenario_name: str, count: int, first_ts: int, ovflw_ts: int, last_ts: int) -> str:
    if len(sources) > 1:
        source_text = f"{len(sources)} sources"
    elif sources:
        source_text = next(iter(sources))
    else:
        source_text = "UNKNOWN"
    return (
        f"{scope} {source_text} performed '{scenario_name}' "
        f"({count} events over {format_go_duration(ovflw_ts - first_ts)}) at {format_go_time(last_ts)}"
    )


def build_runtime_alert(scenario, bucket, *, simulated: bool = False, context=None) -> RuntimeAlert:
    """The RuntimeAlert of an overflowing bucket. Raises AlertBuildError (nothing to send).

    `scenario` is a buckets.Scenario; `bucket` has `queue`, `total_count`,
    `first_ts`, `last_ts`, `ovflw_ts` (int ns) and `mapkey`.
    """
    queue = bucket.queue
    sources = build_sources(queue, scenario.scope_type, scenario.scope_expr)
    if not sources:
        raise AlertBuildError("no source in the overflow")
    scope = next(iter(sources.values())).Scope or scenario.scope_type
    message = format_message(
        scope, sources, scenario.name, bucket.total_count, bucket.first_ts, bucket.ovflw_ts, bucket.last_ts
    )
    events = build_events(queue)
    meta = build_context(queue, context)
    api_alerts = []
    for src in sources.values():
        api_alerts.append(
            Alert(
                Capacity=scenario.capacity,
                Events=list(events),
                EventsCount=bucket.total_count,
                Kind="crowdsec",
                Labels=None,
                Leakspeed=scenario.leakspeed_text,
                Message=message,
                Meta=list(meta),
                Remediation=scenario.remediation,
                Scenario=scenario.name,
                ScenarioHash=scenario.hash,
                ScenarioVersion=scenario.version,
                Simulated=simulated,
                Source=src,
                StartAt=format_rfc3339_nano(bucket.first_ts),
                StopAt=format_rfc3339_nano(bucket.ovflw_ts),
                Decisions=None,
            )
        )
    return RuntimeAlert(
        Mapkey=bucket.mapkey,
        BucketId=bucket.mapkey[:16],
        Reprocess=scenario.reprocess,
        Sources=sources,
        Alert=api_alerts[0],
        APIAlerts=api_alerts,
    )


# -- LAPI wire format (spec/alerts.md §1) ------------------------------------------


def source_to_api(src: Source) -> dict:
    body = {"scope": src.Scope or "", "value": src.Value or ""}
    for key, value in (
        ("ip", src.IP),
        ("range", src.Range),
        ("as_number", src.AsNumber),
        ("as_name", src.AsName),
        ("cn", src.Cn),
        ("latitude", src.Latitude),
        ("longitude", src.Longitude),
    ):
        if value:
            body[key] = value
    return body


def _meta_to_api(items) -> list:
    out = []
    for item in items:
        entry = {}
        if item.Key:
            entry["key"] = item.Key
        if item.Value:
            entry["value"] = item.Value
        out.append(entry)
    return out


def alert_to_api(alert: Alert) -> dict:
    """One Alert as the JSON object of a `POST /v1/alerts` body (null vs absent as go-swagger)."""
    body = {
        "scenario": alert.Scenario or "",
        "scenario_hash": alert.ScenarioHash or "",
        "scenario_version": alert.ScenarioVersion or "",
        "message": alert.Message or "",
        "events_count": alert.EventsCount or 0,
        "start_at": alert.StartAt or "",
        "stop_at": alert.StopAt or "",
        "capacity": alert.Capacity or 0,
        "leakspeed": alert.Leakspeed or "",
        "simulated": bool(alert.Simulated),
        "events": [{"timestamp": e.Timestamp, "meta": _meta_to_api(e.Meta)} for e in (alert.Events or [])],
        "decisions": alert.Decisions if alert.Decisions else None,
        "source": source_to_api(alert.Source) if alert.Source is not None else None,
        "labels": alert.Labels if alert.Labels else None,
    }
    if alert.Remediation:
        body["remediation"] = True
    if alert.Meta:
        body["meta"] = _meta_to_api(alert.Meta)
    if alert.Kind:
        body["kind"] = alert.Kind
    if alert.UUID:
        body["uuid"] = alert.UUID
    if alert.MachineID:
        body["machine_id"] = alert.MachineID
    if alert.ID:
        body["id"] = alert.ID
    if alert.CreatedAt:
        body["created_at"] = alert.CreatedAt
    return body


def runtime_alert_to_api(runtime_alert: RuntimeAlert) -> list:
    """The POST body items for one overflow: one alert per source (§2.6)."""
    return [alert_to_api(alert) for alert in runtime_alert.APIAlerts]
