"""The Event that flows through the pipeline, with CrowdSec's field names.

Attribute names are the Go field names (`Parsed`, `Line.Raw`, `Overflow.Alert`...)
because expressions and hub-test asserts address them by those names
(spec/event.md). The expression engine reads public attributes with getattr and
calls the Go-named methods (`GetMeta`, `GetSources`...) defined here.

Typed string maps (`Parsed`, `Meta`, `Enriched`, `Line.Labels`) are `StrMap`:
a missing key reads as "" like Go's map[string]string. `Unmarshaled` is a plain
dict: a missing key reads as nil (None) in expressions.

No I/O and no clock here: callers pass times in.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

LOG = 0
OVFLW = 1
APPSEC = 2

LIVE = 0
TIMEMACHINE = 1

#: Go's zero time.Time; `Event.Time` holds it until the parser runtime sets it.
ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)


class StrMap(dict):
    """map[string]string: reading a missing key gives "" (Go zero value)."""

    __slots__ = ()

    def __missing__(self, key):
        return ""

    def __deepcopy__(self, memo):
        return StrMap(self)


def _str_map(values=None) -> StrMap:
    return values if isinstance(values, StrMap) else StrMap(values or {})


@dataclass
class Line:
    Raw: str = ""
    Src: str = ""
    Time: datetime = ZERO_TIME
    Labels: StrMap = field(default_factory=StrMap)
    Process: bool = True
    Module: str = ""

    def __post_init__(self):
        self.Labels = _str_map(self.Labels)


@dataclass
class MetaItem:
    """One {key, value} pair of an alert event's meta list."""

    Key: str = ""
    Value: str = ""


@dataclass
class APIEvent:
    """An event as stored inside an alert (timestamp + sorted meta list)."""

    Timestamp: str = ""
    Meta: list = field(default_factory=list)

    def GetMeta(self, key):
        for item in self.Meta:
            if item.Key == key:
                return item.Value
        return ""


@dataclass
class Source:
    """The target of an alert. `Scope`/`Value` may be None (Go nil pointers)."""

    AsName: str = ""
    AsNumber: str = ""
    Cn: str = ""
    IP: str = ""
    Latitude: float = 0.0
    Longitude: float = 0.0
    Range: str = ""
    Scope: str | None = None
    Value: str | None = None

    def GetScope(self):
        return self.Scope or ""

    def GetValue(self):
        return self.Value or ""

    def GetAsNumberName(self):
        if self.AsNumber and self.AsName:
            return f"AS{self.AsNumber} {self.AsName}"
        return self.AsName or (f"AS{self.AsNumber}" if self.AsNumber else "")

    def String(self):
        return f"{self.GetScope()}:{self.GetValue()}"


@dataclass
class Alert:
    """API alert model (spec/alerts.md §1.1). Optional Go pointers are None."""

    Capacity: int | None = None
    CreatedAt: str = ""
    Decisions: list = field(default_factory=list)
    Events: list = field(default_factory=list)
    EventsCount: int | None = None
    ID: int = 0
    Kind: str = "crowdsec"
    Labels: list = field(default_factory=list)
    Leakspeed: str | None = None
    MachineID: str = ""
    Message: str | None = None
    Meta: list = field(default_factory=list)
    Remediation: bool = False
    Scenario: str | None = None
    ScenarioHash: str | None = None
    ScenarioVersion: str | None = None
    Simulated: bool | None = None
    # The same Source object as the matching Overflow.Sources entry, so that a
    # postoverflow writing Alert.Source.Value is visible through Sources[k]
    # (parsers.md §5, hub test ipv6-postoverflow).
    Source: Source | None = None
    StartAt: str | None = None
    StopAt: str | None = None
    UUID: str = ""

    def GetScenario(self):
        return self.Scenario or ""

    def GetEventsCount(self):
        return self.EventsCount or 0

    def GetScope(self):
        return self.Source.GetScope() if self.Source else ""

    def GetValue(self):
        return self.Source.GetValue() if self.Source else ""

    def GetMeta(self, key):
        for item in self.Meta:
            if item.Key == key:
                return item.Value
        return ""


@dataclass
class RuntimeAlert:
    """`Event.Overflow`: what a bucket overflow carries (spec/event.md §4)."""

    Mapkey: str = ""
    BucketId: str = ""
    Whitelisted: bool = False
    Reprocess: bool = False
    Sources: dict = field(default_factory=dict)
    Alert: Alert | None = None
    APIAlerts: list = field(default_factory=list)

    def GetSources(self):
        return list(self.Sources)


@dataclass
class AppsecEvent:
    """Kept empty by a log engine so that `evt.Appsec.*` evaluates harmlessly."""

    HasInBandMatches: bool = False
    HasOutBandMatches: bool = False
    MatchedRules: list = field(default_factory=list)
    Vars: StrMap = field(default_factory=StrMap)
    HookVars: StrMap = field(default_factory=StrMap)

    def GetVar(self, name):
        return self.Vars[name]

    def GetName(self):
        return ""

    def GetRuleIDs(self):
        return []


