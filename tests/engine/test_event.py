"""The Event model: Go zero values, methods used by expressions and asserts."""

import ipaddress

from crowdsec_mp.engine.event import (
    LOG, OVFLW, TIMEMACHINE, ZERO_TIME, Alert, APIEvent, Event, MetaItem, RuntimeAlert,
    Source, StrMap, new_log_event,
)


def test_typed_string_maps_read_missing_keys_as_empty_string():
    evt = Event()
    assert evt.Parsed["nope"] == ""
    assert evt.Meta["nope"] == ""
    assert evt.Line.Labels["type"] == ""
    assert "nope" not in evt.Meta  # reading does not create the key


def test_plain_dicts_are_wrapped_as_strmap():
    evt = Event(Parsed={"a": "1"}, Meta={"b": "2"})
    assert isinstance(evt.Parsed, StrMap) and evt.Parsed["a"] == "1"
    assert isinstance(evt.Meta, StrMap) and evt.Meta["x"] == ""


def test_new_log_event_has_constructor_defaults():
    evt = new_log_event("line", src="/var/log/x.log", labels={"type": "syslog"})
    assert evt.Type == LOG and evt.ExpectMode == TIMEMACHINE and evt.Process
    assert evt.Line.Raw == "line" and evt.Line.Src == "/var/log/x.log"
    assert evt.Line.Module == "file" and evt.Line.Labels["type"] == "syslog"
    assert evt.Time == ZERO_TIME and evt.Unmarshaled == {}


def test_get_meta_on_log_and_overflow_events():
    log = Event(Meta={"source_ip": "1.2.3.4"})
    assert log.GetMeta("source_ip") == "1.2.3.4"
    assert log.GetMeta("absent") == ""
    alert = Alert(Events=[
        APIEvent(Meta=[MetaItem("service", "")]),
        APIEvent(Meta=[MetaItem("service", "ssh")]),
    ])
    overflow = Event(Type=OVFLW, Overflow=RuntimeAlert(APIAlerts=[alert], Alert=alert))
    # the first NON-EMPTY value across every alert event
    assert overflow.GetMeta("service") == "ssh"
    assert overflow.GetType() == "overflow" and log.GetType() == "log"
    assert Event(Type=7).GetType() == "unknown"


def test_parse_ip_sources_ignores_invalid_values():
    assert Event(Meta={"source_ip": "not-an-ip"}).ParseIPSources() == []
    assert Event(Meta={"source_ip": "::1"}).ParseIPSources() == [ipaddress.ip_address("::1")]
    overflow = Event(Type=OVFLW, Overflow=RuntimeAlert(Sources={"1.2.3.4": Source(), "1.2.3.0/24": Source()}))
    assert overflow.ParseIPSources() == [ipaddress.ip_address("1.2.3.4")]


def test_alert_source_aliasing_makes_writes_visible_through_sources():
    source = Source(IP="2001:db8::1", Scope="Ip", Value="2001:db8::1")
    alert = Alert(Source=source, Scenario="x/y", EventsCount=3)
    runtime = RuntimeAlert(Sources={"2001:db8::1": source}, Alert=alert, APIAlerts=[alert])
    alert.Source.Value = "2001:db8::/64"
    alert.Source.Scope = "Range"
    assert runtime.Sources["2001:db8::1"].GetValue() == "2001:db8::/64"
    assert runtime.Sources["2001:db8::1"].GetScope() == "Range"
    assert runtime.GetSources() == ["2001:db8::1"]
    assert alert.GetScenario() == "x/y" and alert.GetEventsCount() == 3
    assert Alert().GetScenario() == "" and Alert().GetEventsCount() == 0 and Alert().GetScope() == ""


def test_copy_is_deep():
    evt = Event(Parsed={"a": "1"}, Unmarshaled={"j": {"k": 1}})
    snapshot = evt.copy()
    evt.Parsed["a"] = "2"
    evt.Unmarshaled["j"]["k"] = 2
    assert snapshot.Parsed["a"] == "1" and isinstance(snapshot.Parsed, StrMap)
    assert snapshot.Unmarshaled["j"]["k"] == 1


