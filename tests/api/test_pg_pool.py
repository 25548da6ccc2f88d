"""The PostgreSQL connection pool: no liveness round trip for a connection
used moments ago, a ping (and replacement) for one idle longer, and a stream
pull that survives its asynchronous-commit last_pull write."""

from __future__ import annotations

import psycopg2
import pytest

from crowdsec_mp.api import db as db_module
from crowdsec_mp.api.models import database_proxy
from tests.api.lapi_helpers import PG, running_lapi


@pytest.fixture(scope="module")
def pg_lapi(tmp_path_factory):
    with running_lapi("postgresql", tmp_path_factory.mktemp("pgpool")) as lapi:
        yield lapi


def backend_pid_and_last_query(database):
    """(pid, last statement) of the pool connection checked out by `database`."""
    database.connect(reuse_if_open=True)
    try:
        pid = database.connection().get_backend_pid()
        with psycopg2.connect(**PG) as observer:
            cursor = observer.cursor()
            cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,))
            return pid, cursor.fetchone()[0]
    finally:
        database.close()


def test_recently_used_connection_is_reused_without_a_ping(pg_lapi):
    database = database_proxy.obj
    assert isinstance(database, db_module.PostgresPool)
    database.connect(reuse_if_open=True)
    database.execute_sql("SELECT 42 AS marker")
    database.close()
    _, last_query = backend_pid_and_last_query(database)
    assert last_query == "SELECT 42 AS marker"


def test_connection_idle_past_the_window_is_pinged(pg_lapi, monkeypatch):
    database = database_proxy.obj
    database.connect(reuse_if_open=True)
    database.execute_sql("SELECT 43 AS marker")
    database.close()
    monkeypatch.setattr(db_module, "PG_PING_AFTER_IDLE_S", 0.0)
    _, last_query = backend_pid_and_last_query(database)
    assert last_query == "SELECT 1"


def test_connection_killed_while_idle_is_replaced(pg_lapi, monkeypatch):
    database = database_proxy.obj
    database.connect(reuse_if_open=True)
    killed = database.connection().get_backend_pid()
    database.close()
    with psycopg2.connect(**PG) as observer:
        observer.cursor().execute("SELECT pg_terminate_backend(%s)", (killed,))
    monkeypatch.setattr(db_module, "PG_PING_AFTER_IDLE_S", 0.0)
    key = pg_lapi.bouncer_key()
    assert pg_lapi.as_bouncer(key, "GET", "/v1/decisions", params={"ip": "192.0.2.1"}).status_code == 200
    pid, _ = backend_pid_and_last_query(database)
    assert pid != killed


def test_stream_pull_records_last_pull(pg_lapi):
    from crowdsec_mp.api import admin

    key = pg_lapi.bouncer_key("pg-pool-puller")
    assert pg_lapi.as_bouncer(key, "GET", "/v1/decisions/stream").json() == {"new": [], "deleted": []}
    [row] = [b for b in admin.list_bouncers() if b["name"] == "pg-pool-puller"]
    assert row["last_pull"] is not None
