"""The Local API's fast paths answer exactly as the slow paths they replace.

* fastpath.BouncerFastPath (bouncer lookups and stream pulls without Flask)
  against the same app's Flask-only WSGI callable, byte for byte over real
  HTTP, with the same bouncer state and the same clock;
* the short-lived key -> bouncer rows cache of the lookups against a fresh
  read, and its time limit for bouncers deleted by another process;
* PostgreSQL's one-message last_pull write against the peewee transaction.
"""

from __future__ import annotations

import http.client
import time
import uuid
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowdsec_mp.api import admin, auth, queries, wire
from crowdsec_mp.api.models import Bouncer, database_proxy
from crowdsec_mp.api.server import start_server
from tests.api.lapi_helpers import running_lapi

US = 1_000_000
T0 = 1_714_640_000  # seconds; the app clock of these tests starts here


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def servers(request, tmp_path_factory):
    """(lapi served with the fast path, server of the same app without it, clock)."""
    clock = [float(T0)]
    with running_lapi(request.param, tmp_path_factory.mktemp(f"fast-{request.param}"), clock=lambda: clock[0]) as lapi:
        slow = start_server(lapi.app.wsgi_app.flask_wsgi, "127.0.0.1", 0, threads=2)
        try:
            _seed_decisions()
            yield lapi, slow, clock
        finally:
            slow.stop()


def _seed_decisions():
    """Decisions of every kind the bouncer routes filter on, created at
    several instants around T0, some expired, some repeated (dedup)."""
    specs = [
        ("Ip", "192.0.2.1", "ban", "crowdsec", "crowdsecurity/ssh-bf", False),
        ("Ip", "192.0.2.1", "ban", "cscli", "manual 'ban' from 'localhost'", False),
        ("Ip", "192.0.2.2", "captcha", "crowdsec", "crowdsecurity/http-probing", False),
        ("Range", "192.0.2.0/24", "ban", "cscli", "manual range", False),
        ("Ip", "2001:db8::7", "ban", "crowdsec", "crowdsecurity/ssh-bf", False),
        ("Range", "2001:db8::/32", "ban", "CAPI", "crowdsecurity/http-bf", False),
        ("Ip", "198.51.100.9", "ban", "crowdsec", "crowdsecurity/ssh-slow-bf", True),
        ("Country", "FR", "ban", "cscli", "manual country", False),
        ("username", "root", "ban", "cscli", "manual user", False),
        ("Ip", "203.0.113.5", "ban", "lists", "lists:firehol", False),
    ]
    for batch, offset_s in enumerate((-3600, -30, 0, 40, 200)):
        created = (T0 + offset_s) * US
        rows = []
        for index, (scope, value, type_, origin, scenario, simulated) in enumerate(specs):
            if (index + batch) % 3 == 0:
                continue
            lifetime_s = (60, 300, 1800, 4 * 3600)[(index * 7 + batch) % 4]
            rows.append(dict(
                queries.decision_columns(value) if scope in ("Ip", "Range") else queries.decision_columns(""),
                uuid=f"seed-{batch}-{index}", until=created + lifetime_s * US, scenario=scenario, type=type_,
                scope=scope, value=value, origin=origin, simulated=simulated,
            ))  # fmt: skip
        fields = {"scenario": "seed", "message": "seed", "start_at": created, "stop_at": created, "kind": "cscli",
                  "source_scope": "Ip", "source_value": "192.0.2.1", "remediation": True}  # fmt: skip
        queries.insert_alerts([queries.NewAlert(fields=fields, events=[], meta=[], decisions=rows)], None, created)


