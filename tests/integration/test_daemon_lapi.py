"""Daemon -> LAPI over HTTP with real processes: alerts queued on disk while the LAPI is down
survive a restart and are pushed once the daemon runs with its own LAPI (api child)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
import yaml

from tests.integration.daemon_env import REPO, daemon_env, make_config, run_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def attack_log(path, ip="45.13.7.9", count=12):
    # sshd invalid-user lines, one second apart, a minute ago (decisions last 4 h from the
    # alert's stop_at, which comes from the log time in replay).
    start = datetime.now(timezone.utc) - timedelta(seconds=60)
    lines = []
    for i in range(count):
        stamp = (start + timedelta(seconds=i)).strftime("%b %d %H:%M:%S")
        lines.append(f"{stamp} web01 sshd[{1000 + i}]: Invalid user admin{i} from {ip} port {40000 + i}")
    path.write_text("\n".join(lines) + "\n")


def test_alerts_survive_lapi_outage_and_reach_the_lapi(tmp_path):
    port = free_port()
    metrics_port = free_port()
    config = make_config(tmp_path, workers=1, shards=1, api=True, extra={
        "prometheus": {"enabled": True, "listen_addr": "127.0.0.1", "listen_port": metrics_port},
        "api": {"server": {"enable": True, "listen_uri": f"127.0.0.1:{port}",
                           "profiles_path": str(REPO / "conf.d" / "profiles.yaml")}},
        "db_config": {"type": "sqlite", "db_path": str(tmp_path / "crowdsec.db")},
    })
    conf = config.parent
    (conf / "local_api_credentials.yaml").write_text(
        yaml.safe_dump({"url": f"http://127.0.0.1:{port}/", "login": "agent", "password": "secret-pw"}))
    from crowdsec_mp.api import admin
    from crowdsec_mp.config import load_config

    admin.connect(load_config(config))
    admin.add_machine("agent", "secret-pw")
    bouncer_key = admin.add_bouncer("fw")

    log = tmp_path / "auth.log"
    attack_log(log)
    # 1. LAPI down: the replay ends normally, alerts stay in the on-disk queue.
    done = run_daemon(["-c", str(config), "-dsn", f"file://{log}", "-type", "syslog", "-no-api"])
    assert done.returncode == 0, done.stderr
    queue = tmp_path / "state" / "output-queue"
    queued = [json.loads((queue / name).read_text()) for name in sorted(os.listdir(queue))]
    assert queued and all(alert["source"]["value"] == "45.13.7.9" for batch in queued for alert in batch)

    # 2. Live daemon with its own LAPI: the queue is pushed, the bouncer sees the ban.
    (conf / "acquis.yaml").write_text(yaml.safe_dump({"filenames": [str(tmp_path / "live.log")],
                                                      "labels": {"type": "syslog"}}))
    (tmp_path / "live.log").write_text("")
    daemon = subprocess.Popen([sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config)],
                              env=daemon_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        decisions = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/v1/decisions",
                                      headers={"X-Api-Key": bouncer_key}, timeout=2)
                if answer.status_code == 200 and answer.json():
                    decisions = answer.json()
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert decisions, "no decision reached the LAPI"
        assert {d["value"] for d in decisions} == {"45.13.7.9"}
        # 3. Live detection: lines appended to the tailed file become a ban too.
        attack_log(tmp_path / "more.log", ip="91.200.12.4")
        with open(tmp_path / "live.log", "a") as handle:
            handle.write((tmp_path / "more.log").read_text())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = requests.get(f"http://127.0.0.1:{port}/v1/decisions",
                                  headers={"X-Api-Key": bouncer_key}, timeout=2)
            if "91.200.12.4" in {d["value"] for d in answer.json() or []}:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("live lines did not produce a decision")
        # 4. The Prometheus endpoint, as `cscli-mp metrics` reads it (children report by heartbeat).
        from crowdsec_mp.cli.metrics import aggregate
        from prometheus_client.parser import text_string_to_metric_families

        live_log = str(tmp_path / "live.log")
        deadline = time.monotonic() + 15
        while True:
            text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
            samples = [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]
            table = aggregate(samples)
            acquisition = table["acquisition"].get(live_log, {})
            # Pours are counted from batch acks, overflows from shard heartbeats (may lag).
            overflowed = table["scenarios"].get("crowdsec-mp/ssh-bf", {}).get("overflow")
            if (acquisition.get("pour") and overflowed) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert acquisition["reads"] == 12 and acquisition["parsed"] == 12
        assert acquisition["pour"] >= 12
        assert table["scenarios"]["crowdsec-mp/ssh-bf"]["overflow"] >= 1
        deadline = time.monotonic() + 20
        while os.listdir(queue) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert os.listdir(queue) == []
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