@dataclass
class Event:
    Type: int = LOG
    ExpectMode: int = LIVE
    Whitelisted: bool = False
    WhitelistReason: str = ""
    Stage: str = ""
    Line: Line = field(default_factory=Line)
    Parsed: StrMap = field(default_factory=StrMap)
    Enriched: StrMap = field(default_factory=StrMap)
    Unmarshaled: dict = field(default_factory=dict)
    Meta: StrMap = field(default_factory=StrMap)
    Overflow: RuntimeAlert = field(default_factory=RuntimeAlert)
    Time: datetime = ZERO_TIME
    StrTime: str = ""
    StrTimeFormat: str = ""
    MarshaledTime: str = ""
    Process: bool = True
    Appsec: AppsecEvent = field(default_factory=AppsecEvent)

    def __post_init__(self):
        self.Parsed = _str_map(self.Parsed)
        self.Enriched = _str_map(self.Enriched)
        self.Meta = _str_map(self.Meta)
        if self.Unmarshaled is None:
            self.Unmarshaled = {}

    # -- methods callable from expressions (spec/event.md §6) ---------------
    def GetMeta(self, key):
        if self.Type == LOG:
            return self.Meta[key]
        if self.Type == OVFLW:
            for alert in self.Overflow.APIAlerts:
                for api_event in alert.Events:
                    value = api_event.GetMeta(key)
                    if value:
                        return value
        return ""

    def SetMeta(self, key, value):
        self.Meta[key] = value
        return True

    def SetParsed(self, key, value):
        self.Parsed[key] = value
        return True

    def GetType(self):
        return {LOG: "log", OVFLW: "overflow"}.get(self.Type, "unknown")

    def ParseIPSources(self):
        """IP addresses this event is about (used by IP/CIDR whitelists)."""
        if self.Type == LOG:
            candidates = [self.Meta["source_ip"]] if "source_ip" in self.Meta else []
        elif self.Type == OVFLW:
            candidates = list(self.Overflow.Sources)
        else:
            candidates = []
        return [address for address in map(parse_ip, candidates) if address is not None]

    def copy(self) -> "Event":
        """Deep copy (hubtest records a snapshot after every top-level node)."""
        return copy.deepcopy(self)


def new_log_event(
    raw: str,
    *,
    src: str = "",
    labels: dict | None = None,
    module: str = "file",
    expect_mode: int = TIMEMACHINE,
    acquired_at: datetime = ZERO_TIME,
) -> Event:
    """A freshly acquired LOG event as the file datasource builds it.

    Equal, field for field and in the same attribute order, to
    `Event(Type=LOG, ExpectMode=expect_mode, Process=True, Line=Line(Raw=raw,
    Src=src, Time=acquired_at, Labels=StrMap(labels or {}), Module=module))`.
    It runs once per log line, so it skips the dataclass `__init__`s, their
    default factories and the `__post_init__` re-wrapping, and assigns the
    attributes directly (tests compare it with the constructor; a new field
    added to a dataclass must be added here too, or those tests fail).
    """
    line = _new_instance(Line)
    line.Raw = raw
    line.Src = src
    line.Time = acquired_at
    line.Labels = StrMap(labels) if labels else StrMap()
    line.Process = True
    line.Module = module

    overflow = _new_instance(RuntimeAlert)
    overflow.Mapkey = ""
    overflow.BucketId = ""
    overflow.Whitelisted = False
    overflow.Reprocess = False
    overflow.Sources = {}
    overflow.Alert = None
    overflow.APIAlerts = []

    appsec = _new_instance(AppsecEvent)
    appsec.HasInBandMatches = False
    appsec.HasOutBandMatches = False
    appsec.MatchedRules = []
    appsec.Vars = StrMap()
    appsec.HookVars = StrMap()

    evt = _new_instance(Event)
    evt.Type = LOG
    evt.ExpectMode = expect_mode
    evt.Whitelisted = False
    evt.WhitelistReason = ""
    evt.Stage = ""
    evt.Line = line
    evt.Parsed = StrMap()
    evt.Enriched = StrMap()
    evt.Unmarshaled = {}
    evt.Meta = StrMap()
    evt.Overflow = overflow
    evt.Time = ZERO_TIME
    evt.StrTime = ""
    evt.StrTimeFormat = ""
    evt.MarshaledTime = ""
    evt.Process = True
    evt.Appsec = appsec
    return evt


#: Allocates an instance without running `__init__` (see new_log_event).
_new_instance = object.__new__


@functools.lru_cache(maxsize=65536)
def parse_ip(text: str):
    """`ipaddress.ip_address(text)`, or None when it is not an IP.

    Cached: whitelists parse the source IP of every event, and the same
    sources come back again and again (an attacker sends many lines).
    """
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_zero_time(value: Any) -> bool:
    return value is None or value == ZERO_TIME
