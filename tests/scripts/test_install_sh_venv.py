"""install.sh end to end: a real virtualenv, pip install of the package, then the
installed programs run against the installed configuration (slow: ~30-60 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.e2e
def test_install_sh_with_virtualenv(repo_root, tmp_path):
    root = tmp_path / "root"
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)  # the venv must find crowdsec_mp by itself
    result = subprocess.run(
        ["bash", str(repo_root / "scripts" / "install.sh"),
         "--prefix", str(root / "opt"), "--config-dir", str(root / "etc"), "--data-dir", str(root / "data"),
         "--log-dir", str(root / "log"), "--state-dir", str(root / "state"),
         "--collections", "crowdsec-mp/sshd"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    venv = root / "opt" / "venv" / "bin"
    assert (venv / "crowdsec-mp").is_file() and (venv / "cscli-mp").is_file()
    listed = subprocess.run(
        [str(venv / "python"), "-m", "crowdsec_mp.hub", "scenarios", "list", "-o", "json",
         "-c", str(root / "etc" / "config.yaml")],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    names = sorted(item["name"] for item in json.loads(listed.stdout)["scenarios"])
    assert names == ["crowdsec-mp/ssh-bf", "crowdsec-mp/ssh-slow-bf", "crowdsec-mp/ssh-user-enum"]
