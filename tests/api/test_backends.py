"""The core LAPI behaviour over real HTTP, on SQLite, PostgreSQL and MariaDB/MySQL.

Each backend gets its own database and server (module-scoped, one backend
at a time). Tests use their own addresses so that they can share a database.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crowdsec_mp.api import admin
from crowdsec_mp.api.durations import parse_duration
from crowdsec_mp.api.flush import flush_once
from crowdsec_mp.api.models import Alert, Decision, Event, MetaItem
from tests.api.lapi_helpers import agent_alert, manual_alert, running_lapi

PAST = "2020-01-01T00:00:00Z"


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def lapi(request, tmp_path_factory):
    with running_lapi(request.param, tmp_path_factory.mktemp(request.param)) as handle:
        yield handle


@pytest.fixture(scope="module")
def token(lapi):
    return lapi.machine_token()


def now_rfc3339(offset_s=0):
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def post(lapi, token, alerts):
    response = lapi.as_machine(token, "POST", "/v1/alerts", json=alerts)
    assert response.status_code == 201, response.text
    return response.json()


def decisions_for(lapi, key, **params):
    response = lapi.as_bouncer(key, "GET", "/v1/decisions", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_agent_alert_gets_profile_decision_and_string_ids(lapi, token):
    ids = post(lapi, token, [agent_alert("192.0.2.7", stop_at=now_rfc3339())])
    assert len(ids) == 1 and isinstance(ids[0], str) and ids[0].isdigit()
    key = lapi.bouncer_key()
    [decision] = decisions_for(lapi, key, ip="192.0.2.7")
    assert (decision["type"], decision["scope"], decision["value"], decision["origin"]) == ("ban", "Ip", "192.0.2.7", "crowdsec")
    assert 4 * 3600 - 60 <= parse_duration(decision["duration"]) <= 4 * 3600
    assert "uuid" not in decision and "until" not in decision and "simulated" not in decision

    alert = lapi.as_machine(token, "GET", f"/v1/alerts/{ids[0]}").json()
    assert alert["id"] == int(ids[0]) and alert["scenario"] == "crowdsecurity/ssh-bf"
    assert alert["source"]["cn"] == "FR" and alert["start_at"] == "2024-05-02T08:01:00Z"
    assert alert["events"][0]["timestamp"] == "2024-05-02 08:01:00 +0000 UTC"
    assert alert["meta"] == [{"key": "target_user", "value": '["root","admin"]'}]
    assert alert["decisions"][0]["id"] == decision["id"] and alert["decisions"][0]["simulated"] is False
    assert alert["remediation"] is True and alert["labels"] is None


def test_alert_without_remediation_gets_no_decision(lapi, token):
    [alert_id] = post(lapi, token, [agent_alert("192.0.2.8", remediation=False, stop_at=now_rfc3339())])
    assert lapi.as_machine(token, "GET", f"/v1/alerts/{alert_id}").json()["decisions"] is None
    assert decisions_for(lapi, lapi.bouncer_key(), ip="192.0.2.8") is None


def test_ip_and_range_contains_semantics(lapi, token):
    post(lapi, token, [
        manual_alert("198.51.100.4"),
        manual_alert("203.0.113.0/24", scope="Range"),
        manual_alert("2001:db8:1::/48", scope="Range"),
        manual_alert("2001:db8:2::7"),
        manual_alert("198.51.100.4", scope="username"),
    ])  # fmt: skip
    key = lapi.bouncer_key()
    values = lambda **p: sorted((d["scope"], d["value"]) for d in decisions_for(lapi, key, **p) or [])  # noqa: E731
    assert values(ip="198.51.100.4") == [("Ip", "198.51.100.4")]
    assert values(range="198.51.100.0/24") == []
    assert values(range="198.51.100.0/24", contains="false") == [("Ip", "198.51.100.4")]
    assert values(ip="203.0.113.77") == [("Range", "203.0.113.0/24")]
    assert values(range="203.0.113.128/25") == [("Range", "203.0.113.0/24")]
    assert values(range="203.0.0.0/16", contains="false") == [("Range", "203.0.113.0/24")]
    assert values(ip="2001:db8:1:ffff::1") == [("Range", "2001:db8:1::/48")]
    assert values(ip="2001:db8:2::7") == [("Ip", "2001:db8:2::7")]
    assert values(range="2001:db8::/32", contains="false") == [("Ip", "2001:db8:2::7"), ("Range", "2001:db8:1::/48")]
    assert values(ip="::ffff:198.51.100.5") == []  # other family
    assert values(value="198.51.100.4", scope="username") == [("username", "198.51.100.4")]
    assert values(ip="198.51.100.4", scopes="ip,range") == [("Ip", "198.51.100.4")]


def test_stream_startup_delta_and_deleted(lapi, token):
    key = lapi.bouncer_key()
    post(lapi, token, [manual_alert("100.64.0.1"), manual_alert("FR", scope="Country")])
    first = lapi.as_bouncer(key, "GET", "/v1/decisions/stream", params={"startup": "true"}).json()
    assert set(first) == {"new", "deleted"}
    new_values = {d["value"] for d in first["new"]}
    assert "100.64.0.1" in new_values and "FR" not in new_values  # default scopes ip,range
    assert all("uuid" in d for d in first["new"])
    assert lapi.as_bouncer(key, "GET", "/v1/decisions/stream").json() == {"new": [], "deleted": []}

    post(lapi, token, [manual_alert("100.64.0.2")])
    delta = lapi.as_bouncer(key, "GET", "/v1/decisions/stream", params={"startup": "false"}).json()
    assert [d["value"] for d in delta["new"]] == ["100.64.0.2"] and delta["deleted"] == []

    deleted = lapi.as_machine(token, "DELETE", "/v1/decisions", params={"ip": "100.64.0.1"})
    assert deleted.json() == {"nbDeleted": "1"}
    delta = lapi.as_bouncer(key, "GET", "/v1/decisions/stream").json()
    assert delta["new"] == [] and [d["value"] for d in delta["deleted"]] == ["100.64.0.1"]

    countries = lapi.as_bouncer(lapi.bouncer_key(), "GET", "/v1/decisions/stream", params={"startup": "true", "scopes": "country"})
    assert [d["value"] for d in countries.json()["new"]] == ["FR"]
    # startup lists expired decisions as deleted; HEAD changes nothing.
    fresh = lapi.bouncer_key()
    assert lapi.as_bouncer(fresh, "HEAD", "/v1/decisions/stream").status_code == 200
    snapshot = lapi.as_bouncer(fresh, "GET", "/v1/decisions/stream", params={"startup": "true"}).json()
    assert "100.64.0.1" in {d["value"] for d in snapshot["deleted"]}


def test_large_stream_snapshot_is_sent_chunked_with_the_same_content(lapi, token, monkeypatch):
    from crowdsec_mp.api import wire

    post(lapi, token, [manual_alert(f"100.71.0.{i}") for i in range(1, 8)])
    post(lapi, token, [manual_alert("100.71.1.1")])
    lapi.as_machine(token, "DELETE", "/v1/decisions", params={"ip": "100.71.1.1"})
    whole = lapi.as_bouncer(lapi.bouncer_key(), "GET", "/v1/decisions/stream", params={"startup": "true"})
    assert "chunked" not in whole.headers.get("Transfer-Encoding", "")
    # Above JSON_CHUNK_ROWS rows the body is streamed in pieces of that size.
    monkeypatch.setattr(wire, "JSON_CHUNK_ROWS", 3)
    chunked = lapi.as_bouncer(lapi.bouncer_key(), "GET", "/v1/decisions/stream", params={"startup": "true"})
    assert chunked.status_code == 200 and chunked.headers["Transfer-Encoding"] == "chunked"
    assert chunked.headers["Content-Type"] == "application/json"

    def without_duration(body):
        return {part: [{k: v for k, v in d.items() if k != "duration"} for d in body[part]] for part in ("new", "deleted")}

    assert without_duration(chunked.json()) == without_duration(whole.json())
    new = chunked.json()["new"]
    assert [d["id"] for d in new] == sorted(d["id"] for d in new)
    assert {f"100.71.0.{i}" for i in range(1, 8)} <= {d["value"] for d in new}
    assert "100.71.1.1" in {d["value"] for d in chunked.json()["deleted"]}


def test_stream_dedup_keeps_the_longest_decision(lapi, token):
    key = lapi.bouncer_key()
    post(lapi, token, [manual_alert("100.65.0.1", duration="1h"), manual_alert("100.65.0.1", duration="5h"),
                       manual_alert("100.65.0.2", duration="1h", stop_at=PAST), manual_alert("100.65.0.2", duration="3h")])  # fmt: skip
    params = {"startup": "true", "origins": "cscli"}
    stream = lapi.as_bouncer(key, "GET", "/v1/decisions/stream", params=params).json()
    picked = {d["value"]: parse_duration(d["duration"]) for d in stream["new"] if d["value"].startswith("100.65.")}
    assert picked["100.65.0.1"] > 4 * 3600 and len([d for d in stream["new"] if d["value"] == "100.65.0.1"]) == 1
    # The expired short one is hidden by the active longer one.
    assert "100.65.0.2" not in {d["value"] for d in stream["deleted"]}
    raw = lapi.as_bouncer(lapi.bouncer_key(), "GET", "/v1/decisions/stream", params={**params, "dedup": "false"}).json()
    assert len([d for d in raw["new"] if d["value"] == "100.65.0.1"]) == 2
    assert "100.65.0.2" in {d["value"] for d in raw["deleted"]}
    # GET /v1/decisions is not deduplicated.
    assert len(decisions_for(lapi, key, ip="100.65.0.1")) == 2


def test_decision_filters(lapi, token):
    post(lapi, token, [
        manual_alert("100.66.0.1", type_="captcha", scenario="crowdsecurity/http-probing"),
        manual_alert("100.66.0.2", origin="lists", scenario="firehol_level1"),
        manual_alert("100.66.0.3", scenario="crowdsecurity/ssh-bf"),
    ])  # fmt: skip
    key = lapi.bouncer_key()
    pick = lambda **p: sorted(d["value"] for d in decisions_for(lapi, key, **p) or [] if d["value"].startswith("100.66."))  # noqa: E731
    assert pick(type="captcha") == ["100.66.0.1"]
    assert pick(origins="lists,CAPI") == ["100.66.0.2"]
    assert pick(scenarios_containing="SSH,probing") == ["100.66.0.1", "100.66.0.3"]
    assert pick(scenarios_not_containing="ssh", origins="cscli") == ["100.66.0.1"]
    assert pick(value="100.66.0.3") == ["100.66.0.3"]
    assert len(decisions_for(lapi, key, limit="1") or []) == 1
    every = [d["id"] for d in decisions_for(lapi, key)]
    assert [d["id"] for d in decisions_for(lapi, key, offset="1")] == every[1:]
    assert [d["id"] for d in decisions_for(lapi, key, limit="2", offset="1")] == every[1:3]
    assert [d["id"] for d in decisions_for(lapi, key, id_gt=str(every[-2]))] == every[-1:]


def test_simulated_decisions_hidden_unless_asked(lapi, token):
    post(lapi, token, [agent_alert("100.67.0.1", simulated=True, stop_at=now_rfc3339())])
    key = lapi.bouncer_key()
    assert decisions_for(lapi, key, ip="100.67.0.1") is None
    assert [d["value"] for d in decisions_for(lapi, key, ip="100.67.0.1", simulated="true")] == ["100.67.0.1"]
    stream = lapi.as_bouncer(key, "GET", "/v1/decisions/stream", params={"startup": "true"}).json()
    assert "100.67.0.1" not in {d["value"] for d in stream["new"]}


def test_delete_decision_by_id(lapi, token):
    post(lapi, token, [manual_alert("100.68.0.1")])
    key = lapi.bouncer_key()
    [decision] = decisions_for(lapi, key, ip="100.68.0.1")
    response = lapi.as_machine(token, "DELETE", f"/v1/decisions/{decision['id']}")
    assert (response.status_code, response.json()) == (200, {"nbDeleted": "1"})
    assert decisions_for(lapi, key, ip="100.68.0.1") is None
    missing = lapi.as_machine(token, "DELETE", "/v1/decisions/999999999")
    assert missing.status_code == 404 and "doesn't exist" in missing.json()["message"]


def test_alert_search_filters_and_delete(lapi, token):
    ids = post(lapi, token, [
        agent_alert("100.69.0.1", scenario="test/search-a", stop_at=now_rfc3339()),
        agent_alert("100.69.0.2", scenario="test/search-b", remediation=False, stop_at=now_rfc3339()),
        manual_alert("100.69.0.3", stop_at=PAST, duration="1h"),
    ])  # fmt: skip
    search = lambda **p: sorted(a["source"]["value"] for a in lapi.as_machine(token, "GET", "/v1/alerts", params={"limit": "0", **p}).json() or [] if a["source"]["value"].startswith("100.69."))  # noqa: E731
    assert search() == ["100.69.0.1", "100.69.0.2", "100.69.0.3"]
    assert search(scenario="test/search-a") == ["100.69.0.1"]
    assert search(value="100.69.0.2", scope="ip") == ["100.69.0.2"]
    assert search(ip="100.69.0.3") == ["100.69.0.3"]
    assert search(range="100.69.0.0/24", contains="false") == ["100.69.0.1", "100.69.0.3"]
    assert search(has_active_decision="true") == ["100.69.0.1"]
    assert search(has_active_decision="false") == ["100.69.0.2"]
    assert search(decision_type="ban", origin="cscli") == ["100.69.0.3"]
    assert search(since="1h") == []  # start_at is in 2024 / 2020
    assert search(until="1h") == ["100.69.0.1", "100.69.0.2", "100.69.0.3"]
    assert search(kind="cscli") == ["100.69.0.3"]
    asc = lapi.as_machine(token, "GET", "/v1/alerts", params={"sort": "ASC", "limit": "0"}).json()
    assert [a["id"] for a in asc] == sorted(a["id"] for a in asc)
    without = lapi.as_machine(token, "GET", "/v1/alerts", params={"with_decisions": "false", "value": "100.69.0.1"}).json()
    assert without[0]["decisions"] is None
    assert lapi.as_machine(token, "GET", "/v1/alerts", params={"value": "no-such"}).json() is None

    deleted = lapi.as_machine(token, "DELETE", "/v1/alerts", params={"scenario": "test/search-b"})
    assert deleted.json() == {"nbDeleted": "1"}
    by_id = lapi.as_machine(token, "DELETE", f"/v1/alerts/{ids[0]}")
    assert by_id.json() == {"nbDeleted": "1"}
    assert Alert.select().where(Alert.id == int(ids[0])).count() == 0
    for model in (Decision, Event, MetaItem):  # cascade
        assert model.select().where(model.alert == int(ids[0])).count() == 0
    assert lapi.as_machine(token, "GET", f"/v1/alerts/{ids[0]}").status_code == 404


def test_flush_keeps_alerts_with_active_decisions(lapi, token):
    ids = post(lapi, token, [manual_alert("100.70.0.1", stop_at=PAST, duration="1h"), manual_alert("100.70.0.2", duration="4h")])
    db = lapi.state.settings.db
    later = lapi.state.now_us() + 2 * 3600 * 1_000_000
    flush_once(db.__class__(**{**db.__dict__, "flush_max_age": 3600.0, "flush_max_items": None}), later)
    remaining = {a.id for a in Alert.select(Alert.id).where(Alert.id.in_([int(i) for i in ids]))}
    assert remaining == {int(ids[1])}
    assert Decision.select().where(Decision.alert == int(ids[0])).count() == 0

    more = post(lapi, token, [manual_alert(f"100.70.1.{i}", stop_at=PAST) for i in range(3)])
    flush_once(db.__class__(**{**db.__dict__, "flush_max_age": None, "flush_max_items": 1}), lapi.state.now_us())
    alive = {a.id for a in Alert.select(Alert.id).where(Alert.id.in_([int(i) for i in more + ids]))}
    # Alerts with id < max_id - max_items go, unless they have an active decision.
    assert int(more[-1]) in alive and int(more[1]) in alive and int(more[0]) not in alive
    assert int(ids[1]) in alive


def test_admin_functions(lapi):
    key = admin.add_bouncer("fw-admin-test")
    assert len(key) == 43 and not key.endswith("=")
    with pytest.raises(admin.AdminError, match="already exists"):
        admin.add_bouncer("fw-admin-test")
    assert admin.add_bouncer("fw-custom-key", key="my-own-key-123") == "my-own-key-123"
    assert lapi.as_bouncer("my-own-key-123", "GET", "/v1/decisions").status_code == 200
    listed = {b["name"]: b for b in admin.list_bouncers()}
    assert listed["fw-custom-key"]["type"] == "crowdsec-test" and listed["fw-custom-key"]["version"] == "v1.0.0"
    assert listed["fw-custom-key"]["ip_address"] == "127.0.0.1"
    admin.delete_bouncer("fw-custom-key")
    assert lapi.as_bouncer("my-own-key-123", "GET", "/v1/decisions").status_code == 403
    with pytest.raises(admin.AdminError):
        admin.delete_bouncer("fw-custom-key")
    with pytest.raises(admin.AdminError, match="invalid bouncer name"):
        admin.add_bouncer("bad name; DROP TABLE")
    with pytest.raises(admin.AdminError, match="at most 72 bytes"):
        admin.add_machine("agent-long-password", "p" * 73)

    admin.add_machine("agent-x", "pw-123456", validated=False)
    login = {"machine_id": "agent-x", "password": "pw-123456"}
    refused = lapi.request("POST", "/v1/watchers/login", json=login)
    assert refused.status_code == 401 and refused.json() == {"code": 401, "message": "machine agent-x not validated"}
    admin.validate_machine("agent-x")
    assert lapi.request("POST", "/v1/watchers/login", json={**login, "scenarios": ["a/b", "c/d"]}).status_code == 200
    [machine] = [m for m in admin.list_machines() if m["machine_id"] == "agent-x"]
    assert machine["scenarios"] == "a/b,c/d" and machine["is_validated"] and machine["version"] == "v1.0.0"
    admin.delete_machine("agent-x")
    assert lapi.request("POST", "/v1/watchers/login", json=login).status_code == 401


def test_like_wildcards_quotes_and_unicode_are_literal(lapi, token):
    scenarios = ["odd/100%_sure", "odd/back\\slash", "odd/quote'\"", "odd/émoji-🚫"]
    post(lapi, token, [manual_alert(f"100.71.0.{i}", scenario=s) for i, s in enumerate(scenarios)])
    post(lapi, token, [manual_alert("user'\"🚫", scope="username", scenario="odd/user")])
    key = lapi.bouncer_key()
    by_scenario = lambda word: sorted(d["scenario"] for d in decisions_for(lapi, key, scenarios_containing=word, origins="cscli") or [])  # noqa: E731
    assert by_scenario("100%_") == ["odd/100%_sure"]
    assert by_scenario("0%s") == []  # '%' is not a wildcard
    assert by_scenario("k\\s") == ["odd/back\\slash"]
    assert by_scenario("'\"") == ["odd/quote'\""]
    assert by_scenario("🚫") == ["odd/émoji-🚫"]
    [user] = decisions_for(lapi, key, value="user'\"🚫", scope="username")
    assert user["value"] == "user'\"🚫"
    alerts = lapi.as_machine(token, "GET", "/v1/alerts", params={"scenario": "odd/quote'\""}).json()
    assert [a["scenario"] for a in alerts] == ["odd/quote'\""]


@pytest.mark.parametrize(
    "alerts, status",
    [
        ([manual_alert("x" * 300, scope="username")], 422),  # longer than the value column
        ([dict(manual_alert("100.72.0.1"), scenario_hash="h" * 300)], 422),
        ([dict(manual_alert("100.72.0.2"), message="nul \u0000 inside")], 400),
        ([dict(agent_alert("100.72.0.3"), source=dict(agent_alert()["source"], latitude=float("nan")))], 400),
        ([dict(agent_alert("100.72.0.4"), source=dict(agent_alert()["source"], latitude=3.5e38))], 422),  # > float32
        ([dict(agent_alert("100.72.0.5"), source=dict(agent_alert()["source"], longitude=10**400))], 422),
    ],
)
def test_values_a_backend_would_refuse_are_rejected_first(lapi, token, alerts, status):
    import json as json_module

    before = Alert.select().count()
    body = json_module.dumps(alerts)  # allow_nan: sends a bare NaN token
    response = lapi.as_machine(token, "POST", "/v1/alerts", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert Alert.select().count() == before


def test_tiny_coordinates_are_stored_as_float32(lapi, token):
    source = dict(agent_alert()["source"], latitude=1e-300, longitude=-2.5)
    [alert_id] = post(lapi, token, [dict(agent_alert("100.72.0.6", stop_at=now_rfc3339()), source=source)])
    stored = lapi.as_machine(token, "GET", f"/v1/alerts/{alert_id}").json()["source"]
    assert "latitude" not in stored and stored["longitude"] == -2.5


def test_nul_in_query_parameters_is_refused(lapi, token):
    key = lapi.bouncer_key()
    assert lapi.as_bouncer(key, "GET", "/v1/decisions", params={"value": "a\x00b"}).status_code == 400
    assert lapi.as_machine(token, "GET", "/v1/alerts", params={"scenario": "a\x00b"}).status_code == 400
    assert lapi.as_machine(token, "DELETE", "/v1/decisions", params={"value": "\x00"}).status_code == 400
