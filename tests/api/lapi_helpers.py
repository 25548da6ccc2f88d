"""Helpers for Local API tests: real databases, a real WSGI server, real HTTP.

Databases: SQLite in a temp dir; PostgreSQL (127.0.0.1:5432, user postgres)
and MariaDB/MySQL (127.0.0.1:3306, user root) get a uniquely named database
per use that is dropped afterwards. A backend whose server is unreachable is
skipped with the reason.

Only one LAPI app may be live per process at a time (the peewee models are
bound to one database), so the server fixtures are module-scoped and
parametrised modules run their backends one after the other.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from crowdsec_mp.api import admin
from crowdsec_mp.api.app import create_app
from crowdsec_mp.api.models import database_proxy
from crowdsec_mp.api.server import start_server

PG = {"host": os.environ.get("CSMP_PG_HOST", "127.0.0.1"), "port": 5432, "user": "postgres", "dbname": "test"}
MY = {"host": os.environ.get("CSMP_MYSQL_HOST", "127.0.0.1"), "port": 3306, "user": "root", "password": "", "database": "test"}

DEFAULT_PROFILES = """\
name: default_ip_remediation
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
  - type: ban
    duration: 4h
on_success: break
---
name: default_range_remediation
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Range"
decisions:
  - type: ban
    duration: 4h
on_success: break
"""

USER_AGENT = "crowdsec-test/v1.0.0"


@contextmanager
def database_config(backend: str, tmp_dir: Path):
    """A db_config mapping for `backend` on a fresh database, dropped after."""
    name = f"csmp_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        yield {"type": "sqlite", "db_path": str(tmp_dir / f"{name}.db")}
        return
    if backend == "postgresql":
        psycopg2 = pytest.importorskip("psycopg2")
        try:
            conn = psycopg2.connect(connect_timeout=3, **PG)
        except psycopg2.OperationalError as exc:
            pytest.skip(f"PostgreSQL unreachable at {PG['host']}:{PG['port']}: {exc}")
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
        try:
            yield {"type": "postgresql", "host": PG["host"], "port": PG["port"], "user": PG["user"], "db_name": name}
        finally:
            if hasattr(database_proxy.obj, "close_all"):
                database_proxy.obj.close_all()
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.close()
        return
    pymysql = pytest.importorskip("pymysql")
    try:
        conn = pymysql.connect(connect_timeout=3, autocommit=True, **MY)
    except pymysql.err.OperationalError as exc:
        pytest.skip(f"MySQL/MariaDB unreachable at {MY['host']}:{MY['port']}: {exc}")
    conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield {"type": "mysql", "host": MY["host"], "port": MY["port"], "user": MY["user"], "password": "", "db_name": name}
    finally:
        if hasattr(database_proxy.obj, "close_all"):
            database_proxy.obj.close_all()
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@dataclass
class Lapi:
    """A running LAPI and helpers to talk to it over HTTP."""

    url: str
    app: object
    server: object
    tmp_dir: Path

    @property
    def state(self):
        return self.app.extensions["crowdsec_mp"]

    def request(self, method, path, **kwargs):
        headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path.lstrip("/"), headers=headers, timeout=30, **kwargs)

    def machine_token(self, machine_id=None, password="s3cret-pass") -> str:
        machine_id = machine_id or f"m-{uuid.uuid4().hex[:8]}"
        admin.add_machine(machine_id, password)
        response = self.request("POST", "/v1/watchers/login", json={"machine_id": machine_id, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def bouncer_key(self, name=None) -> str:
        return admin.add_bouncer(name or f"b-{uuid.uuid4().hex[:8]}")

    def as_machine(self, token, method, path, **kwargs):
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.request(method, path, headers=headers, **kwargs)

    def as_bouncer(self, key, method, path, **kwargs):
        headers = {"X-Api-Key": key, **kwargs.pop("headers", {})}
        return self.request(method, path, headers=headers, **kwargs)


@contextmanager
def running_lapi(backend: str, tmp_dir: Path, *, profiles: str | None = DEFAULT_PROFILES, server_extra=None, clock=None, tls=None):
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with database_config(backend, tmp_dir) as db_config:
        server_section = {"listen_uri": "127.0.0.1:0", **(server_extra or {})}
        if profiles is not None:
            (tmp_dir / "profiles.yaml").write_text(profiles)
            server_section["profiles_path"] = str(tmp_dir / "profiles.yaml")
        db_config = dict(db_config, flush={"max_items": 5000, "max_age": "7d"})
        app = create_app({"api": {"server": server_section}, "db_config": db_config}, clock=clock)
        server = start_server(app, "127.0.0.1", 0, threads=4, tls=tls)
        try:
            yield Lapi(url=server.url, app=app, server=server, tmp_dir=tmp_dir)
        finally:
            server.stop()
            database_proxy.close()


def agent_alert(ip="192.0.2.7", *, scenario="crowdsecurity/ssh-bf", remediation=True, simulated=False,
                stop_at="2024-05-02T08:01:03.2Z", decisions=None, scope="Ip") -> dict:
    """An alert as a CrowdSec agent posts it (spec/alerts.md §2 example)."""
    alert = {
        "scenario": scenario,
        "scenario_hash": "5c1fe3",
        "scenario_version": "0.3",
        "message": f"Ip {ip} performed '{scenario}' (6 events over 3.2s) at 2024-05-02 08:01:03.2 +0000 UTC",
        "events_count": 6,
        "start_at": "2024-05-02T08:01:00Z",
        "stop_at": stop_at,
        "capacity": 5,
        "leakspeed": "10s",
        "simulated": simulated,
        "remediation": remediation,
        "kind": "crowdsec",
        "source": {"scope": scope, "value": ip, "ip": ip, "range": "192.0.2.0/24", "as_number": "64500",
                   "as_name": "EXAMPLE-AS", "cn": "FR", "latitude": 48.85, "longitude": 2.35},
        "events": [{"timestamp": "2024-05-02T08:01:00Z",
                    "meta": [{"key": "log_type", "value": "ssh_failed-auth"}, {"key": "service", "value": "ssh"},
                             {"key": "source_ip", "value": ip}, {"key": "target_user", "value": "root"}]}],
        "meta": [{"key": "target_user", "value": "[\"root\",\"admin\"]"}],
        "decisions": decisions,
        "labels": None,
    }
    return alert


def manual_alert(value, *, type_="ban", duration="4h", scope="Ip", origin="cscli", scenario=None, stop_at=None) -> dict:
    """An alert carrying one decision, as `cscli decisions add` posts it."""
    from datetime import datetime, timezone

    reason = scenario or f"manual '{type_}' from 'localhost'"
    stop = stop_at or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "scenario": reason, "scenario_hash": "", "scenario_version": "", "message": reason,
        "events_count": 1, "start_at": stop, "stop_at": stop, "capacity": 0, "leakspeed": "0",
        "simulated": False, "remediation": True, "kind": "cscli", "events": [],
        "source": {"scope": scope, "value": value, "ip": value},
        "decisions": [{"origin": origin, "type": type_, "scope": scope, "value": value,
                       "duration": duration, "scenario": reason}],
    }  # fmt: skip
