"""Load benchmark of the Local API (not a test: prints figures, asserts nothing).

    python benchmarks/lapi_load.py [--decisions 100000] [--bouncers 200] [--seconds 10] [--db sqlite|postgresql]

Seeds a database (SQLite file in a temp dir, or with --db postgresql a
database created on 127.0.0.1:5432 as user postgres and dropped at the end)
with N active decisions and B bouncer keys, starts
`python -m crowdsec_mp.api` as its own process, then from this process
(keep-alive HTTP/1.1 connections, one per client thread) measures:
  * the startup stream (`/v1/decisions/stream?startup=true`, all decisions),
  * incremental stream pulls rotating over the B bouncer keys,
  * `GET /v1/decisions?ip=` lookups of random addresses (with --threads
    clients, then with --wide-threads, 50 by default, as CrowdSec's figures),
  * concurrent alert pushes (each alert gets a profile decision),
and reports req/s, p50/p99 latency, failures and the server RSS.
Targets (issue "Local API"): pulls >= 1,000 req/s, lookups >= 1,500 req/s with
p99 < 50 ms, startup stream <= 0.5 s, zero failed pushes, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crowdsec_mp.api import admin, queries  # noqa: E402
from crowdsec_mp.api.settings import ApiSettings  # noqa: E402

PROFILES = """\
name: default_ip_remediation
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
  - type: ban
    duration: 4h
on_success: break
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(settings: ApiSettings, decisions: int, bouncers: int) -> list[str]:
    admin.connect(settings)
    admin.add_machine("bench", "bench-password")
    now = int(time.time() * 1_000_000)
    stop_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    batch = []
    for index in range(decisions):
        value = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        batch.append(value)
    alerts = []
    per_alert = 1000
    for start in range(0, len(batch), per_alert):
        values = batch[start : start + per_alert]
        rows = [
            dict(queries.decision_columns(v), uuid=f"seed-{start + i}", until=now + 4 * 3600 * 1_000_000,
                 scenario="bench/import", type="ban", scope="Ip", value=v, origin="cscli-import", simulated=False)
            for i, v in enumerate(values)
        ]  # fmt: skip
        fields = {"scenario": "bench/import", "message": "import", "start_at": now, "stop_at": now, "kind": "cscli",
                  "source_scope": "Ip", "source_value": values[0], "remediation": True}  # fmt: skip
        alerts.append(queries.NewAlert(fields=fields, events=[], meta=[], decisions=rows))
    queries.insert_alerts(alerts, None, now)
    del stop_at
    keys = [admin.add_bouncer(f"bouncer-{i}") for i in range(bouncers)]
    # All but the first three bouncers have already pulled (from loopback),
    # so that the load phase measures incremental pulls, not snapshots.
    from crowdsec_mp.api.models import Bouncer

    Bouncer.update(last_pull=now, ip_address="127.0.0.1", type="lapi-bench", version="1.0").where(
        ~Bouncer.name.in_(["bouncer-0", "bouncer-1", "bouncer-2"])
    ).execute()
    return keys


