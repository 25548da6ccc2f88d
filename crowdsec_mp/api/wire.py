"""JSON in and out: validation of posted alerts and rendering of stored rows.

Validation follows the go-swagger models (spec/alerts.md §1): required
fields, JSON types, and the message format
`validation failure list:\\n0.scenario in body is required` (index-prefixed).
We answer it with 422 where CrowdSec answers 500 (see errors.py).

Rendering follows spec/alerts.md §10 and spec/lapi.md §5.1: omitempty fields
are dropped, `null` where Go serialises nil slices.
"""

from __future__ import annotations

import json
import math
import struct
import uuid as uuid_module
from json.encoder import encode_basestring_ascii

from crowdsec_mp.api.durations import format_duration, parse_duration
from crowdsec_mp.api.errors import APIError
from crowdsec_mp.api.queries import NewAlert, decision_columns, normalize_scope
from crowdsec_mp.api.timefmt import go_time_string, parse_rfc3339_us, rfc3339_seconds

US = 1_000_000
INT32 = (-(2**31), 2**31 - 1)
META_KEY_MAX = 255
META_VALUE_MAX = 4095
EVENT_SERIALIZED_MAX = 8191

_STRING, _INT32, _BOOL, _NUMBER, _ARRAY, _OBJECT = "string", "int32", "boolean", "number", "array", "object"
_FLOAT32 = "float32"
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_MIN_NORMAL = 1.1754943508222875e-38


def float32(value) -> float:
    """`value` rounded to float32, tiny magnitudes flushed to 0.

    Latitude/longitude are float32 in the models; PostgreSQL and MySQL
    refuse float4 values they would underflow, so store what fits.
    """
    rounded = struct.unpack("f", struct.pack("f", float(value)))[0]
    return 0.0 if abs(rounded) < FLOAT32_MIN_NORMAL else rounded


def _type_ok(value, kind) -> bool:
    if kind == _STRING:
        return isinstance(value, str)
    if kind == _INT32:
        return isinstance(value, int) and not isinstance(value, bool) and INT32[0] <= value <= INT32[1]
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _FLOAT32:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        try:
            return math.isfinite(float(value)) and abs(float(value)) <= FLOAT32_MAX
        except OverflowError:  # an integer beyond any float
            return False
    if kind == _ARRAY:
        return isinstance(value, list)
    return isinstance(value, dict)


_ALERT_REQUIRED = (
    ("scenario", _STRING),
    ("scenario_hash", _STRING),
    ("scenario_version", _STRING),
    ("message", _STRING),
    ("events_count", _INT32),
    ("start_at", _STRING),
    ("stop_at", _STRING),
    ("capacity", _INT32),
    ("leakspeed", _STRING),
    ("simulated", _BOOL),
    ("events", _ARRAY),
    ("source", _OBJECT),
)
_ALERT_OPTIONAL = (
    ("remediation", _BOOL),
    ("kind", _STRING),
    ("meta", _ARRAY),
    ("labels", _ARRAY),
    ("decisions", _ARRAY),
    ("uuid", _STRING),
    ("machine_id", _STRING),
)
_SOURCE_REQUIRED = (("scope", _STRING), ("value", _STRING))
_SOURCE_OPTIONAL = (
    ("ip", _STRING),
    ("range", _STRING),
    ("as_number", _STRING),
    ("as_name", _STRING),
    ("cn", _STRING),
    ("latitude", _FLOAT32),
    ("longitude", _FLOAT32),
)
_DECISION_REQUIRED = (
    ("origin", _STRING),
    ("type", _STRING),
    ("scope", _STRING),
    ("value", _STRING),
    ("duration", _STRING),
    ("scenario", _STRING),
)
_DECISION_OPTIONAL = (("simulated", _BOOL), ("until", _STRING), ("uuid", _STRING))


def _describe(value) -> str:
    return json.dumps(value)[:64]


#: Longest accepted value of strings stored in bounded columns (models.py):
#: PostgreSQL and MySQL refuse longer ones, which must be a 422, not a 500.
MAX_LENGTHS = {
    "scenario_hash": 255, "scenario_version": 255, "leakspeed": 64, "kind": 64,
    "decisions.type": 128, "decisions.scope": 128, "decisions.value": 255, "decisions.origin": 255,
}  # fmt: skip


def _check_fields(obj: dict, prefix: str, required, optional, problems: list, section: str = ""):
    for name, kind in required:
        if name not in obj or obj[name] is None:
            problems.append(f"{prefix}{name} in body is required")
        elif not _type_ok(obj[name], kind):
            problems.append(f"{prefix}{name} in body must be of type {kind}: {_describe(obj[name])}")
    for name, kind in optional:
        if obj.get(name) is not None and not _type_ok(obj[name], kind):
            problems.append(f"{prefix}{name} in body must be of type {kind}: {_describe(obj[name])}")
    for name, _ in tuple(required) + tuple(optional):
        limit = MAX_LENGTHS.get(f"{section}{name}")
        if limit and isinstance(obj.get(name), str) and len(obj[name]) > limit:
            problems.append(f"{prefix}{name} in body should be at most {limit} chars long")


