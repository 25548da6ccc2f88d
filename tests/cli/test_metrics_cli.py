"""`cscli-mp metrics`: a real Prometheus endpoint (prometheus_client's server,
CrowdSec's metric names) and, marked e2e, the real daemon's endpoint."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    """A Prometheus endpoint with the metric families cscli-mp reads."""
    registry = CollectorRegistry()
    lines = Counter("cs_lineread_total", "", ["source", "type"], registry=registry)
    parsed = Counter("cs_parser_hits_ok_total", "", ["source", "type"], registry=registry)
    unparsed = Counter("cs_parser_hits_ko_total", "", ["source", "type"], registry=registry)
    node_hits = Counter("cs_node_hits_total", "", ["source", "type", "name"], registry=registry)
    node_ok = Counter("cs_node_hits_ok_total", "", ["source", "type", "name"], registry=registry)
    poured = Counter("cs_bucket_poured_total", "", ["name"], registry=registry)
    overflowed = Counter("cs_bucket_overflowed_total", "", ["name"], registry=registry)
    buckets = Gauge("cs_buckets", "", ["name"], registry=registry)
    routes = Counter("cs_lapi_route_requests_total", "", ["route", "method"], registry=registry)
    lines.labels("file:/var/log/auth.log", "syslog").inc(1234)
    parsed.labels("file:/var/log/auth.log", "syslog").inc(1200)
    unparsed.labels("file:/var/log/auth.log", "syslog").inc(34)
    lines.labels("file:/var/log/nginx.log", "nginx").inc(5)
    node_hits.labels("file:/var/log/auth.log", "syslog", "crowdsecurity/sshd-logs").inc(1200)
    node_ok.labels("file:/var/log/auth.log", "syslog", "crowdsecurity/sshd-logs").inc(80)
    poured.labels("crowdsecurity/ssh-bf").inc(80)
    overflowed.labels("crowdsecurity/ssh-bf").inc(3)
    buckets.labels("crowdsecurity/ssh-bf").set(2)
    routes.labels("/v1/decisions/stream", "GET").inc(2500000)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def table_rows(text: str, title: str) -> list[list[str]]:
    """Rows (header excluded) of the table printed under `title:`."""
    block = text.split(f"{title}:\n", 1)[1].split("\n\n", 1)[0]
    lines = [l for l in block.splitlines() if l.strip()]
    return [[c.strip() for c in line.split("|")] for line in lines[2:] if "|" in line]


def test_human_tables(cli, endpoint):
    result = cli("metrics", "-u", endpoint)
    assert result.code == 0, result.err
    assert table_rows(result.out, "Acquisition Metrics") == [
        ["file:/var/log/auth.log", "1.23k", "1.20k", "34", "-"],
        ["file:/var/log/nginx.log", "5", "-", "-", "-"],
    ]
    assert table_rows(result.out, "Parser Metrics") == [["crowdsecurity/sshd-logs", "1.20k", "80", "-"]]
    assert table_rows(result.out, "Scenario Metrics") == [["crowdsecurity/ssh-bf", "2", "3", "-", "80", "-"]]
    assert table_rows(result.out, "Local API Metrics") == [["/v1/decisions/stream", "GET", "2.50M"]]


def test_no_unit_and_sections(cli, endpoint):
    result = cli("metrics", "-u", endpoint, "--no-unit", "show", "acquisition")
    assert result.code == 0, result.err
    assert table_rows(result.out, "Acquisition Metrics")[0][1:4] == ["1234", "1200", "34"]
    assert "Scenario Metrics" not in result.out
    shown = cli("metrics", "show", "scenarios", "lapi", "-u", endpoint)
    assert "Scenario Metrics" in shown.out and "Local API Metrics" in shown.out
    assert "Acquisition Metrics" not in shown.out


def test_json_and_raw(cli, endpoint):
    data = json.loads(cli("-o", "json", "metrics", "-u", endpoint).out)
    assert data["acquisition"]["file:/var/log/auth.log"] == {"reads": 1234, "parsed": 1200, "unparsed": 34}
    assert data["scenarios"]["crowdsecurity/ssh-bf"] == {"curr_count": 2, "overflow": 3, "pour": 80}
    assert data["lapi"] == {"/v1/decisions/stream": {"GET": 2500000}}
    raw = yaml.safe_load(cli("-o", "raw", "metrics", "show", "parsers", "-u", endpoint).out)
    assert raw == {"parsers": {"crowdsecurity/sshd-logs": {"hits": 1200, "parsed": 80}}}


def test_unknown_section(cli, endpoint):
    result = cli("metrics", "show", "nope", "-u", endpoint)
    assert result.code == 1 and "unknown metrics section 'nope'" in result.err


def test_list(cli):
    result = cli("metrics", "list")
    assert result.code == 0
    assert {"acquisition", "parsers", "scenarios", "lapi"} <= {row[0] for row in table_rows("x:\n" + result.out, "x")}


def test_daemon_not_reachable(cli, down_config):
    # The URL comes from prometheus.listen_addr/listen_port of the config.
    port = yaml.safe_load(down_config.read_text())["prometheus"]["listen_port"]
    result = cli("-c", down_config, "metrics")
    assert result.code == 1
    assert f"cannot reach the crowdsec-mp daemon's metrics at http://127.0.0.1:{port}/metrics" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_prometheus_disabled(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("prometheus:\n  enabled: false\n")
    result = cli("-c", config, "metrics")
    assert result.code == 1 and "prometheus is disabled" in result.err


def test_not_prometheus(cli, lapi):
    result = cli("metrics", "-u", lapi.url + "v1/nothing-here")
    assert result.code == 1 and "answered HTTP 404" in result.err


# -- the real daemon ------------------------------------------------------------------


def ssh_attack(ip="45.13.7.9", count=8) -> str:
    """`count` sshd invalid-user lines a minute ago, then one line no parser accepts."""
    start = datetime.now(timezone.utc) - timedelta(seconds=60)
    lines = [f"{(start + timedelta(seconds=i)).strftime('%b %d %H:%M:%S')} web01 sshd[{1000 + i}]: "
             f"Invalid user admin{i} from {ip} port {40000 + i}" for i in range(count)]
    return "\n".join(lines) + "\nnot a syslog line at all\n"


@pytest.mark.e2e
@pytest.mark.timeout(150)
def test_real_daemon_metrics(cli, tmp_path):
    from pathlib import Path

    repo = Path(REPO)
    conf = tmp_path / "conf"
    for stage_dir in sorted((repo / "hub" / "parsers").iterdir()):
        (conf / "parsers" / stage_dir.name).mkdir(parents=True, exist_ok=True)
        for item in sorted(stage_dir.glob("*/*.yaml")):
            (conf / "parsers" / stage_dir.name / item.name).write_text(item.read_text())
    (conf / "scenarios").mkdir(parents=True)
    for item in sorted((repo / "hub" / "scenarios").glob("*/*.yaml")):
        (conf / "scenarios" / item.name).write_text(item.read_text())
    log = tmp_path / "auth.log"
    log.write_text("")  # tailed from its end: lines are appended once the daemon runs
    (conf / "acquis.yaml").write_text(yaml.safe_dump({"filenames": [str(log)], "labels": {"type": "syslog"}}))
    port = free_port()
    config = conf / "config.yaml"
    config.write_text(yaml.safe_dump({
        "config_paths": {"config_dir": "./", "data_dir": str(repo / "hub" / "data"),
                         "pattern_dir": str(repo / "conf.d" / "patterns"), "simulation_path": "./simulation.yaml"},
        "crowdsec_service": {"state_dir": str(tmp_path / "state"), "parser_workers": 1, "bucket_shards": 1,
                             "acquisition_path": "./acquis.yaml", "acquisition_dir": "./acquis.d"},
        "api": {"client": {"credentials_path": "./creds.yaml"}, "server": {"enable": False}},
        "prometheus": {"enabled": True, "listen_addr": "127.0.0.1", "listen_port": port},
    }))
    (conf / "creds.yaml").write_text(f"url: http://127.0.0.1:{free_port()}/\nlogin: a\npassword: b\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    daemon = subprocess.Popen([sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config), "-no-api"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while cli("-c", config, "-o", "json", "metrics").code != 0:
            assert time.monotonic() < deadline, "the daemon's metrics endpoint never answered"
            time.sleep(0.5)
        totals, overflows = {}, 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not totals.get("reads"):
                # Appended again when the tailer had not opened the file yet: counts go by batches of 9.
                with open(log, "a") as handle:
                    handle.write(ssh_attack())
            time.sleep(1)
            data = json.loads(cli("-c", config, "-o", "json", "metrics").out)
            totals = {key: sum(v.get(key, 0) for v in data["acquisition"].values())
                      for key in ("reads", "parsed", "unparsed")}
            overflows = sum(v.get("overflow", 0) for v in data["scenarios"].values())
            if totals["reads"] and totals["parsed"] + totals["unparsed"] == totals["reads"] and overflows:
                break
        assert totals["reads"] and totals["reads"] % 9 == 0, totals
        assert totals["parsed"] == totals["reads"] // 9 * 8
        assert totals["unparsed"] == totals["reads"] // 9
        assert overflows > 0, data
        human = cli("-c", config, "metrics")
        assert "Acquisition Metrics" in human.out and "Scenario Metrics" in human.out
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
