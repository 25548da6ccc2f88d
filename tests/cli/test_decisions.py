"""`cscli-mp decisions` against a real LAPI (tests/cli/conftest.py)."""

from __future__ import annotations

import csv
import io
import json

import pytest


def decisions_for(cli, lapi, *filters):
    result = cli("-c", lapi.config_path, "-o", "json", "decisions", "list", *filters)
    assert result.code == 0, result.err
    return [d for alert in json.loads(result.out) for d in alert["decisions"] or []]


def test_add_then_list_human(cli, lapi):
    added = cli("-c", lapi.config_path, "decisions", "add", "-i", "192.0.2.7", "-d", "1h")
    assert added.code == 0, added.err
    assert "Decision successfully added" in added.err
    assert added.out == ""

    listed = cli("-c", lapi.config_path, "decisions", "list", "-i", "192.0.2.7")
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    header = [cell.strip() for cell in lines[0].split("|")]
    assert header == ["ID", "Source", "Scope:Value", "Reason", "Action", "Country", "AS", "Events",
                      "expiration", "Alert ID"]
    row = [cell.strip() for cell in lines[2].split("|")]
    assert row[1:5] == ["cscli", "Ip:192.0.2.7", f"manual 'ban' from '{lapi.machine}'", "ban"]
    assert row[8].startswith(("59m", "1h0m")), row[8]


def test_list_json_and_raw(cli, lapi):
    added = cli("-c", lapi.config_path, "decisions", "add", "-i", "192.0.2.8", "-t", "captcha", "-R", "test reason")
    assert added.code == 0, added.err
    data = json.loads(cli("-c", lapi.config_path, "-o", "json", "decisions", "list", "-i", "192.0.2.8").out)
    assert len(data) == 1
    alert = data[0]
    assert alert["source"]["value"] == "192.0.2.8"
    assert alert["kind"] == "cscli"
    [decision] = alert["decisions"]
    assert (decision["origin"], decision["type"], decision["scenario"]) == ("cscli", "captcha", "test reason")

    raw = cli("-c", lapi.config_path, "-o", "raw", "decisions", "list", "-i", "192.0.2.8", "-m")
    rows = list(csv.reader(io.StringIO(raw.out)))
    assert rows[0] == ["id", "source", "ip", "reason", "action", "country", "as", "events_count", "expiration",
                       "simulated", "alert_id", "machine"]
    assert rows[1][1:5] == ["cscli", "Ip:192.0.2.8", "test reason", "captcha"]
    assert rows[1][9:] == ["false", str(alert["id"]), lapi.machine]


def test_empty_list(cli, lapi):
    human = cli("-c", lapi.config_path, "decisions", "list", "-i", "198.51.100.200")
    assert human.code == 0
    assert human.out == "No active decisions\n"
    as_json = cli("-c", lapi.config_path, "-o", "json", "decisions", "list", "-i", "198.51.100.200")
    assert as_json.out.strip() == "[]"


def test_duplicates_are_collapsed(cli, lapi):
    for _ in range(2):
        assert cli("-c", lapi.config_path, "decisions", "add", "-i", "192.0.2.9").code == 0
    listed = cli("-c", lapi.config_path, "decisions", "list", "-i", "192.0.2.9")
    assert listed.out.count("Ip:192.0.2.9") == 1
    assert "1 duplicated entries skipped" in listed.out
    assert len(decisions_for(cli, lapi, "-i", "192.0.2.9")) == 2


def test_range_and_custom_scope(cli, lapi):
    assert cli("-c", lapi.config_path, "decisions", "add", "-r", "203.0.113.0/24").code == 0
    assert cli("-c", lapi.config_path, "decisions", "add", "--scope", "username", "-v", "mallory").code == 0
    # An IP inside the range matches the Range decision.
    assert [d["value"] for d in decisions_for(cli, lapi, "-i", "203.0.113.9")] == ["203.0.113.0/24"]
    assert [d["scope"] for d in decisions_for(cli, lapi, "--scope", "username")] == ["username"]


