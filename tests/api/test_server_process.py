"""`python -m crowdsec_mp.api -c CONFIG` as a real process: plain HTTP, TLS, bad config."""

from __future__ import annotations

import datetime
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.api.lapi_helpers import DEFAULT_PROFILES

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(tmp_path: Path, port: int, *, tls=None, db_type="sqlite") -> Path:
    (tmp_path / "profiles.yaml").write_text(DEFAULT_PROFILES)
    server = {"listen_uri": f"127.0.0.1:{port}", "profiles_path": "./profiles.yaml"}
    if tls:
        server["tls"] = {"cert_file": str(tls[0]), "key_file": str(tls[1])}
    config = {
        "config_paths": {"config_dir": "./", "data_dir": "./data/"},
        "db_config": {"type": db_type, "db_path": "./data/crowdsec.db", "flush": {"max_items": 100, "max_age": "7d"}},
        "api": {"server": server},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "crowdsec_mp.api", "-c", str(config), "--threads", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_up(url: str, process: subprocess.Popen, **kwargs) -> requests.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early: {process.stdout.read()}")
        try:
            return requests.get(url + "/health", timeout=2, **kwargs)
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("server did not come up within 30 s")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_serves_http_and_stops_cleanly_on_sigterm(tmp_path):
    port = free_port()
    process = start(write_config(tmp_path, port))
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_up(url, process).json() == {"status": "up"}
        assert requests.get(url + "/v1/decisions", timeout=5).status_code == 403
        assert requests.get(url + "/v1/decisions", timeout=5).headers["Server"] == "crowdsec-mp"
    finally:
        code = stop(process)
    assert code == 0
    assert (tmp_path / "data" / "crowdsec.db").is_file()


def _self_signed(tmp_path: Path):
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_serves_tls_when_configured(tmp_path):
    pytest.importorskip("cheroot")
    cert, key = _self_signed(tmp_path)
    port = free_port()
    process = start(write_config(tmp_path, port, tls=(cert, key)))
    try:
        url = f"https://127.0.0.1:{port}"
        assert wait_up(url, process, verify=str(cert)).json() == {"status": "up"}
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
        # The bouncers' requests (fastpath.py after the first contact) over TLS too.
        key = _bouncer_key(tmp_path)
        headers = {"X-Api-Key": key, "User-Agent": "crowdsec-test/v1.0.0"}
        for _ in range(2):  # first contact (the API stores IP and User-Agent), then the fast path
            lookup = requests.get(f"{url}/v1/decisions", params={"ip": "192.0.2.1"}, headers=headers, verify=str(cert), timeout=5)
            assert (lookup.status_code, lookup.text, lookup.headers["Content-Type"]) == (200, "null", "application/json")
            pull = requests.get(f"{url}/v1/decisions/stream", headers=headers, verify=str(cert), timeout=5)
            assert (pull.status_code, pull.json()) == (200, {"new": [], "deleted": []})
    finally:
        assert stop(process) == 0


def _bouncer_key(tmp_path: Path) -> str:
    """A bouncer added as `cscli-mp bouncers add` does, from this process."""
    from crowdsec_mp.api import admin
    from crowdsec_mp.api.models import database_proxy
    from crowdsec_mp.api.settings import ApiSettings

    admin.connect(ApiSettings.from_mapping(yaml.safe_load((tmp_path / "config.yaml").read_text()), base_dir=tmp_path))
    try:
        return admin.add_bouncer("tls-bouncer")
    finally:
        database_proxy.close()


def test_bad_config_exits_with_a_message_naming_the_field(tmp_path):
    config = write_config(tmp_path, free_port(), db_type="oracle")
    result = subprocess.run(
        [sys.executable, "-m", "crowdsec_mp.api", "-c", str(config)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "db_config.type" in result.stderr and "oracle" in result.stderr and str(config) in result.stderr
