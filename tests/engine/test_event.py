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