def _check_meta(items, prefix: str, problems: list):
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"{prefix}{index} in body must be of type object: {_describe(item)}")
            continue
        _check_fields(item, f"{prefix}{index}.", (), (("key", _STRING), ("value", _STRING)), problems)


def validate_alerts(body) -> list[dict]:
    """The posted alert list, checked against the swagger model.

    Raises APIError(422) with the go-swagger style message listing every
    problem. Unknown fields are ignored, as go-swagger does.
    """
    if not isinstance(body, list):
        raise APIError(422, f"validation failure list:\nbody in body must be of type array: {_describe(body)}")
    problems: list[str] = []
    for index, alert in enumerate(body):
        prefix = f"{index}."
        if not isinstance(alert, dict):
            problems.append(f"{index} in body must be of type object: {_describe(alert)}")
            continue
        _check_fields(alert, prefix, _ALERT_REQUIRED, _ALERT_OPTIONAL, problems)
        if isinstance(alert.get("source"), dict):
            _check_fields(alert["source"], f"{prefix}source.", _SOURCE_REQUIRED, _SOURCE_OPTIONAL, problems)
        for name in ("start_at", "stop_at"):
            if isinstance(alert.get(name), str) and parse_rfc3339_us(alert[name]) is None:
                problems.append(f"{prefix}{name} in body must be of type date-time: {_describe(alert[name])}")
        if isinstance(alert.get("events"), list):
            for e_index, event in enumerate(alert["events"]):
                e_prefix = f"{prefix}events.{e_index}."
                if not isinstance(event, dict):
                    problems.append(f"{prefix}events.{e_index} in body must be of type object: {_describe(event)}")
                    continue
                _check_fields(event, e_prefix, (("timestamp", _STRING), ("meta", _ARRAY)), (), problems)
                if isinstance(event.get("meta"), list):
                    _check_meta(event["meta"], f"{e_prefix}meta.", problems)
        if isinstance(alert.get("meta"), list):
            _check_meta(alert["meta"], f"{prefix}meta.", problems)
        if isinstance(alert.get("labels"), list):
            for l_index, label in enumerate(alert["labels"]):
                if not isinstance(label, str):
                    problems.append(f"{prefix}labels.{l_index} in body must be of type string: {_describe(label)}")
        if isinstance(alert.get("decisions"), list):
            for d_index, decision in enumerate(alert["decisions"]):
                d_prefix = f"{prefix}decisions.{d_index}."
                if not isinstance(decision, dict):
                    problems.append(f"{prefix}decisions.{d_index} in body must be of type object: {_describe(decision)}")
                    continue
                _check_fields(decision, d_prefix, _DECISION_REQUIRED, _DECISION_OPTIONAL, problems, "decisions.")
                duration = decision.get("duration")
                if isinstance(duration, str):
                    try:
                        parse_duration(duration)
                    except ValueError:
                        problems.append(f"{d_prefix}duration in body must be a duration: {_describe(duration)}")
    if problems:
        raise APIError(422, "validation failure list:\n" + "\n".join(problems))
    return body


def normalize_alert(alert: dict) -> None:
    """Normalise source and decision scopes in place (spec alerts.md §4.1)."""
    alert["source"]["scope"] = normalize_scope(alert["source"]["scope"])
    for decision in alert.get("decisions") or []:
        decision["scope"] = normalize_scope(decision["scope"])


def _event_rows(alert: dict) -> list:
    rows = []
    for event in alert.get("events") or []:
        meta = [
            {"key": item.get("key", ""), "value": item.get("value", "")}
            for item in event.get("meta") or []
        ]
        serialized = json.dumps(meta)
        # Oversized events are stripped value by value, then dropped (spec §4.6).
        while len(serialized) > EVENT_SERIALIZED_MAX and any(m["value"] != "<stripped>" for m in meta):
            longest = max(meta, key=lambda m: len(m["value"]) if m["value"] != "<stripped>" else -1)
            longest["value"] = "<stripped>"
            serialized = json.dumps(meta)
        if len(serialized) > EVENT_SERIALIZED_MAX:
            continue
        rows.append((parse_rfc3339_us(event.get("timestamp")), serialized))
    return rows


