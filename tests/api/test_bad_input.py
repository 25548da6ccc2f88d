"""Bad requests get the right 4xx with a JSON body and change no rows (SQLite)."""

from __future__ import annotations

import gzip
import json
import time

import jwt
import pytest

from crowdsec_mp.api.models import ALL_MODELS
from tests.api.lapi_helpers import agent_alert, manual_alert

SQL = "' OR '1'='1\"; DROP TABLE decisions; --"


def row_counts():
    return {model.__name__: model.select().count() for model in ALL_MODELS}


@pytest.fixture(scope="module")
def bouncer(sqlite_lapi):
    return sqlite_lapi.bouncer_key()


@pytest.fixture(scope="module", autouse=True)
def some_data(sqlite_lapi, machine_token):
    response = sqlite_lapi.as_machine(machine_token, "POST", "/v1/alerts", json=[manual_alert("192.0.2.50"), manual_alert("192.0.2.0/28", scope="Range")])
    assert response.status_code == 201


def assert_json_error(response, status, message=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert message in body["message"]
    return body


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/v1/alerts", b'[{"scenario": tru', 400),
        ("/v1/alerts", b"\xff\xfe", 400),
        ("/v1/alerts", b'{"not": "a list"}', 422),
        ("/v1/alerts", b"[1, 2]", 422),
        ("/v1/alerts", json.dumps([dict(agent_alert(), events_count="six")]).encode(), 422),
        ("/v1/alerts", json.dumps([dict(agent_alert(), decisions=[{"type": "ban"}])]).encode(), 422),
        ("/v1/alerts", json.dumps([manual_alert("1.2.3.4", duration="forever")]).encode(), 422),
        ("/v1/usage-metrics", b"{", 400),
        ("/v1/usage-metrics", b'{"log_processors": [{"version": 1}]}', 422),
    ],
)
def test_bad_bodies_from_machine(sqlite_lapi, machine_token, path, body, status):
    before = row_counts()
    response = sqlite_lapi.as_machine(machine_token, "POST", path, data=body, headers={"Content-Type": "application/json"})
    assert_json_error(response, status)
    assert row_counts() == before


def test_validation_message_is_go_swagger_style(sqlite_lapi, machine_token):
    alert = agent_alert()
    del alert["scenario"], alert["source"]
    response = sqlite_lapi.as_machine(machine_token, "POST", "/v1/alerts", json=[alert])
    body = assert_json_error(response, 422)
    assert body["message"] == "validation failure list:\n0.scenario in body is required\n0.source in body is required"


def test_alert_with_only_invalid_ip_decisions_is_dropped(sqlite_lapi, machine_token):
    before = row_counts()
    response = sqlite_lapi.as_machine(machine_token, "POST", "/v1/alerts", json=[manual_alert("999.1.1.1")])
    assert (response.status_code, response.json()) == (201, [])
    assert row_counts() == before


@pytest.mark.parametrize("path", ["/v1/watchers", "/v1/watchers/login"])
def test_unauthenticated_routes_limit_bodies_to_2mib(sqlite_lapi, path):
    before = row_counts()
    body = json.dumps({"machine_id": "x" * (3 * 1024 * 1024), "password": "p"})
    assert_json_error(sqlite_lapi.request("POST", path, data=body), 413)
    assert row_counts() == before


def test_gzip_bodies_are_decompressed_and_limited(sqlite_lapi, machine_token):
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    ok = sqlite_lapi.as_machine(machine_token, "POST", "/v1/alerts", data=gzip.compress(json.dumps([manual_alert("192.0.2.77")]).encode()), headers=headers)
    assert ok.status_code == 201 and len(ok.json()) == 1
    before = row_counts()
    bomb = gzip.compress(b"[" + b" " * (51 * 1024 * 1024) + b"]")
    assert_json_error(sqlite_lapi.as_machine(machine_token, "POST", "/v1/alerts", data=bomb, headers=headers), 413)
    assert_json_error(sqlite_lapi.as_machine(machine_token, "POST", "/v1/alerts", data=b"not gzip", headers=headers), 400)
    assert row_counts() == before


