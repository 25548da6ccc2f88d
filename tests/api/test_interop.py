"""Real clients against the LAPI: pycrowdsec stream/live bouncers, an agent's alert body."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

pycrowdsec_client = pytest.importorskip("pycrowdsec.client")

from tests.api.lapi_helpers import manual_alert  # noqa: E402

AGENT_UA = "crowdsec/v1.6.3-4851945a-docker"

# The body of spec/alerts.md §2 ("Example body as sent by an agent"), with a
# recent stop_at so that its 4h decision is still active.
AGENT_BODY = [{
    "scenario": "crowdsecurity/ssh-bf",
    "scenario_hash": "5c1f0e3",
    "scenario_version": "0.3",
    "message": "Ip 192.0.2.7 performed 'crowdsecurity/ssh-bf' (6 events over 3.2s) at 2024-05-02 08:01:03.2 +0000 UTC",
    "events_count": 6,
    "start_at": "2024-05-02T08:01:00Z",
    "stop_at": "STOP_AT",
    "capacity": 5,
    "leakspeed": "10s",
    "simulated": False,
    "remediation": True,
    "kind": "crowdsec",
    "source": {"scope": "Ip", "value": "192.0.2.7", "ip": "192.0.2.7",
               "range": "192.0.2.0/24", "as_number": "64500", "as_name": "EXAMPLE-AS",
               "cn": "FR", "latitude": 48.85, "longitude": 2.35},
    "events": [{"timestamp": "2024-05-02T08:01:00Z",
                "meta": [{"key": "log_type", "value": "ssh_failed-auth"},
                         {"key": "service", "value": "ssh"},
                         {"key": "source_ip", "value": "192.0.2.7"},
                         {"key": "target_user", "value": "root"}]}],
    "meta": [{"key": "target_user", "value": "[\"root\",\"admin\"]"}],
    "decisions": None,
    "labels": None,
}]  # fmt: skip


def agent_login(lapi):
    from crowdsec_mp.api import admin

    admin.add_machine("agent-interop", "agent-password")
    response = lapi.request(
        "POST",
        "/v1/watchers/login",
        json={"machine_id": "agent-interop", "password": "agent-password", "scenarios": ["crowdsecurity/ssh-bf"]},
        headers={"User-Agent": AGENT_UA},
    )
    assert response.status_code == 200
    body = response.json()
    # Agents parse `expire` as RFC3339 and re-login before it.
    assert datetime.strptime(body["expire"], "%Y-%m-%dT%H:%M:%SZ") > datetime.utcnow()
    return body["token"]


def test_agent_alert_body_is_accepted_and_pycrowdsec_clients_see_exactly_the_decisions(sqlite_lapi):
    token = agent_login(sqlite_lapi)
    stream = pycrowdsec_client.StreamClient(api_key=sqlite_lapi.bouncer_key(), lapi_url=sqlite_lapi.url)
    live = pycrowdsec_client.QueryClient(api_key=sqlite_lapi.bouncer_key(), lapi_url=sqlite_lapi.url)
    stream.cycle("true")
    assert stream.get_current_decisions() == {}

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = [dict(AGENT_BODY[0], stop_at=now)]
    pushed = sqlite_lapi.as_machine(token, "POST", "/v1/alerts", json=body, headers={"User-Agent": AGENT_UA})
    assert pushed.status_code == 201 and pushed.json() == ["1"]
    sqlite_lapi.as_machine(token, "POST", "/v1/alerts", json=[
        manual_alert("198.51.100.0/24", scope="Range", type_="captcha"),
        manual_alert("2001:db8::1", type_="ban"),
        manual_alert("FR", scope="Country"),  # not an ip/range scope: not streamed
    ])  # fmt: skip

    stream.cycle("false")
    # pycrowdsec renders its cache keys as networks (a single IP as /32, /128).
    assert stream.get_current_decisions() == {"192.0.2.7/32": "ban", "198.51.100.0/24": "captcha", "2001:db8::1/128": "ban"}
    assert stream.get_action_for("198.51.100.9") == "captcha"
    assert stream.get_action_for("203.0.113.1") is None
    assert live.get_action_for("192.0.2.7") == "ban"
    assert live.get_action_for("198.51.100.200") == "captcha"
    assert live.get_decisions_for("203.0.113.1") is None

    deleted = sqlite_lapi.as_machine(token, "DELETE", "/v1/decisions", params={"ip": "192.0.2.7"})
    assert deleted.json() == {"nbDeleted": "1"}
    stream.cycle("false")
    assert stream.get_current_decisions() == {"198.51.100.0/24": "captcha", "2001:db8::1/128": "ban"}
    assert live.get_decisions_for("192.0.2.7") is None
