"""Builds a throwaway daemon configuration with the project's own hub items installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent.parent


def install_project_hub(conf: Path) -> None:
    hub = REPO / "hub"
    for stage_dir in sorted((hub / "parsers").iterdir()):
        target = conf / "parsers" / stage_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(stage_dir.glob("*/*.yaml")):
            shutil.copy(item, target / item.name)
    (conf / "scenarios").mkdir(parents=True, exist_ok=True)
    for item in sorted((hub / "scenarios").glob("*/*.yaml")):
        shutil.copy(item, conf / "scenarios" / item.name)


def make_config(tmp: Path, *, workers=2, shards=2, api=False, extra=None) -> Path:
    conf = tmp / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    install_project_hub(conf)
    return write_config(conf, tmp, data_dir=REPO / "hub" / "data", pattern_dir=REPO / "conf.d" / "patterns",
                        workers=workers, shards=shards, api=api, extra=extra)


def daemon_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def run_daemon(args, timeout=120):
    return subprocess.run([sys.executable, "-m", "crowdsec_mp.daemon", *args], capture_output=True, text=True,
                          env=daemon_env(), timeout=timeout)


def make_hub_config(tmp: Path, shared_hub: Path, collections, *, workers=2, shards=2, extra=None) -> Path:
    """A config with CrowdSec hub collections installed from `shared_hub` (test data) with
    the project's own installer, CrowdSec's grok patterns and the hub's data files."""
    from crowdsec_mp.hub.install import HubInstaller
    from crowdsec_mp.hub.source import DirectorySource

    conf = tmp / "conf"
    data = tmp / "data"
    conf.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    installer = HubInstaller(DirectorySource(shared_hub), conf, data)
    for name in collections:
        installer.install("collections", name)
    for database in sorted((shared_hub / "geoip").glob("*.mmdb")):  # what geoip-enrich reads
        shutil.copy(database, data / database.name)
    return write_config(conf, tmp, data_dir=data, pattern_dir=shared_hub / "patterns",
                        workers=workers, shards=shards, api=False, extra=extra)


def write_config(conf: Path, tmp: Path, *, data_dir, pattern_dir, workers, shards, api, extra) -> Path:
    """conf/config.yaml for a test daemon; `extra` sections are merged over the defaults."""
    config = {
        "config_paths": {"config_dir": "./", "data_dir": str(data_dir), "pattern_dir": str(pattern_dir),
                         "simulation_path": "./simulation.yaml"},
        "crowdsec_service": {"state_dir": str(tmp / "state"), "parser_workers": workers,
                             "bucket_shards": shards, "acquisition_path": "./acquis.yaml",
                             "acquisition_dir": "./acquis.d"},
        "api": {"client": {"credentials_path": "./local_api_credentials.yaml"},
                "server": {"enable": api}},
        "prometheus": {"enabled": False},
    }
    for key, value in (extra or {}).items():
        config.setdefault(key, {}).update(value)
    path = conf / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