@pytest.mark.parametrize(
    "method, path, params, message",
    [
        ("GET", "/v1/alerts", {"foo": "1"}, "filter parameter 'foo' is unknown (=1): invalid filter"),
        ("DELETE", "/v1/alerts", {"foo": "1"}, "filter parameter 'foo' is unknown"),
        ("DELETE", "/v1/decisions", {"scope": "ip"}, "'scope' doesn't exist: invalid filter"),
        ("GET", "/v1/alerts", {"ip": "1.2.3.400"}, "invalid ip address / range"),
        ("GET", "/v1/alerts", {"since": "yesterday"}, "invalid duration"),
        ("GET", "/v1/alerts", {"limit": "-1"}, "limit"),
        ("GET", "/v1/alerts", {"has_active_decision": "maybe"}, "boolean"),
        ("GET", "/v1/alerts", {"sort": "RANDOM"}, "sort"),
        ("DELETE", "/v1/decisions", {"range": "1.2.3.0/33"}, "invalid ip address / range"),
        ("DELETE", "/v1/decisions", {"ip": SQL}, "invalid ip address / range"),
        ("GET", "/v1/alerts/abc", {}, "alert_id must be valid integer"),
        ("GET", "/v1/alerts/1e3", {}, "alert_id must be valid integer"),
        ("DELETE", "/v1/alerts/-1", {}, "alert_id must be valid integer"),
        ("DELETE", "/v1/decisions/one", {}, "decision_id must be valid integer"),
    ],
)
def test_bad_parameters_from_machine(sqlite_lapi, machine_token, method, path, params, message):
    before = row_counts()
    assert_json_error(sqlite_lapi.as_machine(machine_token, method, path, params=params), 400, message)
    assert row_counts() == before


@pytest.mark.parametrize(
    "params",
    [{"ip": "1.2.3.400"}, {"range": "10.0.0.0/40"}, {"ip": "::zz"}, {"contains": "perhaps"}, {"limit": "ten"}, {"id_gt": "-5"}],
)
def test_bad_parameters_from_bouncer(sqlite_lapi, bouncer, params):
    for path in ("/v1/decisions", "/v1/decisions/stream"):
        assert_json_error(sqlite_lapi.as_bouncer(bouncer, "GET", path, params=params), 400)


#: Parameters that select rows: a nonsense value must select nothing.
SELECTING_DECISION_PARAMS = ["ip", "range", "scope", "scopes", "value", "type", "origins", "scenarios_containing"]
DECISION_PARAMS = SELECTING_DECISION_PARAMS + ["scenarios_not_containing", "simulated", "contains", "limit", "offset",
                                               "id_gt", "startup", "dedup"]  # fmt: skip
ALERT_PARAMS = ["scope", "value", "scenario", "ip", "range", "contains", "since", "until", "created_before",
                "decision_type", "origin", "include_capi", "has_active_decision", "kind", "simulated", "limit",
                "sort", "with_decisions"]  # fmt: skip
DELETE_DECISION_PARAMS = ["ip", "range", "contains", "scopes", "value", "type", "origin", "scenario", "uuid"]


def test_sql_metacharacters_in_every_string_parameter(sqlite_lapi, machine_token, bouncer):
    before = row_counts()
    for name in DECISION_PARAMS:
        for path in ("/v1/decisions", "/v1/decisions/stream"):
            response = sqlite_lapi.as_bouncer(bouncer, "GET", path, params={name: SQL})
            assert response.status_code in (200, 400), (name, response.text)
            if response.status_code == 200 and name in SELECTING_DECISION_PARAMS:
                payload = response.json()
                got = payload if path == "/v1/decisions" else payload["new"]
                assert got in (None, []), (name, got)  # matches nothing, returns nothing
    for name in ALERT_PARAMS:
        response = sqlite_lapi.as_machine(machine_token, "GET", "/v1/alerts", params={name: SQL})
        assert response.status_code in (200, 400), (name, response.text)
        response = sqlite_lapi.as_machine(machine_token, "DELETE", "/v1/alerts", params={name: SQL})
        assert response.status_code == 400 or response.json() == {"nbDeleted": "0"}, (name, response.text)
    for name in DELETE_DECISION_PARAMS:
        response = sqlite_lapi.as_machine(machine_token, "DELETE", "/v1/decisions", params={name: SQL})
        assert response.status_code == 400 or response.json() == {"nbDeleted": "0"}, (name, response.text)
    assert row_counts() == before
    assert sqlite_lapi.as_bouncer(bouncer, "GET", "/v1/decisions", params={"ip": "192.0.2.50"}).json()[0]["value"] == "192.0.2.50"


