"""Overflow -> RuntimeAlert and the LAPI JSON body (spec/alerts.md §1-§2)."""

from __future__ import annotations

import json

import pytest

from crowdsec_mp.engine.alerts import AlertBuildError, alert_to_api, build_runtime_alert, runtime_alert_to_api
from crowdsec_mp.engine.buckets.bucket import Bucket
from crowdsec_mp.engine.buckets.spec import Scenario
from crowdsec_mp.engine.buckets.timeutil import NS_PER_S, parse_rfc3339_ns
from crowdsec_mp.engine.event import OVFLW, TIMEMACHINE, Event, RuntimeAlert, Source, StrMap


def scenario(**overrides) -> Scenario:
    values = dict(
        name="crowdsecurity/ssh-bf", description="d", type="leaky", file="f.yaml", filter=None,
        filter_source="true", capacity=5, leakspeed_ns=10 * NS_PER_S, labels={"remediation": True},
    )
    values.update(overrides)
    return Scenario(**values).finish()


def log_event(ip="192.0.2.7", ts="2024-05-02T08:01:00Z", **meta) -> Event:
    return Event(ExpectMode=TIMEMACHINE, MarshaledTime=ts, Meta=StrMap({"source_ip": ip, **meta}))


def overflowing_bucket(sc, events, first, last, ovflw) -> Bucket:
    bucket = Bucket(sc, "g", "0123456789abcdef0123", TIMEMACHINE)
    bucket.queue = list(events)
    bucket.total_count = len(events)
    bucket.first_ts, bucket.last_ts, bucket.ovflw_ts = (parse_rfc3339_ns(x) for x in (first, last, ovflw))
    return bucket


def test_ip_alert_fields_and_message():
    sc = scenario()
    events = [log_event(ts=f"2024-05-02T08:01:0{i}Z", log_type="ssh_failed-auth") for i in range(6)]
    events[-1].Enriched = StrMap({"ASNumber": "64500", "ASNOrg": "EXAMPLE-AS", "IsoCode": "FR", "Latitude": "48.85", "Longitude": "2.35"})
    bucket = overflowing_bucket(sc, events, "2024-05-02T08:01:00Z", "2024-05-02T08:01:03.2Z", "2024-05-02T08:01:03.2Z")
    ra = build_runtime_alert(sc, bucket, simulated=False)
    assert list(ra.Sources) == ["192.0.2.7"]
    alert = ra.Alert
    assert alert is ra.APIAlerts[0]
    assert alert.Source is ra.Sources["192.0.2.7"]
    assert alert.Message == (
        "Ip 192.0.2.7 performed 'crowdsecurity/ssh-bf' (6 events over 3.2s) at 2024-05-02 08:01:03.2 +0000 UTC"
    )
    assert (alert.Capacity, alert.EventsCount, alert.Leakspeed) == (5, 6, "10s")
    assert (alert.StartAt, alert.StopAt) == ("2024-05-02T08:01:00Z", "2024-05-02T08:01:03.2Z")
    assert alert.Remediation is True and alert.Simulated is False
    assert [item.Key for item in alert.Events[0].Meta] == ["log_type", "source_ip"]
    assert alert.Events[2].Timestamp == "2024-05-02T08:01:02Z"
    # the first event seen for a source wins: geo fields come from the first event only
    assert ra.Sources["192.0.2.7"].Cn == ""


def test_geo_fields_and_range_from_first_event():
    sc = scenario()
    evt = log_event(SourceRange="192.0.2.0/24")
    evt.Enriched = StrMap({"ASNNumber": "64500", "ASNOrg": "EXAMPLE-AS", "IsoCode": "FR", "Latitude": "48.85", "Longitude": "2.35"})
    bucket = overflowing_bucket(sc, [evt], "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z")
    body = alert_to_api(build_runtime_alert(sc, bucket).Alert)
    assert body["source"] == {
        "scope": "Ip", "value": "192.0.2.7", "ip": "192.0.2.7", "range": "192.0.2.0/24",
        "as_number": "64500", "as_name": "EXAMPLE-AS", "cn": "FR", "latitude": 48.85, "longitude": 2.35,
    }


def test_api_body_null_vs_absent():
    sc = scenario(labels={"remediation": "true"})  # a string is not the boolean true
    bucket = overflowing_bucket(sc, [log_event()], "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z")
    body = alert_to_api(build_runtime_alert(sc, bucket, simulated=True).Alert)
    json.dumps(body)
    assert "remediation" not in body and "meta" not in body and "uuid" not in body
    assert body["decisions"] is None and body["labels"] is None
    assert body["simulated"] is True and body["kind"] == "crowdsec"
    assert body["events"] == [{"timestamp": "2024-05-02T08:01:00Z", "meta": [{"key": "source_ip", "value": "192.0.2.7"}]}]
    for key in ("scenario", "scenario_hash", "scenario_version", "message", "events_count", "start_at",
                "stop_at", "capacity", "leakspeed", "source"):
        assert key in body


