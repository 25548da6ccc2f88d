"""Live mode of the real daemon with the real engine (project hub): bad lines are counted
and the pipeline carries on, rotation loses no line, bucket state survives SIGTERM."""

import os

import pytest
import yaml

from tests.integration.daemon_env import make_config
from tests.integration.live_daemon import (
    LiveDaemon,
    append,
    free_port,
    metric_sum,
    read_alerts,
    scrape,
    set_acquisition,
    ssh_failures,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SSH_BF = "crowdsec-mp/ssh-bf"


def ssh_bf_sources(alerts):
    return sorted(alert["source"]["value"] for alert in alerts if alert["scenario"] == SSH_BF)


def garbage_line() -> bytes:
    # Every byte value except the newline, twice: invalid UTF-8, NULs, control characters.
    return bytes(b for b in range(256) if b != 0x0A) * 2


def test_huge_and_binary_lines_are_counted_unparsed_rotation_loses_nothing(tmp_path):
    port = free_port()
    config = make_config(tmp_path, workers=2, shards=2, extra={
        "prometheus": {"enabled": True, "listen_addr": "127.0.0.1", "listen_port": port}})
    log = tmp_path / "app.log"
    log.write_text("")
    set_acquisition(config, log)
    dump = tmp_path / "dump"
    daemon = LiveDaemon(config, "-no-api", "-dump-data", str(dump)).start()
    try:
        daemon.wait_tailing()
        with open(log, "ab") as handle:
            handle.write(b"A" * (1024 * 1024) + b"\n")  # 1 MiB: truncated to 64 KiB, then unparsed
            handle.write(garbage_line() + b"\n")
        append(log, ssh_failures("198.51.100.7", 3))
        # Rename rotation, then the rest of the brute force in the new file: the overflow
        # needs all 6 failures (capacity 5), so a line lost across the rotation shows.
        wait_for(lambda: metric_sum(scrape(port), "cs_lineread_total") >= 5, 30, "the first 5 lines read")
        os.rename(log, tmp_path / "app.log.1")
        append(log, ssh_failures("198.51.100.7", 3, first_port=41000), mode="w")

        wait_for(lambda: ssh_bf_sources(read_alerts(dump / "alerts.jsonl")), 60, "the ssh-bf alert")

        def counted():
            samples = scrape(port)
            if metric_sum(samples, "cs_parser_hits_ok_total") < 6 or \
                    metric_sum(samples, "cs_bucket_poured_total", name=SSH_BF) < 6 or \
                    metric_sum(samples, "cs_bucket_overflowed_total", name=SSH_BF) < 1:
                # Shards report overflows with their heartbeat: it may lag the alert.
                return None
            return samples
        samples = wait_for(counted, 30, "parsed and poured counts in the metrics")
    finally:
        err = daemon.stop()
    assert daemon.process.returncode == 0, err
    assert metric_sum(samples, "cs_lineread_total") == 8
    assert metric_sum(samples, "cs_parser_hits_ok_total") == 6
    assert metric_sum(samples, "cs_parser_hits_ko_total") == 2
    assert metric_sum(samples, "csmp_lines_truncated_total") == 1
    assert metric_sum(samples, "cs_bucket_poured_total", name=SSH_BF) == 6
    assert metric_sum(samples, "cs_bucket_overflowed_total", name=SSH_BF) == 1
    assert ssh_bf_sources(read_alerts(dump / "alerts.jsonl")) == ["198.51.100.7"]


def slow_leak_config(tmp_path):
    """Project hub, ssh-bf with capacity 5 but leaking one event a minute instead of one
    per 10 s: a restart on a loaded 2-core machine takes seconds, and the split brute
    force must not leak away while the daemon is down (what is tested is the restore)."""
    config = make_config(tmp_path, workers=2, shards=2)
    scenario = config.parent / "scenarios" / "ssh-bf.yaml"
    data = yaml.safe_load(scenario.read_text())
    assert data["capacity"] == 5
    data["leakspeed"] = "1m"
    scenario.write_text(yaml.safe_dump(data))
    return config


def split_brute_force(tmp_path, config, *, drop_state: bool):
    """3 failures, SIGTERM, (state dropped?), restart, 3 more failures; returns the
    ssh-bf alert sources of the second run, the state files the stop left."""
    log = tmp_path / "auth.log"
    log.write_text("")
    set_acquisition(config, log)
    dump = tmp_path / "dump"
    first = LiveDaemon(config, "-no-api", "-dump-data", str(dump)).start()
    try:
        first.wait_tailing()
        append(log, ssh_failures("203.0.113.50", 3))
        positions = tmp_path / "state" / "acquisition-positions.json"
        # Every line parsed and poured before the stop (the stop itself would process them
        # too; waiting keeps the test about the dump, not about draining).
        wait_for(lambda: os.path.exists(positions) or first.children("shard"), 30, "shards")
    finally:
        err = first.stop()
    assert first.process.returncode == 0, err
    assert read_alerts(dump / "alerts.jsonl") == []
    state_files = sorted(p.name for p in (tmp_path / "state").glob("buckets-shard*.state"))
    if drop_state:
        for name in state_files:
            os.unlink(tmp_path / "state" / name)
    second = LiveDaemon(config, "-no-api", "-dump-data", str(dump)).start()
    try:
        second.wait_tailing()
        append(log, ssh_failures("203.0.113.50", 3, first_port=41000))
        if not drop_state:
            wait_for(lambda: ssh_bf_sources(read_alerts(dump / "alerts.jsonl")), 60, "the ssh-bf alert")
        else:
            # Nothing to wait for but the absence of an alert: wait until the 3 lines were
            # poured (shard heartbeats report live buckets), then stop, which drains.
            pass
    finally:
        err = second.stop()
    assert second.process.returncode == 0, err
    return ssh_bf_sources(read_alerts(dump / "alerts.jsonl")), state_files


def test_brute_force_split_across_a_sigterm_restart_still_overflows(tmp_path):
    sources, state_files = split_brute_force(tmp_path, slow_leak_config(tmp_path), drop_state=False)
    assert state_files, "the graceful stop should dump bucket state"
    assert sources == ["203.0.113.50"]


def test_without_the_restored_state_the_split_brute_force_does_not_overflow(tmp_path):
    # The control: same timing and lines, bucket dumps removed between the two runs.
    sources, state_files = split_brute_force(tmp_path, slow_leak_config(tmp_path), drop_state=True)
    assert state_files
    assert sources == []