# -- authentication ---------------------------------------------------------------


def test_machine_routes_need_a_valid_jwt(sqlite_lapi, machine_token):
    secret = sqlite_lapi.state.jwt_secret
    machine_id = jwt.decode(machine_token, options={"verify_signature": False})["id"]
    now = int(time.time())
    cases = {
        None: "cookie token is empty",
        "not-a-jwt": "Not enough segments",
        jwt.encode({"id": machine_id, "exp": now - 10, "orig_iat": now - 3610}, secret, algorithm="HS256"): "Token is expired",
        jwt.encode({"id": machine_id, "exp": now + 600, "orig_iat": now}, b"x" * 64, algorithm="HS256"): "Signature verification failed",
        jwt.encode({"id": machine_id, "exp": now + 600}, None, algorithm="none"): "",
        jwt.encode({"id": "ghost", "exp": now + 600, "orig_iat": now}, secret, algorithm="HS256"): "machine not found",
        jwt.encode({"exp": now + 600}, secret, algorithm="HS256"): "missing id",
    }
    before = row_counts()
    for token, message in cases.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for method, path in (("POST", "/v1/alerts"), ("GET", "/v1/alerts"), ("DELETE", "/v1/decisions"), ("GET", "/v1/heartbeat")):
            response = sqlite_lapi.request(method, path, headers=headers, json=[manual_alert("192.0.2.99")])
            body = assert_json_error(response, 401, message)
            assert body["code"] == 401
    assert row_counts() == before


@pytest.mark.parametrize("key", [None, "", "wrong-key", SQL, "é" * 10])
def test_bouncer_routes_need_a_known_api_key(sqlite_lapi, key):
    headers = {"X-Api-Key": key} if key is not None else {}
    before = row_counts()
    for method in ("GET", "HEAD"):
        for path in ("/v1/decisions", "/v1/decisions/stream"):
            response = sqlite_lapi.request(method, path, headers={k: v.encode() for k, v in headers.items()})
            assert response.status_code == 403
            if method == "GET":
                assert response.json() == {"message": "access forbidden"}
    assert row_counts() == before


def test_bouncer_key_cannot_reach_machine_routes_and_vice_versa(sqlite_lapi, machine_token, bouncer):
    assert sqlite_lapi.as_bouncer(bouncer, "GET", "/v1/alerts").status_code == 401
    assert sqlite_lapi.as_machine(machine_token, "GET", "/v1/decisions").status_code == 403


def test_unknown_route_and_wrong_method_are_json(sqlite_lapi):
    assert_json_error(sqlite_lapi.request("GET", "/v1/nothing"), 404)
    assert_json_error(sqlite_lapi.request("PUT", "/v1/alerts"), 405)
    assert_json_error(sqlite_lapi.request("POST", "/v1/decisions/stream"), 405)
    assert sqlite_lapi.request("GET", "/health").json() == {"status": "up"}


def test_login_failures(sqlite_lapi):
    from crowdsec_mp.api import admin

    admin.add_machine("login-test", "right-password")
    login = lambda body, ua="crowdsec/v1.6.0": sqlite_lapi.request("POST", "/v1/watchers/login", json=body, headers={"User-Agent": ua})  # noqa: E731
    cases = [
        (login({"machine_id": "login-test", "password": "wrong"}), "incorrect Username or Password"),
        (login({"machine_id": "login-test", "password": "right-password"}, ua="curl"), "incorrect Username or Password"),
        (login({"machine_id": "nobody", "password": "x"}), "ent: machine not found"),
        (login({"machine_id": "login-test"}), "password in body is required"),
        (login({"machine_id": 5, "password": "x"}), "machine_id in body must be of type string"),
        (login({"machine_id": "login-test", "password": "right-password", "scenarios": "a/b"}), "scenarios"),
        (login(["not", "an", "object"]), "must be of type object"),
    ]
    for response, message in cases:
        assert assert_json_error(response, 401, message)["code"] == 401
    ok = login({"machine_id": "login-test", "password": "right-password"})
    assert ok.status_code == 200 and ok.json()["code"] == 200 and ok.json()["expire"].endswith("Z")


