"""scripts/ban.sh and scripts/unban.sh against the real `cscli-mp` and a real Local
API: the daemon run API-only (`crowdsec-mp -no-cs`) on a free loopback port with
a temporary SQLite database, and a machine registered with `cscli-mp machines add`
exactly as scripts/run.sh does it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.daemon import DaemonProcesses, free_port
from tests.e2e.daemon import go_duration_seconds as seconds


@dataclass
class ApiOnly:
    config: Path
    url: str


def write_api_config(directory: Path, port: int, repo_root: Path) -> Path:
    (directory / "data").mkdir(parents=True, exist_ok=True)
    config = {
        "config_paths": {"config_dir": "./", "data_dir": "./data/"},
        "db_config": {"type": "sqlite", "db_path": "./data/crowdsec.db"},
        "api": {
            "client": {"credentials_path": "./local_api_credentials.yaml"},
            "server": {"listen_uri": f"127.0.0.1:{port}", "trusted_ips": ["127.0.0.1", "::1"],
                       "profiles_path": str(repo_root / "conf.d" / "profiles.yaml")},
        },
        "prometheus": {"enabled": False},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def base_env(repo_root: Path, config: Path) -> dict:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(repo_root), PYTHON=sys.executable, CROWDSEC_MP_CONFIG=str(config))
    env.pop("CSCLI_MP", None)  # the scripts find the real cscli-mp themselves
    return env


@pytest.fixture(scope="module")
def lapi(tmp_path_factory, repo_root):
    directory = tmp_path_factory.mktemp("ban-lapi")
    port = free_port()
    config = write_api_config(directory, port, repo_root)
    env = base_env(repo_root, config)
    added = subprocess.run(
        [sys.executable, "-m", "crowdsec_mp", "machines", "add", "scripts-test", "--auto",
         "-f", str(directory / "local_api_credentials.yaml"), "-c", str(config)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert added.returncode == 0, added.stderr
    output = directory / "daemon.out"
    with open(output, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config), "-no-cs"],
                                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    daemon = DaemonProcesses(proc, output)
    try:
        daemon.wait_for_health(f"http://127.0.0.1:{port}", timeout=60)
        yield ApiOnly(config, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


@pytest.fixture
def env(lapi, repo_root):
    return base_env(repo_root, lapi.config)


def script(repo_root, name, *args, env):
    return subprocess.run(["bash", str(repo_root / "scripts" / name), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=60)


def decisions(env, config) -> list[dict]:
    """Every active decision, as `cscli-mp decisions list -o json` shows them."""
    listed = subprocess.run([sys.executable, "-m", "crowdsec_mp", "decisions", "list", "-o", "json", "-c", str(config)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    alerts = json.loads(listed.stdout) or []
    return [decision for alert in alerts for decision in (alert.get("decisions") or [])]


def on(env, config, value) -> list[dict]:
    return [d for d in decisions(env, config) if d["value"] == value]


def test_ban_creates_the_decision(repo_root, env, lapi):
    result = script(repo_root, "ban.sh", "192.0.2.10", "1h", "port scan from the lab", env=env)
    assert result.returncode == 0, result.stderr
    [decision] = on(env, lapi.config, "192.0.2.10")
    assert decision["type"] == "ban" and decision["scope"] == "Ip" and decision["origin"] == "cscli"
    assert decision["scenario"] == "port scan from the lab"
    assert 3500 < seconds(decision["duration"]) <= 3600


def test_ban_range_with_default_duration_and_reason(repo_root, env, lapi):
    result = script(repo_root, "ban.sh", "198.51.100.0/24", env=env)
    assert result.returncode == 0, result.stderr
    [decision] = on(env, lapi.config, "198.51.100.0/24")
    assert decision["scope"] == "Range" and decision["type"] == "ban"
    assert decision["scenario"] == "manual ban from ban.sh"
    assert 4 * 3600 - 100 < seconds(decision["duration"]) <= 4 * 3600


def test_ban_uses_the_config_given_with_c(repo_root, env, lapi, tmp_path):
    env["CROWDSEC_MP_CONFIG"] = str(tmp_path / "absent.yaml")  # only -c can lead to the LAPI
    result = script(repo_root, "ban.sh", "-c", lapi.config, "2001:db8::7", "30m", env=env)
    assert result.returncode == 0, result.stderr
    [decision] = on(env, lapi.config, "2001:db8::7")
    assert 1700 < seconds(decision["duration"]) <= 1800


def test_unban_deletes_only_that_ip(repo_root, env, lapi):
    for ip in ("192.0.2.20", "192.0.2.21"):
        assert script(repo_root, "ban.sh", ip, "2h", env=env).returncode == 0
    result = script(repo_root, "unban.sh", "192.0.2.20", env=env)
    assert result.returncode == 0, result.stderr
    assert "1 decision(s) deleted" in result.stdout + result.stderr
    assert on(env, lapi.config, "192.0.2.20") == []
    assert len(on(env, lapi.config, "192.0.2.21")) == 1


def test_unban_range(repo_root, env, lapi):
    assert script(repo_root, "ban.sh", "203.0.113.0/25", env=env).returncode == 0
    result = script(repo_root, "unban.sh", "203.0.113.0/25", env=env)
    assert result.returncode == 0, result.stderr
    assert on(env, lapi.config, "203.0.113.0/25") == []


def test_unban_of_an_ip_without_decision_succeeds_and_says_so(repo_root, env, lapi):
    result = script(repo_root, "unban.sh", "192.0.2.99", env=env)
    assert result.returncode == 0, result.stderr
    assert "0 decision(s) deleted" in result.stdout + result.stderr


@pytest.mark.parametrize("name,args,message", [
    ("ban.sh", ("300.1.1.1",), "'300.1.1.1' is not a valid IP address or CIDR range"),
    ("ban.sh", ("192.0.2.30", "4 hours"), "'4 hours' is not a valid duration"),
    ("ban.sh", ("192.0.2.30", "1y"), "'1y' is not a valid duration"),
    ("ban.sh", (), "Usage:"),
    ("ban.sh", ("192.0.2.30", "1h", "r", "extra"), "Usage:"),
    ("unban.sh", ("nope",), "'nope' is not a valid IP address or CIDR range"),
    ("unban.sh", ("10.0.0.0/33",), "'10.0.0.0/33' is not a valid IP address or CIDR range"),
    ("unban.sh", (), "Usage:"),
])
def test_bad_arguments_change_nothing(repo_root, env, lapi, name, args, message):
    def identities():  # the remaining duration ticks: compare what the decisions are
        return sorted((d["id"], d["value"], d["type"]) for d in decisions(env, lapi.config))

    before = identities()
    result = script(repo_root, name, *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert identities() == before


@pytest.fixture
def down_config(tmp_path, repo_root):
    """A config whose credentials name a loopback port nothing listens on."""
    port = free_port()
    config = write_api_config(tmp_path, port, repo_root)
    (tmp_path / "local_api_credentials.yaml").write_text(
        yaml.safe_dump({"url": f"http://127.0.0.1:{port}/", "login": "x", "password": "y" * 20}))
    return config


@pytest.mark.parametrize("name,args", [("ban.sh", ("192.0.2.40", "1h")), ("unban.sh", ("192.0.2.40",))])
def test_api_down_is_a_clear_error(repo_root, env, down_config, name, args):
    env["CROWDSEC_MP_CONFIG"] = str(down_config)
    result = script(repo_root, name, *args, env=env)
    assert result.returncode == 1
    assert "cannot reach the Local API at http://127.0.0.1:" in result.stderr


@pytest.mark.parametrize("name,args", [("ban.sh", ("192.0.2.41",)), ("unban.sh", ("192.0.2.41",))])
def test_missing_config_is_a_clear_error(repo_root, env, tmp_path, name, args):
    result = script(repo_root, name, "-c", tmp_path / "absent.yaml", *args, env=env)
    assert result.returncode == 1
    assert f"{tmp_path / 'absent.yaml'}: cannot read configuration" in result.stderr