def test_delete_by_ip_and_by_id(cli, lapi):
    assert cli("-c", lapi.config_path, "decisions", "add", "-i", "192.0.2.10").code == 0
    deleted = cli("-c", lapi.config_path, "decisions", "delete", "-i", "192.0.2.10")
    assert deleted.code == 0, deleted.err
    assert "1 decision(s) deleted" in deleted.err
    assert cli("-c", lapi.config_path, "decisions", "list", "-i", "192.0.2.10").out == "No active decisions\n"

    assert cli("-c", lapi.config_path, "decisions", "add", "-i", "192.0.2.11").code == 0
    [decision] = decisions_for(cli, lapi, "-i", "192.0.2.11")
    by_id = cli("-c", lapi.config_path, "decisions", "delete", "--id", decision["id"])
    assert by_id.code == 0, by_id.err
    assert "1 decision(s) deleted" in by_id.err
    assert decisions_for(cli, lapi, "-i", "192.0.2.11") == []


def test_delete_unknown_id(cli, lapi):
    result = cli("-c", lapi.config_path, "decisions", "delete", "--id", "999999")
    assert result.code == 1
    assert "999999" in result.err and "API error" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_delete_needs_a_filter(cli, lapi):
    result = cli("-c", lapi.config_path, "decisions", "delete")
    assert result.code == 1
    assert "at least one filter or --all" in result.err


@pytest.mark.parametrize("argv, message", [
    (["decisions", "add", "-i", "1.2.3"], "1.2.3 is not a valid ip"),
    (["decisions", "add", "-r", "1.2.3.0/33"], "1.2.3.0/33 is not a valid range"),
    (["decisions", "add", "-i", "1.2.3.4", "-d", "4 hours"], "invalid duration '4 hours'"),
    (["decisions", "add", "--scope", "ip", "-v", "nope"], "nope is not a valid ip"),
    (["decisions", "add"], "--ip, --range or --value"),
    (["decisions", "list", "-i", "300.1.1.1"], "300.1.1.1 is not a valid ip"),
    (["decisions", "list", "-r", "10.0.0.1"], "10.0.0.1 is not a valid range"),
    (["decisions", "list", "--since", "yesterday"], "invalid duration 'yesterday'"),
    (["decisions", "list", "-l", "-1"], "--limit must be >= 0"),
    (["decisions", "delete", "-i", "abc"], "abc is not a valid ip"),
    (["decisions", "delete", "--id", "x1"], "invalid decision ID 'x1'"),
])
def test_bad_input_is_rejected_before_any_request(cli, down_config, argv, message):
    # The API is down: reaching it would print "cannot reach", not the validation error.
    result = cli("-c", down_config, *argv)
    assert result.code == 1
    assert message in result.err
    assert "cannot reach" not in result.err


@pytest.mark.parametrize("argv", [
    ["decisions", "list"],
    ["decisions", "add", "-i", "192.0.2.1"],
    ["decisions", "delete", "--all"],
])
def test_api_down(cli, down_config, argv):
    result = cli("-c", down_config, *argv)
    assert result.code == 1
    assert "cannot reach the Local API at http://127.0.0.1:" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert result.out == ""


def test_wrong_password(cli, lapi, tmp_path):
    config = tmp_path / "config.yaml"
    credentials = tmp_path / "creds.yaml"
    config.write_text(lapi.config_path.read_text().replace("./local_api_credentials.yaml", str(credentials)))
    credentials.write_text(f"url: {lapi.url}\nlogin: {lapi.machine}\npassword: wrong\n")
    (tmp_path / "data").mkdir()
    result = cli("-c", config, "decisions", "list")
    assert result.code == 1
    assert "API error: incorrect Username or Password" in result.err


def test_missing_credentials_field(cli, lapi, tmp_path):
    config = tmp_path / "config.yaml"
    credentials = tmp_path / "creds.yaml"
    config.write_text(lapi.config_path.read_text().replace("./local_api_credentials.yaml", str(credentials)))
    credentials.write_text(f"url: {lapi.url}\nlogin: {lapi.machine}\n")
    result = cli("-c", config, "decisions", "list")
    assert result.code == 1
    assert str(credentials) in result.err and "'password'" in result.err