# -- new_log_event fast construction == the dataclass constructors ------------
import copy  # noqa: E402
import dataclasses  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from hypothesis import given, settings, strategies as st  # noqa: E402

from crowdsec_mp.engine.event import LIVE, AppsecEvent, Line  # noqa: E402


def _constructed(raw, src, labels, module, expect_mode, acquired_at):
    """The slow, obviously-right construction new_log_event must equal."""
    return Event(
        Type=LOG, ExpectMode=expect_mode, Process=True,
        Line=Line(Raw=raw, Src=src, Time=acquired_at, Labels=StrMap(labels or {}), Module=module),
    )


def _assert_same_structure(fast, slow):
    """Same class, same attribute names in the same order, same value types, equal values."""
    assert type(fast) is type(slow)
    if dataclasses.is_dataclass(slow):
        assert list(vars(fast)) == list(vars(slow))
        for name in vars(slow):
            _assert_same_structure(getattr(fast, name), getattr(slow, name))
    else:
        assert fast == slow


_labels = st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))
_times = st.one_of(st.just(ZERO_TIME), st.datetimes(timezones=st.just(timezone.utc)))


@settings(max_examples=200, deadline=None)
@given(raw=st.text(max_size=40), src=st.text(max_size=10), labels=_labels,
       module=st.sampled_from(["file", "journalctl", "syslog", ""]),
       expect_mode=st.sampled_from([TIMEMACHINE, LIVE]), acquired_at=_times)
def test_new_log_event_equals_the_dataclass_constructors(raw, src, labels, module, expect_mode, acquired_at):
    fast = new_log_event(raw, src=src, labels=labels, module=module, expect_mode=expect_mode,
                         acquired_at=acquired_at)
    slow = _constructed(raw, src, labels, module, expect_mode, acquired_at)
    _assert_same_structure(fast, slow)
    assert fast == slow
    assert repr(fast) == repr(slow)


def test_new_log_event_covers_every_dataclass_field():
    # A field added to Event/Line/RuntimeAlert/AppsecEvent must be set by new_log_event.
    evt = new_log_event("x")
    for obj, cls in ((evt, Event), (evt.Line, Line), (evt.Overflow, RuntimeAlert), (evt.Appsec, AppsecEvent)):
        assert list(vars(obj)) == [f.name for f in dataclasses.fields(cls)]


def test_new_log_event_objects_are_not_shared_between_events():
    labels = {"type": "syslog"}
    first, second = new_log_event("a", labels=labels), new_log_event("b", labels=labels)
    first.Parsed["k"] = "v"
    first.Meta["k"] = "v"
    first.Enriched["k"] = "v"
    first.Unmarshaled["k"] = "v"
    first.Line.Labels["type"] = "changed"
    first.Overflow.Sources["1.2.3.4"] = None
    first.Overflow.APIAlerts.append(None)
    first.Appsec.Vars["k"] = "v"
    first.Appsec.MatchedRules.append(1)
    assert second.Parsed == {} and second.Meta == {} and second.Enriched == {} and second.Unmarshaled == {}
    assert second.Line.Labels == {"type": "syslog"} and labels == {"type": "syslog"}
    assert second.Overflow.Sources == {} and second.Overflow.APIAlerts == []
    assert second.Appsec.Vars == {} and second.Appsec.MatchedRules == []
    for mapping in (second.Parsed, second.Meta, second.Enriched, second.Line.Labels, second.Appsec.Vars):
        assert isinstance(mapping, StrMap)


def test_new_log_event_survives_deepcopy_like_a_constructed_one():
    evt = new_log_event("line", labels={"type": "nginx"}, acquired_at=datetime(2024, 1, 1, tzinfo=timezone.utc))
    copied = copy.deepcopy(evt)
    assert copied == evt and copied is not evt
    _assert_same_structure(copied, _constructed("line", "", {"type": "nginx"}, "file", TIMEMACHINE,
                                                datetime(2024, 1, 1, tzinfo=timezone.utc)))
    assert timedelta(0) == copied.Line.Time - evt.Line.Time