def new_alert(alert: dict, decisions: list[dict], now: int) -> NewAlert | None:
    """A validated, normalised alert + its decision dicts -> rows to insert.

    `decisions` are wire-shaped ({origin, type, scope, value, duration,
    scenario, [simulated]}). `until = stop_at + duration` (now when stop_at
    does not parse); Ip/Range decisions whose value is not an IP/CIDR are
    dropped, and the alert too when that leaves it none (spec §4.6). The
    stored simulated flag is the alert's, as CrowdSec stores it.
    """
    stop_at = parse_rfc3339_us(alert["stop_at"])
    base = stop_at if stop_at is not None else now
    simulated = bool(alert["simulated"])
    rows = []
    for decision in decisions:
        scope = decision["scope"]
        # Only Ip/Range decisions get numeric bounds: other scopes never match
        # an ip/range filter, even when their value looks like an address.
        columns = decision_columns(decision["value"] if scope in ("Ip", "Range") else "")
        if scope in ("Ip", "Range") and columns["ip_size"] == 0:
            continue
        until = base + int(parse_duration(decision["duration"]) * US)
        rows.append(
            dict(
                columns,
                uuid=str(uuid_module.uuid4()),
                until=until,
                scenario=decision["scenario"],
                type=decision["type"],
                scope=scope,
                value=decision["value"],
                origin=decision["origin"],
                # Stored flag = the alert's (spec alerts.md §4.6), whatever
                # the decision or profile template said.
                simulated=simulated,
            )
        )
    if decisions and not rows:
        return None
    source = alert["source"]
    labels = alert.get("labels")
    fields = {
        "uuid": str(uuid_module.uuid4()),
        "scenario": alert["scenario"],
        "scenario_hash": alert["scenario_hash"],
        "scenario_version": alert["scenario_version"],
        "message": alert["message"],
        "events_count": alert["events_count"],
        "start_at": parse_rfc3339_us(alert["start_at"]),
        "stop_at": stop_at,
        "capacity": alert["capacity"],
        "leakspeed": alert["leakspeed"],
        "simulated": simulated,
        "remediation": bool(alert.get("remediation")),
        "kind": alert.get("kind") or "",
        "source_scope": source["scope"][:255],
        "source_value": source["value"][:255],
        "source_ip": (source.get("ip") or "")[:64],
        "source_range": (source.get("range") or "")[:64],
        "source_as_number": (source.get("as_number") or "")[:64],
        "source_as_name": source.get("as_name") or "",
        "source_country": (source.get("cn") or "")[:16],
        "source_latitude": float32(source.get("latitude") or 0.0),
        "source_longitude": float32(source.get("longitude") or 0.0),
        "labels": json.dumps(labels) if labels is not None else None,
    }
    meta = [
        ((item.get("key") or "")[:META_KEY_MAX], (item.get("value") or "")[:META_VALUE_MAX])
        for item in alert.get("meta") or []
    ]
    return NewAlert(fields=fields, events=_event_rows(alert), meta=meta, decisions=rows)


# -- rendering ------------------------------------------------------------------------


def bouncer_decision(row: tuple, now: int, *, with_uuid: bool) -> dict:
    """A queries.BOUNCER_COLUMNS row as bouncers get it (spec lapi.md §5.1)."""
    decision_id, origin, dtype, scope, value, until, scenario, uuid = row
    rendered = {
        "id": decision_id,
        "origin": origin,
        "type": dtype,
        "scope": scope,
        "value": value,
        "duration": format_duration((until - now) / US),
        "scenario": scenario,
    }
    if with_uuid and uuid:
        rendered["uuid"] = uuid
    return rendered


def bouncer_decisions(rows, now: int, *, with_uuid: bool) -> list[dict]:
    return [bouncer_decision(row, now, with_uuid=with_uuid) for row in rows]


#: Rows rendered per chunk of bouncer_decisions_json_chunks (~150 bytes each).
JSON_CHUNK_ROWS = 4096