def test_import_values_json_csv(cli, lapi, tmp_path):
    values = tmp_path / "ips.txt"
    values.write_text("198.51.100.1\n198.51.100.2\n\n")
    result = cli("-c", lapi.config_path, "decisions", "import", "-i", values, "--duration", "2h")
    assert result.code == 0, result.err
    assert "Imported 2 decisions" in result.err

    as_json = tmp_path / "ips.json"
    as_json.write_text(json.dumps([{"value": "198.51.100.3", "type": "captcha"}]))
    assert cli("-c", lapi.config_path, "decisions", "import", "-i", as_json).code == 0

    as_csv = tmp_path / "ips.csv"
    as_csv.write_text("value,reason\n198.51.100.4,from csv\n")
    assert cli("-c", lapi.config_path, "decisions", "import", "-i", as_csv).code == 0

    found = {d["value"]: d for d in decisions_for(cli, lapi, "--origin", "cscli-import")}
    assert set(found) >= {"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"}
    assert found["198.51.100.3"]["type"] == "captcha"
    assert found["198.51.100.4"]["scenario"] == "from csv"
    assert found["198.51.100.1"]["duration"].startswith(("1h59m", "2h0m"))


def test_import_batches(cli, lapi, tmp_path):
    values = tmp_path / "batch.txt"
    values.write_text("".join(f"198.51.100.{i}\n" for i in range(50, 55)))
    assert cli("-c", lapi.config_path, "decisions", "import", "-i", values, "--batch", "2").code == 0
    alerts = json.loads(cli("-c", lapi.config_path, "-o", "json", "decisions", "list", "-r", "198.51.100.48/29",
                            "--contained").out)
    assert sorted(len(a["decisions"]) for a in alerts) == [1, 2, 2]


def test_import_bad_value(cli, lapi, tmp_path):
    values = tmp_path / "bad.txt"
    values.write_text("198.51.100.5\nnot-an-ip\n")
    result = cli("-c", lapi.config_path, "decisions", "import", "-i", values)
    assert result.code == 1
    assert "invalid ip address 'not-an-ip'" in result.err
    # Nothing was sent: the valid line before the bad one is not imported either.
    assert decisions_for(cli, lapi, "-i", "198.51.100.5") == []


def test_import_unknown_format(cli, lapi, tmp_path):
    values = tmp_path / "ips.dat"
    values.write_text("198.51.100.6\n")
    result = cli("-c", lapi.config_path, "decisions", "import", "-i", values)
    assert result.code == 1
    assert "--format" in result.err


def test_delete_range_contained(cli, lapi):
    for ip in ("192.0.2.130", "192.0.2.131"):
        assert cli("-c", lapi.config_path, "decisions", "add", "-i", ip).code == 0
    # Without --contained the range filter matches decisions *containing* the /28: none here.
    plain = cli("-c", lapi.config_path, "decisions", "delete", "-r", "192.0.2.128/28")
    assert "0 decision(s) deleted" in plain.err
    contained = cli("-c", lapi.config_path, "decisions", "delete", "-r", "192.0.2.128/28", "--contained")
    assert contained.code == 0, contained.err
    assert "2 decision(s) deleted" in contained.err


def test_simulated_decisions(cli, lapi):
    from crowdsec_mp.cli.apiclient import LapiClient
    from crowdsec_mp.cli.decisions import manual_alert

    alert = manual_alert(scope="Ip", value="192.0.2.140", duration="1h", type_="ban", reason="x/simulated")
    alert["simulated"] = True
    LapiClient(lapi.url, lapi.machine, lapi.password).request("POST", "v1/alerts", json_body=[alert])
    listed = cli("-c", lapi.config_path, "decisions", "list", "-i", "192.0.2.140")
    row = [c.strip() for c in listed.out.splitlines()[2].split("|")]
    assert row[4] == "(simul)ban"
    hidden = cli("-c", lapi.config_path, "decisions", "list", "-i", "192.0.2.140", "--no-simu")
    assert hidden.out == "No active decisions\n"


def test_type_filter(cli, lapi):
    assert cli("-c", lapi.config_path, "decisions", "add", "-i", "192.0.2.150", "-t", "throttle").code == 0
    assert [d["type"] for d in decisions_for(cli, lapi, "-t", "throttle")] == ["throttle"]


def test_list_all_and_limit(cli, lapi):
    for ip in ("192.0.2.160", "192.0.2.161"):
        assert cli("-c", lapi.config_path, "decisions", "add", "-i", ip).code == 0
    everything = json.loads(cli("-c", lapi.config_path, "-o", "json", "decisions", "list", "-a").out)
    values = {d["value"] for alert in everything for d in alert["decisions"]}
    assert {"192.0.2.160", "192.0.2.161"} <= values
    one = json.loads(cli("-c", lapi.config_path, "-o", "json", "decisions", "list", "-l", "1").out)
    assert len(one) == 1
