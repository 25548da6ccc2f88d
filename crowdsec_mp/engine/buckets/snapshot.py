"""Bucket state <-> bytes (msgpack, versioned), for shard restarts and replay checkpoints.

`dump_store(store)` captures every live bucket (counters, timestamps, limiter,
queue, distinct set, guillotine flags, timer) and the per-scenario blackholes;
`restore_store(store, blob)` loads them into a store built from the same
scenario files, so that dump -> restore -> continue pours exactly like an
uninterrupted run. Scenarios are matched by (name, filter source); buckets of
scenarios that no longer exist are skipped. Queued events are stored once
even when several buckets share them.

Encoding: event dataclasses and StrMaps travel as msgpack extension types,
datetimes as msgpack timestamps; nothing here depends on dict or set order
beyond the insertion order we keep ourselves.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import msgpack

from crowdsec_mp.engine import event as event_model
from crowdsec_mp.engine.buckets.bucket import Bucket
from crowdsec_mp.engine.buckets.limiter import TokenBucket
from crowdsec_mp.errors import ProtocolError

FORMAT_VERSION = 1

_EXT_DATACLASS = 1
_EXT_STRMAP = 2
_EXT_TIMEDELTA = 3
_EXT_TUPLE = 4

_DATACLASSES = {
    cls.__name__: cls
    for cls in (
        event_model.Event, event_model.Line, event_model.RuntimeAlert, event_model.Alert,
        event_model.Source, event_model.APIEvent, event_model.MetaItem, event_model.AppsecEvent,
    )
}


def pack_value(value) -> bytes:
    """msgpack of plain data that may contain Events, RuntimeAlerts, StrMaps, datetimes."""
    return msgpack.packb(value, default=_default, datetime=True, strict_types=True, use_bin_type=True)


def unpack_value(blob: bytes):
    """Inverse of `pack_value` (event dataclasses and StrMaps come back as such)."""
    return msgpack.unpackb(blob, ext_hook=_ext_hook, timestamp=3, raw=False, strict_map_key=False)


_pack = pack_value
_unpack = unpack_value


def _default(value):
    if isinstance(value, event_model.StrMap):
        return msgpack.ExtType(_EXT_STRMAP, _pack(dict(value)))
    if dataclasses.is_dataclass(value) and type(value).__name__ in _DATACLASSES:
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return msgpack.ExtType(_EXT_DATACLASS, _pack([type(value).__name__, fields]))
    if isinstance(value, timedelta):
        return msgpack.ExtType(_EXT_TIMEDELTA, _pack([value.days, value.seconds, value.microseconds]))
    if isinstance(value, tuple):
        return msgpack.ExtType(_EXT_TUPLE, _pack(list(value)))
    if isinstance(value, dict):  # other dict subclasses (e.g. parser result maps)
        return dict(value)
    if isinstance(value, list):
        return list(value)
    if isinstance(value, (str, int, float, bool)):
        return type(value).__mro__[-2](value)  # subclasses of builtins -> the builtin
    raise TypeError(f"cannot snapshot a {type(value).__name__}")


def _ext_hook(code: int, data: bytes):
    if code == _EXT_STRMAP:
        return event_model.StrMap(_unpack(data))
    if code == _EXT_DATACLASS:
        name, fields = _unpack(data)
        cls = _DATACLASSES[name]
        obj = cls.__new__(cls)
        for field in dataclasses.fields(cls):
            if field.name in fields:
                setattr(obj, field.name, fields[field.name])
            elif field.default is not dataclasses.MISSING:
                setattr(obj, field.name, field.default)
            else:
                setattr(obj, field.name, field.default_factory())
        if cls is event_model.RuntimeAlert:
            _relink_runtime_alert(obj)
        return obj
    if code == _EXT_TIMEDELTA:
        days, seconds, micro = _unpack(data)
        return timedelta(days=days, seconds=seconds, microseconds=micro)
    if code == _EXT_TUPLE:
        return tuple(_unpack(data))
    return msgpack.ExtType(code, data)


def _relink_runtime_alert(runtime_alert) -> None:
    """Restore object sharing: Alert is APIAlerts[0], Alert.Source is the Sources entry."""
    if runtime_alert.APIAlerts:
        runtime_alert.Alert = runtime_alert.APIAlerts[0]
    for alert in runtime_alert.APIAlerts:
        if alert.Source is not None and alert.Source.Value in runtime_alert.Sources:
            alert.Source = runtime_alert.Sources[alert.Source.Value]


def dump_store(store) -> bytes:
    events: list = []
    event_ids: dict[int, int] = {}

    def event_ref(evt) -> int:
        ref = event_ids.get(id(evt))
        if ref is None:
            ref = event_ids[id(evt)] = len(events)
            events.append(evt)
        return ref

    buckets = []
    for bucket in store.buckets():
        scenario = bucket.scenario
        buckets.append(
            {
                "scenario": [scenario.name, scenario.filter_source],
                "group": bucket.group,
                "mapkey": bucket.mapkey,
                "mode": bucket.mode,
                "first_ts": bucket.first_ts,
                "last_ts": bucket.last_ts,
                "ovflw_ts": bucket.ovflw_ts,
                "total_count": bucket.total_count,
                "tokens": bucket.limiter.tokens,
                "limiter_last": bucket.limiter.last,
                "queue": [event_ref(evt) for evt in bucket.queue],
                "seen": list(bucket.seen),
                "guillotine": list(bucket.guillotine),
                "deadline": bucket.deadline,
            }
        )
    blackholes = [
        {"scenario": [s.name, s.filter_source], "entries": [[k, v] for k, v in store._blackholes[position].items()]}
        for position, s in enumerate(store.scenarios)
        if store._blackholes[position]
    ]
    state = {
        "version": FORMAT_VERSION,
        "events": events,
        "buckets": buckets,
        "blackholes": blackholes,
        "stats": dict(store.stats),
    }
    return _pack(state)


def restore_store(store, blob: bytes) -> None:
    """Replace the store's buckets and blackholes by the dumped ones."""
    try:
        state = _unpack(blob)
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise ProtocolError(f"bucket state is not a valid snapshot: {exc}") from exc
    if not isinstance(state, dict) or state.get("version") != FORMAT_VERSION:
        version = state.get("version") if isinstance(state, dict) else None
        raise ProtocolError(f"bucket state version {version!r} is not supported (expected {FORMAT_VERSION})")
    by_identity = {}
    for position, scenario in enumerate(store.scenarios):
        by_identity.setdefault((scenario.name, scenario.filter_source), (position, scenario))
    events = state["events"]
    store._buckets.clear()
    for item in state["buckets"]:
        found = by_identity.get(tuple(item["scenario"]))
        if found is None:
            continue
        position, scenario = found
        bucket = Bucket(scenario, item["group"], item["mapkey"], item["mode"])
        bucket.first_ts = item["first_ts"]
        bucket.last_ts = item["last_ts"]
        bucket.ovflw_ts = item["ovflw_ts"]
        bucket.total_count = item["total_count"]
        bucket.limiter = TokenBucket(scenario.capacity, scenario.leakspeed_ns, item["tokens"], item["limiter_last"])
        bucket.queue = [events[ref] for ref in item["queue"]]
        bucket.seen = dict.fromkeys(item["seen"])
        guillotine = list(item["guillotine"])
        bucket.guillotine = (guillotine + [False] * len(scenario.bayesian_conditions))[: len(scenario.bayesian_conditions)]
        bucket.deadline = item["deadline"]
        store._buckets[(position, bucket.group)] = bucket
    store._blackholes = [{} for _ in store.scenarios]
    for item in state["blackholes"]:
        found = by_identity.get(tuple(item["scenario"]))
        if found is not None:
            store._blackholes[found[0]] = {key: expires for key, expires in item["entries"]}
    for key, value in (state.get("stats") or {}).items():
        if key in store.stats:
            store.stats[key] = value
