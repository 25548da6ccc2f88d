"""CrowdSec's own collections, installed with `cscli-mp collections install` from the
hub snapshot, then a log replayed through them by the multi-process daemon.

The expected detections come from gen_corpus.py's truth file (which IPs attack),
not from our engine: every attacker must be alerted on, and nobody else.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

CONFIG = """\
config_paths:
  config_dir: ./etc
  data_dir: ./data
  hub_dir: {hub}
  pattern_dir: {hub}/patterns
  simulation_path: ./etc/simulation.yaml
crowdsec_service:
  acquisition_path: ./etc/acquis.yaml
  parser_workers: 2
  bucket_shards: 2
  state_dir: ./state
db_config:
  type: sqlite
  db_path: ./data/crowdsec.db
prometheus:
  enabled: false
"""


def run(*argv, cwd):
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory, shared_hub, repo_root):
    base = tmp_path_factory.mktemp("crowdsec-hub")
    (base / "etc").mkdir()
    config = base / "config.yaml"
    config.write_text(CONFIG.format(hub=shared_hub))
    result = run("crowdsec_mp.cli.main", "-c", str(config), "collections", "install",
                 "crowdsecurity/linux", "crowdsecurity/nginx", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    listing = run("crowdsec_mp.cli.main", "-c", str(config), "-o", "json", "collections", "list", cwd=repo_root)
    assert listing.returncode == 0, listing.stderr
    return base, config, listing.stdout


def test_collections_and_their_dependencies_are_listed_as_installed(installed):
    _, _, listing = installed
    for name in ("crowdsecurity/linux", "crowdsecurity/nginx", "crowdsecurity/sshd", "crowdsecurity/base-http-scenarios"):
        assert name in listing


@pytest.mark.parametrize("kind, log_type", [("sshd", "syslog"), ("nginx", "nginx")])
def test_replay_through_installed_collections_finds_exactly_the_attackers(installed, shared_dir, repo_root, kind, log_type):
    base, config, _ = installed
    log = base / f"{kind}.log"
    subprocess.run([sys.executable, str(shared_dir / "tools" / "gen_corpus.py"), "--kind", kind,
                    "--lines", "3000", "--seed", "7", "--out", str(log)], check=True, capture_output=True)
    attackers = {a["ip"] for a in json.loads((base / f"{kind}.log.truth.json").read_text())["attackers"]}
    assert attackers, "the corpus must contain attackers for this test to mean anything"

    dump = base / f"dump-{kind}"
    result = run("crowdsec_mp.daemon", "-c", str(config), "-dsn", f"file://{log}", "-type", log_type,
                 "-no-api", "-dump-data", str(dump), cwd=repo_root)
    assert result.returncode == 0, result.stderr[-2000:]
    alerts = [json.loads(line) for line in (dump / "alerts.jsonl").read_text().splitlines() if line]
    alerted = {alert["source"]["value"] for alert in alerts}
    assert alerted == attackers
    assert all(alert["scenario"].count("/") == 1 and alert["events_count"] > 0 for alert in alerts)