def _fetch(server, method, path, headers) -> tuple:
    """(status, headers without Date, body) exactly as sent by the server."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        sent_headers = [(name, value) for name, value in response.getheaders() if name.lower() != "date"]
        return response.status, response.reason, sent_headers, body
    finally:
        conn.close()


def _bouncer_state(name: str) -> dict:
    row = Bouncer.select().where(Bouncer.name == name).dicts().get()
    return {k: row[k] for k in ("ip_address", "revoked", "last_pull", "type", "version", "auth_type", "auto_created", "updated_at")}


#: Query parameters of the bouncer routes with values that select something,
#: and a few that Flask must refuse (bad ip, bad int, NUL) or that are unknown.
GOOD_PARAMS = {
    "ip": ["192.0.2.1", "192.0.2.7", "2001:db8::7", "::ffff:192.0.2.1"],
    "range": ["192.0.2.0/24", "2001:db8::/16", "10.0.0.0/8"],
    "contains": ["true", "false"],
    "scope": ["ip", "range", "country"],
    "scopes": ["ip,range", "Ip", "username", "country,ip"],
    "value": ["192.0.2.1", "FR", "root"],
    "type": ["ban", "captcha"],
    "origins": ["crowdsec", "cscli,CAPI", "lists"],
    "scenarios_containing": ["ssh", "http,MANUAL"],
    "scenarios_not_containing": ["ssh", "range"],
    "simulated": ["true", "false", ""],
    "limit": ["1", "3", "0"],
    "offset": ["0", "2"],
    "id_gt": ["0", "5", "20"],
    "startup": ["true", "true", "false", "1"],
    "dedup": ["false", "false", "true"],
    "unknown": ["x"],
}
BAD_PARAMS = [("ip", "not-an-ip"), ("limit", "-1"), ("id_gt", "x"), ("contains", "maybe"), ("value", "a\x00b"), ("type", "é")]
PARAMS = [(name, value) for name, values in GOOD_PARAMS.items() for value in values]
USER_AGENTS = ["crowdsec-test/v1.0.0", "crowdsec-firewall-bouncer/v0.0.31", "curl", "a/b/c", ""]
PATHS = ["/v1/decisions"] * 3 + ["/v1/decisions/stream"] * 3 + ["/v1/decisions/", "/v1/decisions/stream/", "/v1/decisions/stream?"]

request_shapes = st.fixed_dictionaries({
    "path": st.sampled_from(PATHS),
    "method": st.sampled_from(["GET", "GET", "GET", "HEAD"]),
    "params": st.lists(st.sampled_from(PARAMS * 8 + BAD_PARAMS), max_size=3),
    "key": st.sampled_from(["own", "own", "own", "none", "unknown"]),
    "user_agent": st.sampled_from(USER_AGENTS),
    # The bouncer row before the request: as this User-Agent from this IP
    # left it (no write due), first contact, or another User-Agent.
    "row": st.sampled_from(["settled", "settled", "settled", "fresh", "other-agent"]),
    "last_pull_s": st.sampled_from([None, -7200, -60, -1, 0, 30, 100]),
    "advance_s": st.integers(min_value=0, max_value=90),
    "chunk_rows": st.sampled_from([None, 2]),
})  # fmt: skip


class FastSlowPair:
    """Two bouncers in the same state, one asked through the fast path, the
    other through Flask only; counts the requests the fast path answered."""

    def __init__(self, servers, monkeypatch):
        self.lapi, self.slow, self.clock = servers
        self.monkeypatch = monkeypatch
        self.names = {"fast": f"fast-{uuid.uuid4().hex[:6]}", "slow": f"slow-{uuid.uuid4().hex[:6]}"}
        self.keys = {side: admin.add_bouncer(name) for side, name in self.names.items()}
        self.ids = {side: _bouncer_id(name) for side, name in self.names.items()}
        self.answered_fast = []
        fast_path = self.lapi.app.wsgi_app

        def counting_body(*args):
            body = type(fast_path)._body(fast_path, *args)
            self.answered_fast.append(args[0])
            return body

        monkeypatch.setattr(fast_path, "_body", counting_body)

    def compare(self, method, path, *, key="own", user_agent=USER_AGENTS[0], row="settled", last_pull_s=None,
                advance_s=0, chunk_rows=None):  # fmt: skip
        """Same request to both sides after putting both bouncers in the same state."""
        self.clock[0] += advance_s
        now = int(self.clock[0] * US)
        self.monkeypatch.setattr(wire, "JSON_CHUNK_ROWS", chunk_rows or DEFAULT_CHUNK_ROWS)
        ip, type_, version = {
            "settled": ("127.0.0.1", *(auth.split_user_agent(user_agent) or (user_agent, "N/A"))),
            "fresh": ("", "", ""),
            "other-agent": ("127.0.0.1", "old-agent", "v0"),
        }[row]
        last_pull = None if last_pull_s is None else now + last_pull_s * US
        for side in ("fast", "slow"):
            queries.update_bouncer(self.ids[side], now, ip_address=ip, type=type_, version=version, last_pull=last_pull)
        answers = {}
        for side, server in (("fast", self.lapi.server), ("slow", self.slow)):
            headers = {"User-Agent": user_agent}
            if key == "own":
                headers["X-Api-Key"] = self.keys[side]
            elif key == "unknown":
                headers["X-Api-Key"] = "not-a-known-key"
            answers[side] = _fetch(server, method, path, headers)
        assert answers["fast"] == answers["slow"], path
        assert _bouncer_state(self.names["fast"]) == _bouncer_state(self.names["slow"]), path
        return answers["fast"]


DEFAULT_CHUNK_ROWS = wire.JSON_CHUNK_ROWS

STREAM_QUERIES = ["", "startup=true", "startup=false", "dedup=false", "startup=true&dedup=false", "scopes=country",
                  "scopes=ip,range,country,username&startup=true", "simulated=true&startup=true", "origins=crowdsec",
                  "scenarios_containing=ssh&startup=true", "range=192.0.2.0/24&contains=false&startup=true"]  # fmt: skip
LOOKUP_QUERIES = ["", "ip=192.0.2.1", "range=192.0.2.0/24", "range=192.0.2.0/24&contains=false", "ip=2001:db8::7",
                  "scope=country", "value=FR", "type=captcha", "limit=1&offset=1", "id_gt=5",
                  "simulated=true&ip=198.51.100.9", "origins=cscli,CAPI&scenarios_not_containing=range"]  # fmt: skip


@pytest.mark.parametrize("last_pull_s", [None, -60, -3000])
def test_fast_path_answers_the_usual_requests_as_flask(servers, monkeypatch, last_pull_s):
    pair = FastSlowPair(servers, monkeypatch)
    cases = [("/v1/decisions/stream", q) for q in STREAM_QUERIES] + [("/v1/decisions", q) for q in LOOKUP_QUERIES]
    for index, (path, query) in enumerate(cases):
        status, *_, body = pair.compare(
            "GET", f"{path}?{query}" if query else path, last_pull_s=last_pull_s, advance_s=37,
            chunk_rows=2 if index % 2 else None,
        )  # fmt: skip
        assert status == 200, body
    assert len(pair.answered_fast) == len(cases)  # none was left to Flask


def test_fast_path_answers_byte_for_byte_as_flask(servers, monkeypatch):
    pair = FastSlowPair(servers, monkeypatch)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(shape=request_shapes)
    def check(shape):
        path = shape["path"]
        if shape["params"]:
            path += ("&" if "?" in path else "?") + urlencode(shape["params"])
        pair.compare(
            shape["method"], path, key=shape["key"], user_agent=shape["user_agent"], row=shape["row"],
            last_pull_s=shape["last_pull_s"], advance_s=shape["advance_s"], chunk_rows=shape["chunk_rows"],
        )  # fmt: skip

    check()
    # The comparison means something only if the fast path answered often.
    assert pair.answered_fast.count("/v1/decisions") >= 5 and pair.answered_fast.count("/v1/decisions/stream") >= 5


def _bouncer_id(name: str) -> int:
    return Bouncer.select(Bouncer.id).where(Bouncer.name == name).scalar()


def _get(lapi, key, path="/v1/decisions"):
    return lapi.as_bouncer(key, "GET", path, params={"ip": "192.0.2.1"}).status_code


def test_bouncer_deleted_by_another_process_is_refused_within_the_cache_ttl(servers, monkeypatch):
    lapi, _, _ = servers
    monkeypatch.setattr(queries, "BOUNCER_KEY_CACHE_TTL_S", 1.5)
    name = f"gone-{uuid.uuid4().hex[:6]}"
    key = admin.add_bouncer(name)
    assert _get(lapi, key) == 200  # first contact: the API writes the IP and User-Agent
    assert _get(lapi, key) == 200  # the key's rows are cached now
    # Deleted behind the API's back, as `cscli-mp bouncers delete` does from its own process.
    Bouncer.delete().where(Bouncer.name == name).execute()
    assert _get(lapi, key, "/v1/decisions/stream") == 403  # pulls always read the row
    assert _get(lapi, key) == 200  # lookups: the documented delay (BOUNCER_KEY_CACHE_TTL_S)
    time.sleep(queries.BOUNCER_KEY_CACHE_TTL_S)
    assert _get(lapi, key) == 403


def test_bouncer_changes_made_in_process_apply_at_once(servers):
    lapi, _, _ = servers
    name = f"admin-{uuid.uuid4().hex[:6]}"
    key = admin.add_bouncer(name)
    assert _get(lapi, key) == 200
    admin.delete_bouncer(name)
    assert _get(lapi, key) == 403
    # An unknown key is never cached: adding it elsewhere works at once.
    other = f"late-{uuid.uuid4().hex[:6]}"
    late_key = f"late-key-{uuid.uuid4().hex}"
    assert _get(lapi, late_key) == 403
    assert auth.hash_api_key(late_key) not in queries._bouncer_key_cache
    Bouncer.create(name=other, api_key_hash=auth.hash_api_key(late_key), created_at=1, updated_at=1)
    assert _get(lapi, late_key) == 200


bouncer_operations = st.lists(
    st.tuples(
        st.sampled_from(["create", "create-auto", "ip", "agent", "last-pull", "delete", "read"]),
        st.sampled_from([0, 1]),  # which key
        st.sampled_from([0, 1, 2]),  # which name
    ),
    min_size=1,
    max_size=12,
)


def test_cached_key_rows_equal_a_fresh_read_after_any_in_process_write(servers):
    lapi, _, _ = servers
    prefix = f"cache-{uuid.uuid4().hex[:6]}"
    keys = [f"{prefix}-key-a", f"{prefix}-key-b"]
    hashes = [auth.hash_api_key(key) for key in keys]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(operations=bouncer_operations)
    def check(operations):
        for key_index, name_index in {(k, n) for _, k, n in operations}:
            queries.delete_bouncer(f"{prefix}-{key_index}-{name_index}")
        for step, (operation, key_index, name_index) in enumerate(operations):
            name, now = f"{prefix}-{key_index}-{name_index}", (T0 + step) * US
            row_id = _bouncer_id(name)
            if operation.startswith("create"):
                queries.create_bouncer(name, hashes[key_index], now, auto_created=operation == "create-auto")
            elif operation == "ip" and row_id:
                queries.update_bouncer(row_id, now, ip_address=f"192.0.2.{step}")
            elif operation == "agent" and row_id:
                queries.update_bouncer(row_id, now, type="fw", version=str(step))
            elif operation == "last-pull" and row_id:
                queries.set_bouncer_last_pull(row_id, now)
            elif operation == "delete":
                queries.delete_bouncer(name)
            for key_hash in hashes:
                assert queries.recently_seen_bouncers_with_key(key_hash) == queries.bouncers_with_key(key_hash)

    check()


def test_postgresql_one_message_last_pull_equals_the_transaction(servers):
    lapi, _, _ = servers
    database = database_proxy.obj
    if lapi.state.settings.db.backend != "postgresql":
        pytest.skip("the one-message form is PostgreSQL only")
    names = [f"pull-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for name in names:
        admin.add_bouncer(name)
    now = T0 * US + 123
    with database.connection_context():
        queries.set_bouncer_last_pull(_bouncer_id(names[0]), now)  # one message, autocommit
        with database.atomic():
            assert database.in_transaction()
            queries.set_bouncer_last_pull(_bouncer_id(names[1]), now)  # peewee UPDATE in the transaction
        # SET LOCAL ended with its implicit transaction: the session keeps the server's setting.
        assert database.execute_sql("SHOW synchronous_commit").fetchone()[0] == "on"
    states = [_bouncer_state(name) for name in names]
    assert states[0] == states[1] and states[0]["last_pull"] == now and states[0]["updated_at"] == now


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    chosen=st.lists(st.sampled_from(PARAMS), max_size=3),
    data=st.data(),
    now_shift_us=st.sampled_from([-2 * US, -1, 0, 1, 3 * US, 4000 * US]),
    since_shift_us=st.sampled_from([-2 * US - 1, -2 * US, -2 * US + 1, -1, 0, 0, 0, 1, 90 * US]),
)
def test_stream_delta_in_one_statement_equals_two_statements(servers, chosen, data, now_shift_us, since_shift_us):
    """Instants are drawn next to the stored `until`/`created_at` values,
    where the window bounds (and the 2 s grace of deleted rows) decide."""
    from crowdsec_mp.api import params
    from crowdsec_mp.api.errors import APIError
    from crowdsec_mp.api.models import Decision

    try:
        filt = params.decision_filter(dict(chosen), stream=True)
    except APIError:
        return  # refused before any query
    instants = sorted({t for row in Decision.select(Decision.until, Decision.created_at).tuples() for t in row})
    now = data.draw(st.sampled_from(instants)) + now_shift_us
    since = min(now, data.draw(st.sampled_from(instants)) + since_shift_us)
    together = queries._stream_parts_together(filt, now, since)
    assert together == queries._stream_parts_apart(filt, False, now, since)
