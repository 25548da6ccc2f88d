"""Invariant 1 with the real engine and real processes: `crowdsec-mp -dsn` gives exactly the
alerts of the single-process engine (replay.Engine), for several (workers, shards)."""

import json
import subprocess
import sys

import pytest

from tests.integration.daemon_env import daemon_env, make_config, run_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def single_process_alerts(config_path, log_path, log_type):
    from crowdsec_mp.config import load_config
    from crowdsec_mp.engine.alerts import runtime_alert_to_api
    from crowdsec_mp.engine.replay import Engine
    from crowdsec_mp.pipeline.engine_binding import InstalledItems

    items = InstalledItems(load_config(config_path))
    engine = Engine.build(items.ctx, items.patterns(), items.parser_files,
                          [str(p) for p in items.scenario_files])
    lines = log_path.read_text().splitlines()
    result = engine.replay(lines, src=str(log_path), labels={"type": log_type}, record=False)
    alerts = []
    for overflow in result.overflows:
        if not (overflow.Whitelisted or overflow.Overflow.Whitelisted):
            alerts += runtime_alert_to_api(overflow.Overflow)
    return alerts


def canonical(alerts):
    return sorted(json.dumps(alert, sort_keys=True) for alert in alerts)


@pytest.fixture(scope="module")
def corpora(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    made = {}
    for kind, log_type in (("sshd", "syslog"), ("nginx", "nginx")):
        path = out / f"{kind}.log"
        subprocess.run([sys.executable, str(shared_dir / "tools" / "gen_corpus.py"), "--kind", kind,
                        "--lines", "3000", "--seed", "11", "--out", str(path)], check=True,
                       capture_output=True)
        made[kind] = (path, log_type)
    return made


@pytest.mark.parametrize("kind", ["sshd", "nginx"])
@pytest.mark.parametrize("workers, shards", [(1, 1), (2, 3), (4, 2)])
def test_replay_matches_single_process_engine(tmp_path, corpora, kind, workers, shards):
    log_path, log_type = corpora[kind]
    config = make_config(tmp_path, workers=workers, shards=shards)
    dump = tmp_path / "dump"
    done = run_daemon(["-c", str(config), "-dsn", f"file://{log_path}", "-type", log_type, "-no-api",
                       "-dump-data", str(dump)])
    assert done.returncode == 0, done.stderr
    got = [json.loads(line) for line in (dump / "alerts.jsonl").read_text().splitlines()]
    expected = single_process_alerts(config, log_path, log_type)
    assert expected, "the corpus should trigger scenarios"
    assert canonical(got) == canonical(expected)


def test_sigkill_of_a_parser_mid_replay_with_the_real_engine(tmp_path, shared_dir):
    import psutil

    log_path = tmp_path / "big.log"
    subprocess.run([sys.executable, str(shared_dir / "tools" / "gen_corpus.py"), "--kind", "sshd",
                    "--lines", "500000", "--seed", "5", "--out", str(log_path)], check=True, capture_output=True)
    config = make_config(tmp_path, workers=2, shards=2)
    dump = tmp_path / "dump"
    daemon = subprocess.Popen([sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config), "-dsn",
                               f"file://{log_path}", "-type", "syslog", "-no-api", "-dump-data", str(dump)],
                              env=daemon_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = False
    import time

    deadline = time.monotonic() + 120
    while not killed and daemon.poll() is None and time.monotonic() < deadline:
        for child in psutil.Process(daemon.pid).children():
            try:
                # Busy parsing: well past its start-up cost (~0.6 s of CPU). 500k lines keep each
                # worker busy for ~5 s of CPU (2026-11-25), so there is a wide window to kill it
                # mid-replay even if the engine gets a few times faster.
                if "child parser" in " ".join(child.cmdline()) and child.cpu_times().user > 1.2:
                    child.kill()
                    killed = True
                    break
            except psutil.Error:
                continue
        time.sleep(0.05)
    out, err = daemon.communicate(timeout=240)
    assert killed, "no parser was busy long enough to be killed"
    assert daemon.returncode == 0, err
    assert "died with signal 9" in err
    got = [json.loads(line) for line in (dump / "alerts.jsonl").read_text().splitlines()]
    assert canonical(got) == canonical(single_process_alerts(config, log_path, "syslog"))


# A scenario filter that writes to the event (hub example: http-technology-probing's
# `evt.SetMeta("target_technology", ...)`). The single-process engine pours one shared
# event scenario by scenario: a trigger loaded BEFORE the writer renders the event
# without the new meta, a bucket loaded after it renders it with the meta.
TRIGGER_FIRST = """type: trigger
name: test/a-trigger-before-the-writer
description: "one alert per failed login, rendered before the writer's filter ran"
filter: "evt.Meta.log_type == 'ssh_failed-auth'"
groupby: evt.Meta.source_ip
labels: {remediation: false}
"""
WRITER = """type: leaky
name: test/b-writer
description: "its filter tags the event"
filter: "evt.Meta.log_type == 'ssh_failed-auth' && evt.SetMeta('tagged_by', 'writer')"
groupby: evt.Meta.source_ip
capacity: 1
leakspeed: 1m
labels: {remediation: false}
"""


def test_a_filter_that_writes_the_event_gives_the_single_process_alerts(tmp_path):
    config = make_config(tmp_path, workers=2, shards=3)
    (config.parent / "scenarios" / "0a-trigger.yaml").write_text(TRIGGER_FIRST)
    (config.parent / "scenarios" / "0b-writer.yaml").write_text(WRITER)
    log_path = tmp_path / "auth.log"
    log_path.write_text("".join(
        f"Mar 10 06:00:0{i} web01 sshd[{100 + i}]: Failed password for root from 192.0.2.{i % 2} port {4000 + i} ssh2\n"
        for i in range(6)))
    dump = tmp_path / "dump"
    done = run_daemon(["-c", str(config), "-dsn", f"file://{log_path}", "-type", "syslog", "-no-api",
                       "-dump-data", str(dump)])
    assert done.returncode == 0, done.stderr
    got = [json.loads(line) for line in (dump / "alerts.jsonl").read_text().splitlines()]
    expected = single_process_alerts(config, log_path, "syslog")

    def tagged(alerts, scenario):
        return {any(m["key"] == "tagged_by" for m in event["meta"]) for a in alerts if a["scenario"] == scenario
                for event in a["events"]}
    # The case is the one described above (so the comparison below is meaningful).
    assert tagged(expected, "test/a-trigger-before-the-writer") == {False}
    assert tagged(expected, "test/b-writer") == {True}
    assert canonical(got) == canonical(expected)