def test_several_sources_give_one_api_alert_each():
    sc = scenario(name="x/y", capacity=-1, type="counter", duration_ns=NS_PER_S, leakspeed_ns=0)
    events = [log_event("1.1.1.1"), log_event("2.2.2.2"), log_event("1.1.1.1")]
    bucket = overflowing_bucket(sc, events, "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z", "2024-05-02T08:02:30.5Z")
    ra = build_runtime_alert(sc, bucket)
    assert list(ra.Sources) == ["1.1.1.1", "2.2.2.2"]
    assert [a.Source.Value for a in ra.APIAlerts] == ["1.1.1.1", "2.2.2.2"]
    assert ra.Alert.Message == "Ip 2 sources performed 'x/y' (3 events over 1m30.5s) at 2024-05-02 08:01:00 +0000 UTC"
    assert ra.Alert.Leakspeed == "0s" and ra.Alert.Capacity == -1
    assert [b["source"]["value"] for b in runtime_alert_to_api(ra)] == ["1.1.1.1", "2.2.2.2"]


@pytest.mark.parametrize("meta", [{}, {"source_ip": ""}, {"source_ip": "not-an-ip"}])
def test_ip_scope_needs_a_valid_source_ip(meta):
    sc = scenario()
    evt = Event(ExpectMode=TIMEMACHINE, MarshaledTime="2024-05-02T08:01:00Z", Meta=StrMap(meta))
    bucket = overflowing_bucket(sc, [evt], "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z")
    with pytest.raises(AlertBuildError):
        build_runtime_alert(sc, bucket)


def test_bad_declared_range_fails_the_alert():
    sc = scenario()
    bucket = overflowing_bucket(sc, [log_event(SourceRange="nope")], "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z")
    with pytest.raises(AlertBuildError):
        build_runtime_alert(sc, bucket)


def test_range_scope_without_expression_uses_source_range():
    sc = scenario(scope_type="Range")
    bucket = overflowing_bucket(sc, [log_event(SourceRange="192.0.2.9/24")], "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z")
    ra = build_runtime_alert(sc, bucket)
    assert list(ra.Sources) == ["192.0.2.0/24"]
    src = ra.Sources["192.0.2.0/24"]
    assert (src.Scope, src.IP, src.Range) == ("Range", "192.0.2.7", "192.0.2.0/24")
    assert ra.Alert.Message.startswith("Range 192.0.2.0/24 performed")


def test_reprocessed_overflow_keeps_its_sources():
    sc = scenario(type="trigger", capacity=0, leakspeed_ns=0)
    previous = RuntimeAlert(Sources={"1.2.3.4": Source(IP="1.2.3.4", Scope="Ip", Value="1.2.3.4", Range="1.2.3.0/24")})
    evt = Event(Type=OVFLW, ExpectMode=TIMEMACHINE, MarshaledTime="2024-05-02T08:01:00Z", Overflow=previous)
    bucket = overflowing_bucket(sc, [evt], "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z", "2024-05-02T08:01:00Z")
    ra = build_runtime_alert(sc, bucket)
    assert ra.Sources["1.2.3.4"] is not previous.Sources["1.2.3.4"]
    assert ra.Sources["1.2.3.4"].Value == "1.2.3.4"
    assert ra.Alert.Events == []  # the overflow event has no Meta
    # Ip -> Range conversion uses the source's range
    range_sc = scenario(type="trigger", capacity=0, leakspeed_ns=0, scope_type="Range")
    ra = build_runtime_alert(range_sc, overflowing_bucket(range_sc, [evt], *["2024-05-02T08:01:00Z"] * 3))
    assert list(ra.Sources) == ["1.2.3.0/24"] and ra.Alert.Source.Scope == "Range"


def test_context_values_are_go_json_and_bounded():
    from crowdsec_mp.engine.alerts import CONTEXT_VALUE_MAX, _truncate_context, go_json_strings

    assert go_json_strings(["a<b>&c", "é"]) == '["a\\u003cb\\u003e\\u0026c","é"]'
    two = _truncate_context(["x" * 3000, "y" * 3000])
    assert json.loads(two) == ["x" * 3000]
    one = _truncate_context(["z" * 9000])
    assert len(one.encode()) <= CONTEXT_VALUE_MAX and json.loads(one)[0].endswith("...")
