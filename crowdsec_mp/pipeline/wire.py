"""The wire format between pipeline processes: one msgpack frame per message.

Every frame is the msgpack encoding of an envelope `[kind, version, payload]`.
`encode(kind, payload)` / `decode(frame)` are the only two ways in and out;
`decode` raises `ProtocolError` for anything malformed (not msgpack, not a
3-list, unknown kind, wrong version, payload of the wrong shape) and receivers
count and drop such frames (`FrameStats`), they never crash on them. Never
pickle: a frame comes from another process and is treated as untrusted data.

Message kinds and payloads (all plain msgpack types):

| kind | direction | payload |
|---|---|---|
| `lines` | supervisor -> parser | `{"batch": int, "source": str, "time_machine": bool, "lines": [[raw, src, labels, module], ...]}` (line seq = index) |
| `events` | parser -> shard | `{"batch": int, "events": [[seq, item], ...]}` one per shard per batch, maybe empty |
| `eof` | supervisor -> shard | `{"batch": int}`: no batch >= this id will come (replay end) |
| `overflows` | shard -> output | `{"shard": int, "items": [item, ...]}` |
| `shard_done` | shard -> output | `{"shard": int}` after the `eof` batch was applied |
| `ack` | parser -> supervisor | `{"worker": int, "batch": int, "parsed": int, "unparsed": int}` |
| `heartbeat` | any child -> supervisor | `{"role": str, "index": int, "pid": int, "stats": {...}}` |
| `boot_error` | child -> supervisor | `{"role": str, "index": int, "message": str}` |
| `output_done` | output -> supervisor | `{"alerts": int}` |
| `stop` | supervisor -> children | `{}` |

Events travel as `event_to_wire(evt)` dicts: dataclasses become dicts tagged
with their class name (`"__dc__"`), datetimes and timedeltas are msgpack ext
types, the free-form `Unmarshaled` map is carried as data and never
interpreted as tags.
"""

from __future__ import annotations

import dataclasses
import struct
from datetime import datetime, timedelta, timezone

import msgpack

from crowdsec_mp.engine import event as event_model
from crowdsec_mp.errors import ProtocolError

VERSION = 1
KINDS = frozenset({
    "lines", "events", "eof", "overflows", "shard_done", "ack", "heartbeat", "boot_error",
    "output_done", "stop",
})
#: Payload keys each kind must carry (checked on decode).
REQUIRED_KEYS = {
    "lines": ("batch", "lines"),
    "events": ("batch", "events"),
    "eof": ("batch",),
    "overflows": ("shard", "items"),
    "shard_done": ("shard",),
    "ack": ("worker", "batch"),
    "heartbeat": ("role", "index", "pid"),
    "boot_error": ("role", "index", "message"),
    "output_done": (),
    "stop": (),
}

EXT_DATETIME = 1
EXT_TIMEDELTA = 2


def _default(value):
    if isinstance(value, datetime):
        # isoformat keeps the original UTC offset (MarshaledTime depends on it).
        return msgpack.ExtType(EXT_DATETIME, value.isoformat().encode())
    if isinstance(value, timedelta):
        return msgpack.ExtType(
            EXT_TIMEDELTA, struct.pack(">qqq", value.days, value.seconds, value.microseconds)
        )
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} on the wire")


def _ext_hook(code, data):
    if code == EXT_DATETIME:
        parsed = datetime.fromisoformat(data.decode())
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    if code == EXT_TIMEDELTA:
        days, seconds, micros = struct.unpack(">qqq", data)
        return timedelta(days=days, seconds=seconds, microseconds=micros)
    raise ValueError(f"unknown ext type {code}")


def pack(value) -> bytes:
    return msgpack.packb(value, default=_default, use_bin_type=True, datetime=False)


def unpack(data: bytes):
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def encode(kind: str, payload: dict) -> bytes:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    return pack([kind, VERSION, payload])


def decode(frame: bytes) -> tuple[str, dict]:
    """frame -> (kind, payload); ProtocolError when anything is off."""
    try:
        envelope = unpack(frame)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"not a msgpack frame: {exc}") from exc
    if not isinstance(envelope, list) or len(envelope) != 3:
        raise ProtocolError("envelope must be [kind, version, payload]")
    kind, version, payload = envelope
    if kind not in KINDS:
        raise ProtocolError(f"unknown message kind {kind!r}")
    if version != VERSION:
        raise ProtocolError(f"unsupported version {version!r} for {kind}")
    if not isinstance(payload, dict):
        raise ProtocolError(f"{kind}: payload must be a map")
    missing = [key for key in REQUIRED_KEYS[kind] if key not in payload]
    if missing:
        raise ProtocolError(f"{kind}: payload lacks {', '.join(missing)}")
    return kind, payload


class FrameStats:
    """Counts frames a receiver dropped because they did not decode."""

    def __init__(self):
        self.bad_frames = 0
        self.last_error = ""

    def decode(self, frame: bytes) -> tuple[str, dict] | None:
        try:
            return decode(frame)
        except ProtocolError as exc:
            self.bad_frames += 1
            self.last_error = str(exc)
            return None


# -- line batches --------------------------------------------------------------
def lines_message(batch_id: int, lines) -> bytes:
    """A batch of RawLine (or 4-sequences); line seq = position in the batch."""
    return encode("lines", {"batch": batch_id, "lines": [list(line) for line in lines]})


