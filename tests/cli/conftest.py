"""Fixtures of the cscli-mp client command tests: a real Local API (the real
app served by the real waitress server on a free loopback port, SQLite in a
temp dir), a config.yaml + credentials file pointing at it, and `cli` which
runs `cscli-mp` in-process with the client command modules registered."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from crowdsec_mp.api import admin
from crowdsec_mp.api.app import create_app
from crowdsec_mp.api.server import start_server
from crowdsec_mp.api.settings import ApiSettings
from crowdsec_mp.cli import main as cli_main
from crowdsec_mp.config import load_config


MACHINE = "cli-test-machine"
PASSWORD = "cli-test-password-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(directory: Path, *, lapi_port: int, prometheus_port: int) -> Path:
    config = {
        "config_paths": {"config_dir": "./", "data_dir": "./data/"},
        "db_config": {"type": "sqlite", "db_path": "./data/crowdsec.db"},
        "api": {
            "client": {"credentials_path": "./local_api_credentials.yaml"},
            "server": {"listen_uri": f"127.0.0.1:{lapi_port}", "trusted_ips": ["127.0.0.1", "::1"]},
        },
        "prometheus": {"enabled": True, "listen_addr": "127.0.0.1", "listen_port": prometheus_port},
    }
    (directory / "data").mkdir(exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def write_credentials(path: Path, url: str, login: str, password: str) -> None:
    path.write_text(yaml.safe_dump({"url": url, "login": login, "password": password}), encoding="utf-8")


@dataclass
class Lapi:
    config_path: Path
    credentials_path: Path
    url: str
    server: object
    machine: str = MACHINE
    password: str = PASSWORD


@pytest.fixture(scope="module")
def lapi(tmp_path_factory):
    """A running LAPI with one validated machine whose credentials cscli-mp uses."""
    directory = tmp_path_factory.mktemp("cli-lapi")
    config_path = write_config(directory, lapi_port=0, prometheus_port=free_port())
    config = load_config(config_path)
    admin.connect(config)
    admin.add_machine(MACHINE, PASSWORD)
    server = start_server(create_app(ApiSettings.from_config(config)), "127.0.0.1", 0)
    credentials = directory / "local_api_credentials.yaml"
    write_credentials(credentials, server.url, MACHINE, PASSWORD)
    try:
        yield Lapi(config_path, credentials, server.url, server)
    finally:
        server.stop()


@pytest.fixture
def down_config(tmp_path) -> Path:
    """A config whose credentials name a loopback port nothing listens on."""
    config_path = write_config(tmp_path, lapi_port=free_port(), prometheus_port=free_port())
    write_credentials(tmp_path / "local_api_credentials.yaml", f"http://127.0.0.1:{free_port()}/", MACHINE, PASSWORD)
    return config_path


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """`cli(*argv)` runs cscli-mp in-process and returns (code, stdout, stderr)."""

    def run(*argv) -> Result:
        capsys.readouterr()
        code = cli_main.main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
