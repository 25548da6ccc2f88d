"""`cscli-mp bouncers` (direct DB), checked against the real LAPI where it matters."""

from __future__ import annotations

import csv
import io
import json

import requests


def bouncer_get(lapi, key: str, user_agent: str = "test-bouncer/v1.0"):
    return requests.get(lapi.url + "v1/decisions", headers={"X-Api-Key": key, "User-Agent": user_agent}, timeout=10)


def test_add_prints_key_once_and_it_works(cli, lapi):
    result = cli("-c", lapi.config_path, "bouncers", "add", "fw1")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "API key for 'fw1':"
    assert lines[1] == "" and lines[3] == ""
    assert lines[4] == "Please keep this key since you will not be able to retrieve it!"
    key = lines[2].strip()
    assert len(key) == 43
    assert bouncer_get(lapi, key).status_code == 200
    assert bouncer_get(lapi, key + "x").status_code == 403


def test_add_with_key_raw_and_json(cli, lapi):
    raw = cli("-c", lapi.config_path, "-o", "raw", "bouncers", "add", "fw2", "-k", "my-own-key-123")
    assert raw.out == "my-own-key-123\n"
    as_json = cli("-c", lapi.config_path, "-o", "json", "bouncers", "add", "fw3")
    key = json.loads(as_json.out)
    assert isinstance(key, str) and bouncer_get(lapi, key).status_code == 200
    assert bouncer_get(lapi, "my-own-key-123").status_code == 200


def test_duplicate_name(cli, lapi):
    assert cli("-c", lapi.config_path, "bouncers", "add", "dup").code == 0
    again = cli("-c", lapi.config_path, "bouncers", "add", "dup")
    assert again.code == 1
    assert "'dup' already exists" in again.err
    assert again.out == ""


def test_list_human_json_raw(cli, lapi):
    cli("-c", lapi.config_path, "-o", "raw", "bouncers", "add", "lister", "-k", "lister-key-0001")
    assert bouncer_get(lapi, "lister-key-0001", "crowdsec-firewall-bouncer/v0.0.31").status_code == 200

    human = cli("-c", lapi.config_path, "bouncers", "list")
    assert human.code == 0, human.err
    lines = human.out.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "Name", "IP Address", "Valid", "Last API pull", "Type", "Version", "Auth Type"]
    [row] = [[c.strip() for c in line.split("|")] for line in lines[2:] if line.split("|")[0].strip() == "lister"]
    assert row[1] == "127.0.0.1"
    assert row[2] == "\u2714\ufe0f"
    assert row[3].endswith("Z")
    assert row[4:] == ["crowdsec-firewall-bouncer", "v0.0.31", "api-key"]

    data = json.loads(cli("-c", lapi.config_path, "-o", "json", "bouncers", "list").out)
    [item] = [b for b in data if b["name"] == "lister"]
    assert item["revoked"] is False and item["ip_address"] == "127.0.0.1" and item["auto_created"] is False
    assert item["last_pull"] and item["type"] == "crowdsec-firewall-bouncer"
    assert not any("key" in field for b in data for field in b)

    raw = list(csv.reader(io.StringIO(cli("-c", lapi.config_path, "-o", "raw", "bouncers", "list").out)))
    assert raw[0] == ["name", "ip", "revoked", "last_pull", "type", "version", "auth_type"]
    [raw_row] = [r for r in raw[1:] if r[0] == "lister"]
    assert raw_row[2] == "validated"


def test_inspect(cli, lapi):
    cli("-c", lapi.config_path, "-o", "raw", "bouncers", "add", "insp")
    data = json.loads(cli("-c", lapi.config_path, "-o", "json", "bouncers", "inspect", "insp").out)
    assert data["name"] == "insp" and data["last_pull"] is None
    assert "insp" in cli("-c", lapi.config_path, "bouncers", "inspect", "insp").out
    missing = cli("-c", lapi.config_path, "bouncers", "inspect", "ghost")
    assert missing.code == 1 and "bouncer 'ghost' does not exist" in missing.err


def test_delete(cli, lapi):
    cli("-c", lapi.config_path, "-o", "raw", "bouncers", "add", "gone", "-k", "gone-key-00001")
    result = cli("-c", lapi.config_path, "bouncers", "delete", "gone")
    assert result.code == 0, result.err
    assert "bouncer 'gone' deleted successfully" in result.err
    assert bouncer_get(lapi, "gone-key-00001").status_code == 403
    names = [b["name"] for b in json.loads(cli("-c", lapi.config_path, "-o", "json", "bouncers", "list").out)]
    assert "gone" not in names


def test_delete_unknown(cli, lapi):
    unknown = cli("-c", lapi.config_path, "bouncers", "delete", "ghost")
    assert unknown.code == 1
    assert "bouncer 'ghost' does not exist" in unknown.err
    ignored = cli("-c", lapi.config_path, "bouncers", "delete", "ghost", "--ignore-missing")
    assert ignored.code == 0


def test_bad_name(cli, lapi):
    result = cli("-c", lapi.config_path, "bouncers", "add", "bad name!")
    assert result.code == 1
    assert "invalid bouncer name" in result.err


def test_prune_needs_force(cli, lapi):
    cli("-c", lapi.config_path, "-o", "raw", "bouncers", "add", "never-pulls")
    bad = cli("-c", lapi.config_path, "bouncers", "prune", "-d", "1 hour")
    assert bad.code == 1 and "invalid duration '1 hour'" in bad.err
    # Nothing is idle for 10 hours yet (all created during this test run).
    quiet = cli("-c", lapi.config_path, "bouncers", "prune", "-d", "10h")
    assert quiet.code == 0 and "No bouncers to prune." in quiet.err


def test_bad_db_config(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("db_config:\n  type: oracle\n")
    result = cli("-c", config, "bouncers", "list")
    assert result.code == 1
    assert "db_config.type" in result.err and "oracle" in result.err
