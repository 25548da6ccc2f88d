"""`cscli-mp machines` (direct DB); credentials written are checked by logging in."""

from __future__ import annotations

import csv
import io
import json
import re

import yaml

from crowdsec_mp.cli.apiclient import ApiError, LapiClient, load_credentials


def machines(cli, lapi) -> dict:
    return {m["machineId"]: m for m in json.loads(cli("-c", lapi.config_path, "-o", "json", "machines", "list").out)}


def test_add_with_password_writes_credentials(cli, lapi, tmp_path):
    target = tmp_path / "creds.yaml"
    result = cli("-c", lapi.config_path, "machines", "add", "agent1", "--password", "s3cret-pass",
                 "-f", target, "-u", lapi.url)
    assert result.code == 0, result.err
    assert "Machine 'agent1' successfully added to the local API." in result.err
    assert f"API credentials written to '{target}'." in result.err
    assert load_credentials(target) == {"url": lapi.url, "login": "agent1", "password": "s3cret-pass"}
    client = LapiClient(lapi.url, "agent1", "s3cret-pass")
    client.login()
    assert client.token
    assert machines(cli, lapi)["agent1"]["isValidated"] is True


def test_add_auto_generates_name_and_password(cli, lapi):
    result = cli("-c", lapi.config_path, "machines", "add", "--auto", "-f", "-", "-u", lapi.url)
    assert result.code == 0, result.err
    credentials = yaml.safe_load(result.out)
    assert re.fullmatch(r"[0-9a-f]{32}[A-Za-z0-9]{16}", credentials["login"])
    assert len(credentials["password"]) >= 32
    LapiClient(credentials["url"], credentials["login"], credentials["password"]).login()


def test_add_refuses_existing_file_and_machine(cli, lapi, tmp_path):
    target = tmp_path / "creds.yaml"
    target.write_text("keep me")
    refused = cli("-c", lapi.config_path, "machines", "add", "agent2", "-p", "pw", "-f", target)
    assert refused.code == 1
    assert "already exists" in refused.err and "--force" in refused.err
    assert target.read_text() == "keep me"
    assert "agent2" not in machines(cli, lapi)

    assert cli("-c", lapi.config_path, "machines", "add", "agent2", "-p", "pw", "-f", "-").code == 0
    duplicate = cli("-c", lapi.config_path, "machines", "add", "agent2", "-p", "pw2", "-f", "-")
    assert duplicate.code == 1 and "'agent2' already exists" in duplicate.err
    forced = cli("-c", lapi.config_path, "machines", "add", "agent2", "-p", "pw2", "-f", target, "--force",
                 "-u", lapi.url)
    assert forced.code == 0, forced.err
    LapiClient(lapi.url, "agent2", "pw2").login()


def test_add_needs_name_and_password(cli, lapi):
    no_name = cli("-c", lapi.config_path, "machines", "add", "-p", "x")
    assert no_name.code == 1 and "--auto" in no_name.err
    no_password = cli("-c", lapi.config_path, "machines", "add", "someone")
    assert no_password.code == 1 and "--password" in no_password.err


def test_list_human_and_raw(cli, lapi):
    human = cli("-c", lapi.config_path, "machines", "list")
    assert human.code == 0, human.err
    lines = human.out.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "Name", "IP Address", "Last Update", "Status", "Version", "OS", "Auth Type", "Last Heartbeat"]
    [row] = [[c.strip() for c in l.split("|")] for l in lines[2:] if l.split("|")[0].strip() == lapi.machine]
    assert row[3] == "\u2714\ufe0f" and row[6] == "password"
    raw = list(csv.reader(io.StringIO(cli("-c", lapi.config_path, "-o", "raw", "machines", "list").out)))
    assert raw[0][0] == "machine_id"
    assert any(r[0] == lapi.machine and r[3] == "validated" for r in raw[1:])


def test_registered_machine_validate_and_delete(cli, lapi):
    # `lapi register` creates an unvalidated machine over HTTP.
    LapiClient(lapi.url, "pending1", "pending-password").register()
    listed = machines(cli, lapi)["pending1"]
    assert "isValidated" not in listed
    try:
        LapiClient(lapi.url, "pending1", "pending-password").login()
        raise AssertionError("an unvalidated machine must not log in")
    except ApiError as exc:
        assert "not validated" in str(exc)

    validated = cli("-c", lapi.config_path, "machines", "validate", "pending1")
    assert validated.code == 0, validated.err
    assert "machine 'pending1' validated successfully" in validated.err
    LapiClient(lapi.url, "pending1", "pending-password").login()

    inspected = json.loads(cli("-c", lapi.config_path, "-o", "json", "machines", "inspect", "pending1").out)
    assert inspected["isValidated"] is True and inspected["ipAddress"] == "127.0.0.1"

    deleted = cli("-c", lapi.config_path, "machines", "delete", "pending1")
    assert deleted.code == 0 and "machine 'pending1' deleted successfully" in deleted.err
    assert "pending1" not in machines(cli, lapi)


def test_unknown_machine(cli, lapi):
    for argv in (["machines", "validate", "ghost"], ["machines", "delete", "ghost"], ["machines", "inspect", "ghost"]):
        result = cli("-c", lapi.config_path, *argv)
        assert result.code == 1, argv
        assert "machine 'ghost' does not exist" in result.err
    assert cli("-c", lapi.config_path, "machines", "delete", "ghost", "--ignore-missing").code == 0


def test_prune_unvalidated(cli, lapi):
    LapiClient(lapi.url, "pending2", "pending-password").register()
    dry = cli("-c", lapi.config_path, "machines", "prune", "--not-validated-only")
    assert dry.code == 0 and "pending2" in dry.out and "--force" in dry.err
    assert "pending2" in machines(cli, lapi)
    done = cli("-c", lapi.config_path, "machines", "prune", "--not-validated-only", "--force")
    assert done.code == 0, done.err
    assert "pending2" not in machines(cli, lapi)
    assert lapi.machine in machines(cli, lapi)


def test_prune_bad_duration(cli, lapi):
    result = cli("-c", lapi.config_path, "machines", "prune", "-d", "soon")
    assert result.code == 1 and "invalid duration 'soon'" in result.err


def test_add_defaults_to_configured_credentials_file_and_url(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "db_config:\n  type: sqlite\n  db_path: ./crowdsec.db\n"
        "api:\n  client:\n    credentials_path: ./creds/agent.yaml\n  server:\n    listen_uri: 127.0.0.1:8099\n"
    )
    (tmp_path / "creds").mkdir()
    result = cli("-c", config, "machines", "add", "local", "-p", "pw")
    assert result.code == 0, result.err
    written = tmp_path / "creds" / "agent.yaml"
    assert f"API credentials written to '{written}'." in result.err
    assert load_credentials(written) == {"url": "http://127.0.0.1:8099/", "login": "local", "password": "pw"}
    again = cli("-c", config, "machines", "add", "other", "-p", "pw")
    assert again.code == 1 and str(written) in again.err