def bouncer_decisions_json_chunks(rows, now: int, *, with_uuid: bool, chunk_rows: int = JSON_CHUNK_ROWS):
    """JSON array text of bouncer_decisions(rows, ...), in pieces of `chunk_rows` rows.

    The stream snapshot can hold 100k decisions; writing each object from a
    template is several times faster than building dicts for json.dumps.
    The parts that repeat across rows (origin/type/scope, scenario, the
    duration of one `until`) are encoded once per call. The concatenated
    pieces equal json.dumps(..., separators=(",", ":")); yielding them lets
    the server send the start of a large body while the rest is rendered.
    """
    escape = encode_basestring_ascii
    heads: dict = {}  # (origin, type, scope) -> '"origin":...,"value":'
    scenarios: dict = {}  # scenario -> '"scenario":..'
    durations: dict = {}  # until -> '"duration":"..."'
    parts = []
    append = parts.append
    separator = "["
    for decision_id, origin, dtype, scope, value, until, scenario, uuid in rows:
        head = heads.get((origin, dtype, scope))
        if head is None:
            head = heads[(origin, dtype, scope)] = (
                f',"origin":{escape(origin)},"type":{escape(dtype)},"scope":{escape(scope)},"value":'
            )
        duration = durations.get(until)
        if duration is None:
            duration = durations[until] = f',"duration":"{format_duration((until - now) / US)}","scenario":'
        tail = scenarios.get(scenario)
        if tail is None:
            tail = scenarios[scenario] = escape(scenario)
        if with_uuid and uuid:
            append(f'{separator}{{"id":{decision_id}{head}{escape(value)}{duration}{tail},"uuid":{escape(uuid)}}}')
        else:
            append(f'{separator}{{"id":{decision_id}{head}{escape(value)}{duration}{tail}}}')
        separator = ","
        if len(parts) >= chunk_rows:
            yield "".join(parts)
            parts.clear()
    if separator == "[":
        parts.append("[")
    parts.append("]")
    yield "".join(parts)


def bouncer_decisions_json(rows, now: int, *, with_uuid: bool) -> str:
    """JSON array text of bouncer_decisions(rows, ...), built directly (see above)."""
    return "".join(bouncer_decisions_json_chunks(rows, now, with_uuid=with_uuid, chunk_rows=1 << 62))


def render_alert(row: dict, now: int) -> dict:
    """A queries.search_alerts() dict as GET /v1/alerts renders it."""
    source = {"scope": row["source_scope"], "value": row["source_value"]}
    for key, column in (
        ("ip", "source_ip"),
        ("range", "source_range"),
        ("as_number", "source_as_number"),
        ("as_name", "source_as_name"),
        ("cn", "source_country"),
        ("latitude", "source_latitude"),
        ("longitude", "source_longitude"),
    ):
        if row[column]:
            source[key] = row[column]
    decisions = [
        {
            "id": d["id"],
            "origin": d["origin"],
            "type": d["type"],
            "scope": d["scope"],
            "value": d["value"],
            "duration": format_duration((d["until"] - now) / US),
            "scenario": d["scenario"],
            "simulated": bool(d["simulated"]),
        }
        for d in row["decisions"]
    ]
    events = [{"timestamp": go_time_string(e["time"]), "meta": json.loads(e["serialized"])} for e in row["events"]]
    alert = {
        "id": row["id"],
        "machine_id": row.get("owner") or "N/A",
        "created_at": rfc3339_seconds(row["created_at"]),
        "scenario": row["scenario"],
        "scenario_hash": row["scenario_hash"],
        "scenario_version": row["scenario_version"],
        "message": row["message"],
        "events_count": row["events_count"],
        "start_at": rfc3339_seconds(row["start_at"]),
        "stop_at": rfc3339_seconds(row["stop_at"]),
        "capacity": row["capacity"],
        "leakspeed": row["leakspeed"],
        "simulated": bool(row["simulated"]),
        "source": source,
        "events": events or None,
        "decisions": decisions or None,
        "labels": json.loads(row["labels"]) if row["labels"] else None,
    }
    if row["uuid"]:
        alert["uuid"] = row["uuid"]
    if row["remediation"]:
        alert["remediation"] = True
    if row["kind"]:
        alert["kind"] = row["kind"]
    if row["meta"]:
        alert["meta"] = [{"key": m["key"], "value": m["value"]} for m in row["meta"]]
    return alert


def alert_log_lines(machine_id: str, alert: dict, decisions: list[dict]) -> list[str]:
    """The LAPI log lines of a stored alert (spec alerts.md §9)."""
    source = alert["source"]
    scope, value = source["scope"], source["value"]
    if scope == "Ip":
        origin_info = "/".join(part for part in (source.get("cn") or "", source.get("as_number") or "") if part)
        where = f"ip {value}" + (f" ({origin_info})" if origin_info else "")
    elif scope == "Range":
        where = f"range {value}"
    else:
        where = f"{scope} {value}"
    reason = alert["scenario"] or alert.get("message") or ""
    if not decisions:
        return [f"({machine_id}) alert : {reason} by {where}"]
    if len(decisions) > 1:
        reason = f"{reason} for {{index}}/{len(decisions)} decisions"
    # CrowdSec prints "(simulated alert)" glued to the type: "4h (simulated alert)ban".
    simulated = "(simulated alert)" if alert.get("simulated") else ""
    return [
        f"({machine_id}/{d['origin']}) {reason.format(index=i) if len(decisions) > 1 else reason} by {where} : "
        f"{d['duration']} {simulated}{d['type']} on {d['scope']} {d['value']}"
        for i, d in enumerate(decisions, start=1)
    ]
