"""`cscli-mp alerts` against a real LAPI (tests/cli/conftest.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from crowdsec_mp.cli.apiclient import LapiClient


def ago(seconds: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


START_AT = ago(30)


def agent_alert(ip: str, scenario: str = "crowdsecurity/ssh-bf", decisions=None) -> dict:
    """An alert as an agent posts it (alerts.md §1), with context and one event.

    Decisions last from stop_at, so the times are recent: its decision is active.
    """
    return {
        "scenario": scenario, "scenario_hash": "abc", "scenario_version": "0.3",
        "message": f"Ip {ip} performed '{scenario}'", "events_count": 6,
        "start_at": START_AT, "stop_at": ago(5),
        "capacity": 5, "leakspeed": "10s", "simulated": False, "remediation": True, "kind": "crowdsec",
        "source": {"scope": "Ip", "value": ip, "ip": ip, "cn": "FR", "as_number": "64500", "as_name": "EXAMPLE-AS"},
        "events": [{"timestamp": START_AT,
                    "meta": [{"key": "log_type", "value": "ssh_failed-auth"}]}],
        "meta": [{"key": "target_user", "value": json.dumps(["root", "admin"])}],
        "decisions": decisions if decisions is not None else [
            {"origin": "crowdsec", "type": "ban", "scope": "Ip", "value": ip, "duration": "4h", "scenario": scenario}
        ],
    }


def push(lapi, *alerts) -> list[int]:
    client = LapiClient(lapi.url, lapi.machine, lapi.password)
    return [int(i) for i in client.request("POST", "v1/alerts", json_body=list(alerts))]


def test_list_human_json_raw(cli, lapi):
    [alert_id] = push(lapi, agent_alert("192.0.2.20"))
    human = cli("-c", lapi.config_path, "alerts", "list", "-i", "192.0.2.20")
    assert human.code == 0, human.err
    lines = human.out.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "ID", "value", "reason", "country", "as", "decisions", "created_at", "kind"]
    assert [c.strip() for c in lines[2].split("|")] == [
        str(alert_id), "Ip:192.0.2.20", "crowdsecurity/ssh-bf", "FR", "64500 EXAMPLE-AS", "ban:1",
        START_AT, "crowdsec"]

    data = json.loads(cli("-c", lapi.config_path, "-o", "json", "alerts", "list", "-i", "192.0.2.20").out)
    assert [a["id"] for a in data] == [alert_id]

    raw = cli("-c", lapi.config_path, "-o", "raw", "alerts", "list", "-i", "192.0.2.20", "-m")
    rows = list(csv.reader(io.StringIO(raw.out)))
    assert rows[0] == ["id", "scope", "value", "reason", "country", "as", "decisions", "created_at", "kind", "machine"]
    assert rows[1] == [str(alert_id), "Ip", "192.0.2.20", "crowdsecurity/ssh-bf", "FR", "64500 EXAMPLE-AS", "ban:1",
                       START_AT, "crowdsec", lapi.machine]


def test_decisions_column_counts_types(cli, lapi):
    decisions = [
        {"origin": "crowdsec", "type": t, "scope": "Ip", "value": v, "duration": "1h", "scenario": "x/y"}
        for t, v in (("ban", "192.0.2.31"), ("ban", "192.0.2.32"), ("captcha", "192.0.2.33"))
    ]
    [alert_id] = push(lapi, agent_alert("192.0.2.31", scenario="x/multi", decisions=decisions))
    data = cli("-c", lapi.config_path, "alerts", "list", "-s", "x/multi")
    row = [c.strip() for c in data.out.splitlines()[2].split("|")]
    assert row[0] == str(alert_id)
    assert row[1] == "Ip (3 ips)"
    assert row[5] == "ban:2 captcha:1"


def test_empty_list(cli, lapi):
    assert cli("-c", lapi.config_path, "alerts", "list", "-s", "nobody/none").out == "No active alerts\n"
    assert cli("-c", lapi.config_path, "-o", "json", "alerts", "list", "-s", "nobody/none").out.strip() == "[]"


def test_inspect(cli, lapi):
    [alert_id] = push(lapi, agent_alert("192.0.2.21"))
    human = cli("-c", lapi.config_path, "alerts", "inspect", alert_id, "-d")
    assert human.code == 0, human.err
    assert f" - ID           : {alert_id}" in human.out
    assert " - Scope:Value  : Ip:192.0.2.21" in human.out
    assert " - Reason       : crowdsecurity/ssh-bf" in human.out
    assert " - Simulation   : false" in human.out
    # One context row per value of the JSON-encoded list.
    assert "target_user | root" in human.out and "target_user | admin" in human.out
    assert "Ip:192.0.2.21" in human.out.split(" - Decisions:")[1]
    assert "log_type | ssh_failed-auth" in human.out.split(" - Events  :")[1]
    without_details = cli("-c", lapi.config_path, "alerts", "inspect", alert_id)
    assert "Events  :" not in without_details.out

    as_json = json.loads(cli("-c", lapi.config_path, "-o", "json", "alerts", "inspect", alert_id).out)
    assert as_json["id"] == alert_id and as_json["source"]["ip"] == "192.0.2.21"
    as_yaml = yaml.safe_load(cli("-c", lapi.config_path, "-o", "raw", "alerts", "inspect", alert_id).out)
    assert as_yaml["scenario"] == "crowdsecurity/ssh-bf"


def test_inspect_unknown_and_bad_id(cli, lapi, down_config):
    unknown = cli("-c", lapi.config_path, "alerts", "inspect", "987654")
    assert unknown.code == 1
    assert "alert 987654 not found" in unknown.err
    bad = cli("-c", down_config, "alerts", "inspect", "abc")
    assert bad.code == 1
    assert "invalid alert ID 'abc'" in bad.err


def test_delete(cli, lapi):
    first, second = push(lapi, agent_alert("192.0.2.22"), agent_alert("192.0.2.23"))
    by_ip = cli("-c", lapi.config_path, "alerts", "delete", "-i", "192.0.2.22")
    assert by_ip.code == 0, by_ip.err
    assert "1 alert(s) deleted" in by_ip.err
    by_id = cli("-c", lapi.config_path, "alerts", "delete", "--id", second)
    assert by_id.code == 0, by_id.err
    assert "1 alert(s) deleted" in by_id.err
    for alert_id in (first, second):
        assert "not found" in cli("-c", lapi.config_path, "alerts", "inspect", alert_id).err


def test_delete_unknown_id_and_no_filter(cli, lapi):
    unknown = cli("-c", lapi.config_path, "alerts", "delete", "--id", "987654")
    assert unknown.code == 1
    assert "alert 987654 not found" in unknown.err
    nothing = cli("-c", lapi.config_path, "alerts", "delete")
    assert nothing.code == 1
    assert "at least one filter or --all" in nothing.err


@pytest.mark.parametrize("argv, message", [
    (["alerts", "list", "-i", "1.2.3.400"], "1.2.3.400 is not a valid ip"),
    (["alerts", "list", "-r", "bad/8"], "bad/8 is not a valid range"),
    (["alerts", "list", "--until", "5 days"], "invalid duration '5 days'"),
    (["alerts", "list", "-l", "-3"], "--limit must be >= 0"),
    (["alerts", "delete", "-i", "x"], "x is not a valid ip"),
    (["alerts", "flush", "--max-age", "forever"], "invalid duration 'forever'"),
    (["alerts", "flush", "--max-items", "0"], "--max-items must be a positive integer"),
])
def test_bad_input(cli, down_config, argv, message):
    result = cli("-c", down_config, *argv)
    assert result.code == 1
    assert message in result.err
    assert "cannot reach" not in result.err


@pytest.mark.parametrize("argv", [["alerts", "list"], ["alerts", "inspect", "1"], ["alerts", "delete", "--all"]])
def test_api_down(cli, down_config, argv):
    result = cli("-c", down_config, *argv)
    assert result.code == 1
    assert "cannot reach the Local API at http://127.0.0.1:" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_flush_keeps_alerts_with_active_decisions(cli, lapi):
    expired = [{"origin": "crowdsec", "type": "ban", "scope": "Ip", "value": "192.0.2.40", "duration": "-1h",
                "scenario": "x/old"}]
    [old_id] = push(lapi, agent_alert("192.0.2.40", scenario="x/old", decisions=expired))
    [active_id] = push(lapi, agent_alert("192.0.2.41"))
    push(lapi, agent_alert("192.0.2.42"), agent_alert("192.0.2.43"))
    # max-items 1: every alert but the newest is beyond the limit; only the active one survives.
    result = cli("-c", lapi.config_path, "alerts", "flush", "--max-items", "1")
    assert result.code == 0, result.err
    assert "alert(s) flushed" in result.err
    assert "not found" in cli("-c", lapi.config_path, "alerts", "inspect", old_id).err
    assert cli("-c", lapi.config_path, "alerts", "inspect", active_id).code == 0
    active = json.loads(cli("-c", lapi.config_path, "-o", "json", "alerts", "inspect", active_id).out)
    assert not active["decisions"][0]["duration"].startswith("-")
