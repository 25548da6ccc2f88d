"""The LAPI (its own `crowdsec-mp -no-cs` process) stops during live tailing: the agent
(`crowdsec-mp -no-api`, real engine) keeps detecting, queues the alerts on disk and
pushes every one of them once the LAPI is back (ARCHITECTURE invariant 2)."""

import os
import time

import pytest
import requests
import yaml

from tests.integration.daemon_env import REPO, make_config
from tests.integration.live_daemon import LiveDaemon, append, free_port, set_acquisition, ssh_failures, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

MACHINE, PASSWORD = "agent", "outage-test-pw"


def lapi_alert_sources(url):
    """ssh-bf alert sources in the LAPI, read as a machine (JWT); None while it is down."""
    try:
        login = requests.post(f"{url}v1/watchers/login", timeout=3,
                              json={"machine_id": MACHINE, "password": PASSWORD, "scenarios": []})
        if login.status_code != 200:
            return None
        token = login.json()["token"]
        answer = requests.get(f"{url}v1/alerts", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    except requests.RequestException:
        return None
    if answer.status_code != 200:
        return None
    return sorted(a["source"]["value"] for a in answer.json() or [] if a["scenario"] == "crowdsec-mp/ssh-bf")


def run_outage(tmp_path, outage_seconds: float):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    config = make_config(tmp_path, workers=2, shards=2, api=True, extra={
        "api": {"server": {"enable": True, "listen_uri": f"127.0.0.1:{port}",
                           "profiles_path": str(REPO / "conf.d" / "profiles.yaml")}},
        "db_config": {"type": "sqlite", "db_path": str(tmp_path / "crowdsec.db")},
    })
    (config.parent / "local_api_credentials.yaml").write_text(
        yaml.safe_dump({"url": url, "login": MACHINE, "password": PASSWORD}))
    from crowdsec_mp.api import admin
    from crowdsec_mp.config import load_config

    admin.connect(load_config(config))
    admin.add_machine(MACHINE, PASSWORD)
    log = tmp_path / "auth.log"
    log.write_text("")
    set_acquisition(config, log)
    queue = tmp_path / "state" / "output-queue"

    lapi = LiveDaemon(config, "-no-cs").start()
    agent = LiveDaemon(config, "-no-api")
    try:
        wait_for(lambda: lapi_alert_sources(url) is not None, 60, "the LAPI to answer")
        agent.start().wait_tailing()
        # The path works before the outage.
        append(log, ssh_failures("192.0.2.10", 6))
        wait_for(lambda: lapi_alert_sources(url) == ["192.0.2.10"], 60, "the first alert in the LAPI")

        err = lapi.stop()
        assert lapi.process.returncode == 0, err
        attackers = [f"198.51.100.{n}" for n in range(20, 25)]
        for n, ip in enumerate(attackers):
            append(log, ssh_failures(ip, 6, first_port=41000 + 100 * n))
        # Detected while the LAPI is down: the alerts wait in the on-disk queue.
        wait_for(lambda: queue.is_dir() and os.listdir(queue), 60, "alerts queued on disk")
        time.sleep(outage_seconds)
        assert os.listdir(queue), "alerts left the queue while the LAPI was down"

        lapi = LiveDaemon(config, "-no-cs").start()
        expected = sorted(["192.0.2.10", *attackers])
        # Backoff doubles up to 60 s: after a 30 s outage the next attempt can be ~30 s away.
        # A list compare: an alert pushed twice would show as a duplicate source.
        wait_for(lambda: lapi_alert_sources(url) == expected, 120, "every alert in the LAPI", step=1.0)
        wait_for(lambda: not os.listdir(queue), 20, "the queue to empty")
    finally:
        agent_err = agent.stop() if agent.process else ""
        lapi.stop()
    assert agent.process.returncode == 0, agent_err


def test_every_alert_reaches_the_lapi_after_a_30s_outage(tmp_path):
    run_outage(tmp_path, outage_seconds=30)
