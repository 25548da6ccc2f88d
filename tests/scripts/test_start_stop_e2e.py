"""start.sh / status.sh / stop.sh around the real daemon, on a private config
(free ports, temporary directories) with our default collections installed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_config(tmp_path, repo_root):
    config = yaml.safe_load((repo_root / "conf.d" / "config.yaml").read_text())
    port = free_port()
    log = tmp_path / "auth.log"
    log.write_text("")
    (tmp_path / "acquis.yaml").write_text(yaml.safe_dump({"filenames": [str(log)], "labels": {"type": "syslog"}}))
    config["common"]["log_dir"] = str(tmp_path / "log")
    config["config_paths"] = {
        "config_dir": str(tmp_path / "etc"), "data_dir": str(tmp_path / "data"),
        "hub_dir": str(repo_root / "hub"), "pattern_dir": str(repo_root / "conf.d" / "patterns"),
        "simulation_path": str(repo_root / "conf.d" / "simulation.yaml"),
    }
    config["crowdsec_service"].update({
        "acquisition_path": str(tmp_path / "acquis.yaml"), "acquisition_dir": str(tmp_path / "acquis.d"),
        "state_dir": str(tmp_path / "state"), "parser_workers": 1, "bucket_shards": 1,
    })
    config["db_config"]["db_path"] = str(tmp_path / "data" / "crowdsec.db")
    config["api"]["client"]["credentials_path"] = str(tmp_path / "creds.yaml")
    config["api"]["server"]["listen_uri"] = f"127.0.0.1:{port}"
    config["api"]["server"]["profiles_path"] = str(repo_root / "conf.d" / "profiles.yaml")
    config["prometheus"] = {"enabled": False}
    (tmp_path / "creds.yaml").write_text(f"url: http://127.0.0.1:{port}\nlogin: e2e\npassword: e2e-password-123\n")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.e2e
def test_start_status_stop_real_daemon(repo_root, tmp_path, private_config):
    env = dict(os.environ, PYTHONPATH=str(repo_root), CROWDSEC_MP_RUN_DIR=str(tmp_path / "run"))
    install = subprocess.run(
        [sys.executable, "-m", "crowdsec_mp.hub", "collections", "install", "crowdsec-mp/linux", "-c", str(private_config)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert install.returncode == 0, install.stderr

    def script(name, *args, timeout=120):
        return subprocess.run(["bash", str(repo_root / "scripts" / name), *args],
                              capture_output=True, text=True, env=env, timeout=timeout)

    started = script("start.sh", "-c", str(private_config), "-w", "3")
    pid_file = tmp_path / "run" / "crowdsec-mp.pid"
    try:
        assert started.returncode == 0, started.stderr + (tmp_path / "run" / "crowdsec-mp.out").read_text()
        pid = int(pid_file.read_text())
        status = script("status.sh", "-c", str(private_config))
        assert status.returncode == 0, status.stderr
        assert str(pid) in status.stdout
        assert "crowdsec_mp" in status.stdout  # the worker processes are listed
    finally:
        stopped = script("stop.sh", "-t", "60", "-f")
    assert stopped.returncode == 0, stopped.stderr
    assert not pid_file.exists()
    assert script("status.sh").returncode == 3