def test_register_then_validate_heartbeat_refresh_and_unregister(sqlite_lapi):
    from crowdsec_mp.api import admin

    credentials = {"machine_id": "reg-test", "password": "pw-pw-pw"}
    created = sqlite_lapi.request("POST", "/v1/watchers", json=credentials)
    assert (created.status_code, created.content) == (201, b"")
    assert_json_error(sqlite_lapi.request("POST", "/v1/watchers", json=credentials), 403, "user 'reg-test': user already exist")
    assert_json_error(sqlite_lapi.request("POST", "/v1/watchers", json={"machine_id": "r2"}), 422, "password in body is required")
    too_long = {"machine_id": "r4", "password": "é" * 40}  # 80 bytes: more than bcrypt uses
    assert_json_error(sqlite_lapi.request("POST", "/v1/watchers", json=too_long), 422, "at most 72 bytes")
    assert_json_error(sqlite_lapi.request("POST", "/v1/watchers/login", json=too_long), 401)
    assert_json_error(sqlite_lapi.request("POST", "/v1/watchers", json={**credentials, "machine_id": "r3", "registration_token": "short"}), 422)
    assert_json_error(sqlite_lapi.request("POST", "/v1/watchers/login", json=credentials), 401, "not validated")
    admin.validate_machine("reg-test")
    token = sqlite_lapi.request("POST", "/v1/watchers/login", json=credentials).json()["token"]
    beat = sqlite_lapi.as_machine(token, "GET", "/v1/heartbeat")
    assert (beat.status_code, beat.content) == (200, b"")
    assert [m for m in admin.list_machines() if m["machine_id"] == "reg-test"][0]["last_heartbeat"] is not None
    refreshed = sqlite_lapi.as_machine(token, "GET", "/v1/refresh_token")
    assert refreshed.status_code == 200 and refreshed.json()["token"]
    gone = sqlite_lapi.as_machine(token, "DELETE", "/v1/watchers/self")
    assert (gone.status_code, gone.content) == (204, b"")
    assert_json_error(sqlite_lapi.as_machine(token, "GET", "/v1/heartbeat"), 401, "machine not found")


def test_usage_metrics(sqlite_lapi, machine_token, bouncer):
    rc = {"type": "crowdsec-firewall-bouncer", "name": "fw", "version": "v0.0.31", "os": {"name": "debian", "version": "12"},
          "feature_flags": [], "utc_startup_timestamp": 1714636800, "last_pull": 1714640400,
          "metrics": [{"meta": {"window_size_seconds": 1800, "utc_now_timestamp": 1714640400},
                       "items": [{"name": "dropped", "value": 12, "unit": "packet", "labels": {"origin": "CAPI"}}]}]}  # fmt: skip
    ok = sqlite_lapi.as_bouncer(bouncer, "POST", "/v1/usage-metrics", json={"remediation_components": [rc]})
    assert (ok.status_code, ok.content) == (201, b"")
    assert_json_error(sqlite_lapi.as_bouncer(bouncer, "POST", "/v1/usage-metrics", json={"remediation_components": [rc, rc]}), 400, "more than one")
    assert_json_error(sqlite_lapi.as_bouncer(bouncer, "POST", "/v1/usage-metrics", json={"log_processors": [rc]}), 400)
    lp = dict(rc, metrics=[])
    assert sqlite_lapi.as_machine(machine_token, "POST", "/v1/usage-metrics", json={"log_processors": [lp]}).status_code == 201
    bad = dict(rc, metrics=[{"meta": {}, "items": [{"name": "x"}]}])
    assert_json_error(sqlite_lapi.as_bouncer(bouncer, "POST", "/v1/usage-metrics", json={"remediation_components": [bad]}), 422)
    assert sqlite_lapi.request("POST", "/v1/usage-metrics", json={}).status_code == 401