class Client:
    """One keep-alive connection; returns (status, seconds, body)."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, headers, body=None):
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return 0, time.perf_counter() - started, b""
        return status, time.perf_counter() - started, data


def cpu_seconds(process) -> float:
    """User + system CPU time of the server process so far."""
    times = process.cpu_times()
    return times.user + times.system


def run_load(name, port, threads, seconds, make_request, process=None):
    """Each thread loops make_request(client, thread_index, i) for `seconds`.

    With `process` (the server), also prints the server's CPU time per
    request: on a shared machine it varies much less than req/s.
    """
    cpu_before = cpu_seconds(process) if process else 0.0
    latencies, failures = [], [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(thread_index):
        client = Client(port)
        local, bad, i = [], 0, 0
        while time.perf_counter() < deadline:
            status, elapsed, _ = make_request(client, thread_index, i)
            i += 1
            local.append(elapsed)
            if not 200 <= status < 300:
                bad += 1
        with lock:
            latencies.extend(local)
            failures[0] += bad

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0  # noqa: E731
    cpu = f"  server cpu {1000 * (cpu_seconds(process) - cpu_before) / max(1, len(latencies)):.2f} ms/req" if process else ""
    print(
        f"{name:<22} {len(latencies) / elapsed:9.0f} req/s  p50 {p(0.50):7.2f} ms  p99 {p(0.99):7.2f} ms  "
        f"requests {len(latencies):7d}  failed {failures[0]}  ({threads} threads){cpu}"
    )
    return len(latencies) / elapsed, p(0.99), failures[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--bouncers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--server-threads", type=int, default=8)
    parser.add_argument("--wide-threads", type=int, default=50, help="client threads of the second lookup run")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (SQLite database, config)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="lapi-bench-"))
    port = free_port()
    (workdir / "profiles.yaml").write_text(PROFILES)
    if args.db == "postgresql":
        pg_name = f"lapi_bench_{port}"
        pg_admin("CREATE DATABASE " + pg_name, args.pg_host)
        db_config = {"type": "postgresql", "host": args.pg_host, "port": 5432, "user": "postgres", "db_name": pg_name}
    else:
        db_config = {"type": "sqlite", "db_path": str(workdir / "crowdsec.db")}
    try:
        return run(args, workdir, port, db_config)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        if args.db == "postgresql":
            from crowdsec_mp.api.models import database_proxy

            if database_proxy.obj is not None:
                database_proxy.obj.close_all()
            pg_admin(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)", args.pg_host)


def pg_admin(statement: str, host: str):
    import psycopg2

    conn = psycopg2.connect(host=host, port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        conn.cursor().execute(statement)
    finally:
        conn.close()


def run(args, workdir: Path, port: int, db_config: dict) -> int:
    config = {
        "db_config": db_config,
        "api": {"server": {"listen_uri": f"127.0.0.1:{port}", "profiles_path": str(workdir / "profiles.yaml")}},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    settings = ApiSettings.from_mapping(config)
    t0 = time.perf_counter()
    keys = seed(settings, args.decisions, args.bouncers)
    if db_config["type"] == "postgresql":
        # Planner statistics, as autovacuum would have gathered them for a
        # table this size (it is off on the test server): without them the
        # ip lookup picks a wrong index and reads every single address.
        from crowdsec_mp.api.models import database_proxy

        database_proxy.execute_sql("ANALYZE")
    where = db_config.get("db_path") or f"postgresql database {db_config.get('db_name')}"
    print(f"seeded {args.decisions} decisions, {args.bouncers} bouncers in {time.perf_counter() - t0:.1f} s ({where})")

    server = subprocess.Popen(
        [sys.executable, "-m", "crowdsec_mp.api", "-c", str(workdir / "config.yaml"), "--threads", str(args.server_threads)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                if Client(port).request("GET", "/health", {})[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        process = psutil.Process(server.pid)
        ua = {"User-Agent": "lapi-bench/1.0"}

        # Startup stream: the full snapshot, first pull of a fresh bouncer (best of 3 keys).
        timings, cpu_used = [], []
        for key in keys[:3]:
            cpu_before = cpu_seconds(process)
            status, elapsed, body = Client(port).request("GET", "/v1/decisions/stream?startup=true", {**ua, "X-Api-Key": key})
            cpu_used.append(cpu_seconds(process) - cpu_before)
            timings.append(elapsed)
            count = len(json.loads(body)["new"]) if status == 200 else -1
        print(
            f"startup stream         {min(timings):.3f} s best, {max(timings):.3f} s worst for {count} decisions "
            f"({len(body) / 2**20:.1f} MiB; server cpu {min(cpu_used):.3f} s best)"
        )

        # Every bouncer has pulled once; now incremental pulls rotating over the keys.
        run_load(
            "incremental pulls", port, args.threads, args.seconds,
            lambda c, t, i: c.request("GET", "/v1/decisions/stream", {**ua, "X-Api-Key": keys[(t * 7919 + i) % len(keys)]}),
            process,
        )  # fmt: skip
        rng = random.Random(42)
        lookup_key = {**ua, "X-Api-Key": keys[0]}
        run_load(
            "ip lookups", port, args.threads, args.seconds,
            lambda c, t, i: c.request("GET", f"/v1/decisions?ip=10.{rng.randrange(2)}.{rng.randrange(256)}.{rng.randrange(256)}", lookup_key),
            process,
        )  # fmt: skip
        run_load(
            "ip lookups (wide)", port, args.wide_threads, args.seconds,
            lambda c, t, i: c.request("GET", f"/v1/decisions?ip=10.{rng.randrange(2)}.{rng.randrange(256)}.{rng.randrange(256)}", lookup_key),
            process,
        )  # fmt: skip

        status, _, body = Client(port).request(
            "POST", "/v1/watchers/login", {**ua, "Content-Type": "application/json"},
            json.dumps({"machine_id": "bench", "password": "bench-password"}),
        )  # fmt: skip
        token = json.loads(body)["token"]
        push_headers = {**ua, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def push(client, thread_index, i):
            stop_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            ip = f"172.16.{thread_index}.{i % 256}"
            alert = {
                "scenario": "bench/push", "scenario_hash": "", "scenario_version": "", "message": "bench",
                "events_count": 1, "start_at": stop_at, "stop_at": stop_at, "capacity": 5, "leakspeed": "10s",
                "simulated": False, "remediation": True, "events": [], "source": {"scope": "Ip", "value": ip},
            }  # fmt: skip
            return client.request("POST", "/v1/alerts", push_headers, json.dumps([alert] * 10))

        _, _, failed = run_load("alert pushes (x10)", port, args.threads, args.seconds, push, process)
        rss = process.memory_info().rss / 2**20
        print(f"server RSS             {rss:.0f} MiB   failed pushes: {failed}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
