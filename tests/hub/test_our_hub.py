"""Our own default hub, run through the real engine (hubtest runner, replay)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crowdsec_mp.hubtest import HubTestOptions, list_tests, run_replay, run_tests

YEAR = 2026


@pytest.fixture(scope="module")
def hub_dir(repo_root) -> Path:
    return repo_root / "hub"


def test_every_item_has_a_hub_test(hub_dir):
    index = json.loads((hub_dir / ".index.json").read_text())
    tested = set()
    for test in list_tests(hub_dir / "tests"):
        config = yaml.safe_load((test / "config.yaml").read_text())
        tested.update(n for n in (config.get("parsers") or []) + (config.get("scenarios") or []) if n)
    items = set(index["parsers"]) | set(index["scenarios"])
    assert items - tested == set()


def test_all_hub_tests_of_our_hub_pass(hub_dir):
    options = HubTestOptions(hub_dir=hub_dir, tests_dir=hub_dir / "tests", year=YEAR)
    results = run_tests(list_tests(hub_dir / "tests"), options)
    failed = {r.name: r.error or [f.expression for f in r.failures] for r in results if not r.success}
    assert failed == {}
    assert len(results) >= 18


def write_test(tmp_path, name, parsers, scenarios, log_file, log_type) -> Path:
    test_dir = tmp_path / name
    test_dir.mkdir()
    (test_dir / "config.yaml").write_text(yaml.safe_dump({
        "parsers": parsers, "scenarios": scenarios, "postoverflows": [""],
        "log_file": str(log_file), "log_type": log_type,
    }))
    return test_dir


def test_geoip_parser_with_maxmind_test_databases(tmp_path, hub_dir, shared_hub):
    # 81.2.69.142 is GB / in the EU in MaxMind's public test database (geoip/CONTENTS.txt).
    log = tmp_path / "geo.log"
    log.write_text(
        "Mar 10 06:03:38 web01 sshd[1]: Failed password for pi from 81.2.69.142 port 5 ssh2\n"
        "Mar 10 06:03:39 web01 sshd[1]: Failed password for pi from 10.0.0.1 port 5 ssh2\n"
    )
    test_dir = write_test(tmp_path, "geo", [
        "crowdsec-mp/syslog-framing", "crowdsec-mp/dateparse", "crowdsec-mp/sshd-logs", "crowdsec-mp/geoip",
    ], [""], log, "syslog")
    options = HubTestOptions(hub_dir=hub_dir, tests_dir=tmp_path, year=YEAR, geoip_dir=shared_hub / "geoip")
    _, replayed, _ = run_replay(test_dir, options)
    geo = replayed.parser_results["s02-enrich"]["crowdsec-mp/geoip"]
    assert [r.Success for r in geo] == [True, False]  # private addresses are not looked up
    assert geo[0].Evt.Meta["IsoCode"] == "GB"
    assert geo[0].Evt.Meta["IsInEU"] == "true"


SSH_SCENARIOS = ["crowdsec-mp/ssh-bf", "crowdsec-mp/ssh-slow-bf", "crowdsec-mp/ssh-user-enum"]
HTTP_SCENARIOS = [
    "crowdsec-mp/http-probing", "crowdsec-mp/http-sensitive-files", "crowdsec-mp/http-bad-user-agent",
    "crowdsec-mp/http-path-traversal", "crowdsec-mp/http-sqli-probing", "crowdsec-mp/http-xss-probing",
    "crowdsec-mp/http-admin-interface-probing", "crowdsec-mp/http-bf",
]
#: Which of our scenarios must fire for each attack kind of tools/gen_corpus.py.
EXPECTED_SCENARIO = {
    "ssh-bf-fast": "crowdsec-mp/ssh-bf",
    "ssh-bf-slow": "crowdsec-mp/ssh-slow-bf",
    "ssh-user-enum": "crowdsec-mp/ssh-user-enum",
    "http-scan-404": "crowdsec-mp/http-probing",
    "http-sensitive-files": "crowdsec-mp/http-sensitive-files",
    "http-bad-ua": "crowdsec-mp/http-bad-user-agent",
    "http-path-traversal": "crowdsec-mp/http-path-traversal",
    "http-sqli": "crowdsec-mp/http-sqli-probing",
    "http-admin-probe": "crowdsec-mp/http-admin-interface-probing",
    "http-login-bf": "crowdsec-mp/http-bf",
}


@pytest.mark.parametrize("kind,log_type,parsers,scenarios", [
    ("sshd", "syslog", ["crowdsec-mp/sshd-logs"], SSH_SCENARIOS),
    ("nginx", "nginx", ["crowdsec-mp/nginx-logs", "crowdsec-mp/http-enrich"], HTTP_SCENARIOS),
])
def test_generated_corpus_attackers_are_detected_and_nobody_else(
    tmp_path, hub_dir, shared_dir, kind, log_type, parsers, scenarios
):
    log = tmp_path / f"{kind}.log"
    subprocess.run(
        [sys.executable, str(shared_dir / "tools" / "gen_corpus.py"), "--kind", kind,
         "--lines", "4000", "--seed", "7", "--out", str(log)],
        check=True, capture_output=True, timeout=120,
    )
    truth = json.loads(Path(f"{log}.truth.json").read_text())
    expected = {
        (EXPECTED_SCENARIO[attack["attack"]], attacker["ip"])
        for attacker in truth["attackers"] for attack in attacker["attacks"]
    }
    test_dir = write_test(
        tmp_path, kind,
        ["crowdsec-mp/syslog-framing", "crowdsec-mp/dateparse", "crowdsec-mp/private-ip-whitelist", *parsers],
        scenarios, log, log_type,
    )
    _, replayed, _ = run_replay(test_dir, HubTestOptions(hub_dir=hub_dir, tests_dir=tmp_path, year=YEAR))
    detected = {
        (o.Overflow.Alert.GetScenario(), source) for o in replayed.overflows for source in o.Overflow.Sources
    }
    attackers = {ip for _, ip in expected}
    assert expected <= detected
    assert {ip for _, ip in detected} == attackers  # no benign client was flagged
