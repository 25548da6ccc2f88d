"""Rules that depend on the client IP: trusted_ips, bouncer `name@ip` rows,
auto-registration, disable_remote_lapi_registration.

The server trusts X-Forwarded-For from 127.0.0.1 (use_forwarded_for_headers +
trusted_proxies), which lets one loopback test client appear as any address.
"""

from __future__ import annotations

import pytest

from crowdsec_mp.api import admin
from crowdsec_mp.api.models import Bouncer, Machine
from tests.api.lapi_helpers import manual_alert, running_lapi

TOKEN = "a" * 40


@pytest.fixture(scope="module")
def lapi(tmp_path_factory):
    extra = {
        "use_forwarded_for_headers": True,
        "trusted_proxies": ["127.0.0.1"],
        "trusted_ips": ["10.0.0.0/8"],
        "auto_registration": {"enabled": True, "token": TOKEN, "allowed_ranges": ["192.168.0.0/16"]},
        "disable_remote_lapi_registration": False,
    }
    with running_lapi("sqlite", tmp_path_factory.mktemp("ip-rules"), server_extra=extra) as handle:
        yield handle


def from_ip(ip):
    return {"X-Forwarded-For": ip}


def test_delete_alerts_only_from_trusted_ips(lapi):
    token = lapi.machine_token()
    [alert_id] = lapi.as_machine(token, "POST", "/v1/alerts", json=[manual_alert("192.0.2.1")]).json()
    for path in ("/v1/alerts", f"/v1/alerts/{alert_id}"):
        refused = lapi.as_machine(token, "DELETE", path, headers=from_ip("203.0.113.9"))
        assert (refused.status_code, refused.json()) == (403, {"message": "access forbidden from this IP (203.0.113.9)"})
    assert lapi.as_machine(token, "GET", f"/v1/alerts/{alert_id}").status_code == 200
    allowed = lapi.as_machine(token, "DELETE", f"/v1/alerts/{alert_id}", headers=from_ip("10.1.2.3"))
    assert allowed.json() == {"nbDeleted": "1"}
    # Loopback is always trusted.
    assert lapi.as_machine(token, "DELETE", "/v1/alerts", params={"value": "none"}).json() == {"nbDeleted": "0"}


def test_bouncer_key_used_from_a_second_ip_gets_its_own_row_and_last_pull(lapi):
    token = lapi.machine_token()
    key = admin.add_bouncer("fw")
    lapi.as_machine(token, "POST", "/v1/alerts", json=[manual_alert("192.0.2.2")])
    first = lapi.as_bouncer(key, "GET", "/v1/decisions/stream", params={"startup": "true"}, headers=from_ip("198.51.100.1"))
    assert "192.0.2.2" in {d["value"] for d in first.json()["new"]}
    # Same key, new address: a `fw@198.51.100.2` row that never pulled, so it gets everything.
    second = lapi.as_bouncer(key, "GET", "/v1/decisions/stream", headers=from_ip("198.51.100.2"))
    assert "192.0.2.2" in {d["value"] for d in second.json()["new"]}
    rows = {b.name: b for b in Bouncer.select().where(Bouncer.name.startswith("fw"))}
    assert set(rows) == {"fw", "fw@198.51.100.2"}
    assert rows["fw"].ip_address == "198.51.100.1" and not rows["fw"].auto_created
    assert rows["fw@198.51.100.2"].auto_created and rows["fw@198.51.100.2"].api_key_hash == rows["fw"].api_key_hash
    again = lapi.as_bouncer(key, "GET", "/v1/decisions/stream", headers=from_ip("198.51.100.1"))
    assert again.json()["new"] == []
    # A third address derives its name from the base name, not from `fw@...`.
    lapi.as_bouncer(key, "GET", "/v1/decisions", headers={**from_ip("198.51.100.3"), "User-Agent": "odd-agent"})
    third = Bouncer.get(Bouncer.name == "fw@198.51.100.3")
    assert (third.type, third.version) == ("odd-agent", "N/A")


def test_auto_registration(lapi):
    register = lambda mid, token, ip: lapi.request(  # noqa: E731
        "POST", "/v1/watchers", json={"machine_id": mid, "password": "pw", "registration_token": token}, headers=from_ip(ip)
    )
    accepted = register("auto-1", TOKEN, "192.168.1.10")
    assert (accepted.status_code, accepted.content) == (202, b"")
    assert Machine.get(Machine.machine_id == "auto-1").is_validated
    wrong_token = register("auto-2", "b" * 40, "192.168.1.10")
    assert (wrong_token.status_code, wrong_token.json()) == (401, {"message": "invalid token for auto registration"})
    outside = register("auto-3", TOKEN, "203.0.113.5")
    assert (outside.status_code, outside.json()) == (401, {"message": "IP not in allowed range for auto registration"})
    assert not Machine.select().where(Machine.machine_id.in_(["auto-2", "auto-3"])).exists()
    plain = lapi.request("POST", "/v1/watchers", json={"machine_id": "manual-1", "password": "pw"}, headers=from_ip("203.0.113.5"))
    assert plain.status_code == 201 and not Machine.get(Machine.machine_id == "manual-1").is_validated


def test_remote_registration_can_be_disabled(lapi):
    settings = lapi.state.settings
    settings.disable_remote_lapi_registration = True
    try:
        body = {"machine_id": "remote-1", "password": "pw"}
        refused = lapi.request("POST", "/v1/watchers", json=body, headers=from_ip("203.0.113.7"))
        assert (refused.status_code, refused.json()) == (403, {"message": "access forbidden"})
        assert lapi.request("POST", "/v1/watchers", json=body).status_code == 201  # loopback still may
    finally:
        settings.disable_remote_lapi_registration = False


def test_forwarded_headers_ignored_from_untrusted_proxies(lapi):
    settings = lapi.state.settings
    proxies = settings.trusted_proxies
    settings.trusted_proxies = []
    try:
        token = lapi.machine_token()
        response = lapi.as_machine(token, "DELETE", "/v1/alerts", params={"value": "x"}, headers=from_ip("203.0.113.9"))
        assert response.status_code == 200  # seen as 127.0.0.1, which is trusted
    finally:
        settings.trusted_proxies = proxies
