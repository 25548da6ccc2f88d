"""`cscli-mp lapi status|register` against a real LAPI."""

from __future__ import annotations

import json

import yaml

from crowdsec_mp.cli.apiclient import load_credentials


def config_with_credentials(lapi, tmp_path, credentials: dict):
    config = tmp_path / "config.yaml"
    path = tmp_path / "creds.yaml"
    config.write_text(lapi.config_path.read_text().replace("./local_api_credentials.yaml", str(path)))
    (tmp_path / "data").mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(credentials))
    return config, path


def test_status_ok(cli, lapi):
    result = cli("-c", lapi.config_path, "lapi", "status")
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        f"Loaded credentials from {lapi.credentials_path}",
        f'Trying to authenticate with username "{lapi.machine}" on {lapi.url}',
        "You can successfully interact with Local API (LAPI)",
    ]
    assert result.out == ""


def test_status_wrong_password(cli, lapi, tmp_path):
    config, _ = config_with_credentials(lapi, tmp_path, {"url": lapi.url, "login": lapi.machine, "password": "no"})
    result = cli("-c", config, "lapi", "status")
    assert result.code == 1
    assert "failed to authenticate to Local API (LAPI): API error: incorrect Username or Password" in result.err


def test_status_unknown_machine(cli, lapi, tmp_path):
    config, _ = config_with_credentials(lapi, tmp_path, {"url": lapi.url, "login": "nobody", "password": "no"})
    result = cli("-c", config, "lapi", "status")
    assert result.code == 1
    assert "failed to authenticate to Local API (LAPI)" in result.err


def test_status_api_down(cli, down_config):
    result = cli("-c", down_config, "lapi", "status")
    assert result.code == 1
    assert "cannot reach the Local API at http://127.0.0.1:" in result.err


def test_status_bad_credentials_file(cli, lapi, tmp_path):
    config, path = config_with_credentials(lapi, tmp_path, {"url": "ftp://x", "login": "a", "password": "b"})
    result = cli("-c", config, "lapi", "status")
    assert result.code == 1
    assert str(path) in result.err and "'url'" in result.err
    path.write_text("url: [unclosed\n")
    broken = cli("-c", config, "lapi", "status")
    assert broken.code == 1 and "invalid YAML" in broken.err
    path.unlink()
    missing = cli("-c", config, "lapi", "status")
    assert missing.code == 1 and "cannot read API credentials" in missing.err


def test_register_then_validate(cli, lapi, tmp_path):
    target = tmp_path / "registered.yaml"
    result = cli("-c", lapi.config_path, "lapi", "register", "-u", lapi.url, "--machine", "newagent", "-f", target)
    assert result.code == 0, result.err
    assert "Successfully registered to Local API (LAPI)" in result.err
    assert f"Local API credentials written to '{target}'" in result.err
    credentials = load_credentials(target)
    assert credentials["login"] == "newagent" and credentials["url"] == lapi.url

    config, _ = config_with_credentials(lapi, tmp_path, credentials)
    pending = cli("-c", config, "lapi", "status")
    assert pending.code == 1 and "not validated" in pending.err
    assert cli("-c", lapi.config_path, "machines", "validate", "newagent").code == 0
    assert cli("-c", config, "lapi", "status").code == 0

    again = cli("-c", lapi.config_path, "lapi", "register", "-u", lapi.url, "--machine", "newagent", "-f", "-")
    assert again.code == 1 and "already exist" in again.err
    listed = json.loads(cli("-c", lapi.config_path, "-o", "json", "machines", "list").out)
    assert [m["machineId"] for m in listed].count("newagent") == 1


def test_register_bad_input(cli, down_config):
    bad_url = cli("-c", down_config, "lapi", "register", "-u", "127.0.0.1:8080")
    assert bad_url.code == 1 and "must start with http://" in bad_url.err
    short_token = cli("-c", down_config, "lapi", "register", "-u", "http://127.0.0.1:1/", "--token", "short")
    assert short_token.code == 1 and "--token must be 32 to 255" in short_token.err
    down = cli("-c", down_config, "lapi", "register", "-u", "http://127.0.0.1:1/")
    assert down.code == 1 and "cannot reach the Local API at http://127.0.0.1:1/" in down.err