def check_lines_payload(payload: dict) -> list[tuple[str, str, dict, str]]:
    lines = payload["lines"]
    if not isinstance(lines, list):
        raise ProtocolError("lines: 'lines' must be a list")
    out = []
    for entry in lines:
        if (not isinstance(entry, list) or len(entry) != 4 or not isinstance(entry[0], str)
                or not isinstance(entry[1], str) or not isinstance(entry[2], dict)
                or not isinstance(entry[3], str)):
            raise ProtocolError("lines: each line must be [raw, src, labels, module]")
        out.append((entry[0], entry[1], entry[2], entry[3]))
    return out


# -- events --------------------------------------------------------------------
#: Dataclasses allowed on the wire, by name (decoding never builds anything else).
WIRE_CLASSES = {
    cls.__name__: cls
    for cls in (
        event_model.Event, event_model.Line, event_model.RuntimeAlert, event_model.Alert,
        event_model.Source, event_model.APIEvent, event_model.MetaItem, event_model.AppsecEvent,
    )
}
#: Key of the event in a routed item (engine binding); the parser worker sends it only
#: once per line and shard (parser_worker._elide_shared_event).
EVENT_KEY = "evt"
#: Fields holding free-form data: carried as is, never searched for tags.
DATA_FIELDS = {"Unmarshaled"}
STRMAP_FIELDS = {"Parsed", "Enriched", "Meta", "Labels", "Vars", "HookVars"}


def register_wire_class(cls) -> None:
    """Allow another dataclass (e.g. an engine Decision type) to travel inside events."""
    WIRE_CLASSES[cls.__name__] = cls


class _ClassInfo:
    """Per wire class, computed once: field names and the default value of each field
    (from one default instance). Fields equal to their default are left off the wire,
    and decoding gets them back from the constructor: most of an event (Overflow,
    Appsec, empty maps...) is defaults, so frames shrink and both ends do less work."""

    __slots__ = ("names", "known", "defaults")

    def __init__(self, cls):
        self.names = tuple(item.name for item in dataclasses.fields(cls))
        self.known = frozenset(self.names)
        try:
            sample = cls()
            self.defaults = {name: getattr(sample, name) for name in self.names}
        except TypeError:  # a class with required fields: send everything
            self.defaults = {}


_CLASS_INFO: dict[type, _ClassInfo] = {}


def _info(cls) -> _ClassInfo:
    info = _CLASS_INFO.get(cls)
    if info is None:
        info = _CLASS_INFO[cls] = _ClassInfo(cls)
    return info


_MISSING = object()


#: Values carried as they are (msgpack encodes them, `_default` the datetimes).
_SCALARS = frozenset({str, int, float, bool, type(None), bytes, datetime, timedelta})


def _to_plain(value):
    cls = value.__class__
    if cls in _SCALARS:
        return value
    if cls in _CLASS_INFO or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return _dataclass_to_plain(value, cls)
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    return value


def _dataclass_to_plain(value, cls) -> dict:
    name = cls.__name__
    if WIRE_CLASSES.get(name) is not cls:
        raise TypeError(f"{name} is not registered for the wire")
    defaults = _info(cls).defaults
    out = {"__dc__": name}
    for field_name in _info(cls).names:
        field_value = getattr(value, field_name)
        default = defaults.get(field_name, _MISSING)
        # Same type too: False == 0 must not turn an int field into the bool default.
        if field_value.__class__ is default.__class__ and field_value == default:
            continue
        if field_value.__class__ in _SCALARS or field_name in DATA_FIELDS:
            out[field_name] = field_value
        elif field_name in STRMAP_FIELDS and isinstance(field_value, dict):
            out[field_name] = dict(field_value)
        else:
            out[field_name] = _to_plain(field_value)
    return out


def _from_plain(value):
    if isinstance(value, dict):
        name = value.get("__dc__")
        if name is None:
            return {key: _from_plain(item) for key, item in value.items()}
        cls = WIRE_CLASSES.get(name)
        if cls is None:
            raise ProtocolError(f"unknown wire class {name!r}")
        known = _info(cls).known
        kwargs = {}
        for key, item in value.items():
            item_class = item.__class__
            if item_class is dict:
                if key in STRMAP_FIELDS:
                    item = event_model.StrMap(item)
                elif key not in DATA_FIELDS:
                    item = _from_plain(item)
            elif item_class is list and key not in DATA_FIELDS:
                item = _from_plain(item)
            kwargs[key] = item
        del kwargs["__dc__"]
        if not known.issuperset(kwargs):
            unknown = sorted(set(kwargs) - known)
            raise ProtocolError(f"{name} has no field {unknown[0]!r}")
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ProtocolError(f"cannot build {name}: {exc}") from exc
    if isinstance(value, list):
        return [_from_plain(item) for item in value]
    return value


def event_to_wire(evt) -> dict:
    """Event (or any registered dataclass) -> plain dict of msgpack-able values."""
    return _to_plain(evt)


def event_from_wire(data: dict):
    """Inverse of event_to_wire; ProtocolError for unknown classes/fields."""
    if not isinstance(data, dict) or "__dc__" not in data:
        raise ProtocolError("an event on the wire must be a tagged map")
    return _from_plain(data)
