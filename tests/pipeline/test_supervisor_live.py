"""Live mode through real processes: tailing across rotation, graceful stop with bucket
state dump/restore and resumed positions, SIGHUP reload. TEST-ONLY stand-in binding."""

import json
import os
import shutil
import signal
import time

import psutil
import pytest

from tests.pipeline.standin_harness import canonical, expected_standin_alerts, standin  # noqa: F401 (fixture)

pytestmark = [pytest.mark.timeout(120), pytest.mark.e2e]


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def role_pids(run, role):
    pids = []
    try:
        for proc in psutil.Process(run.process.pid).children():
            try:
                if f"child {role}" in " ".join(proc.cmdline()):
                    pids.append(proc.pid)
            except psutil.Error:
                continue
    except psutil.NoSuchProcess:
        pass
    return sorted(pids)


def wait_started(run, parsers):
    # Children are spawned after the sources started: from then on, appended lines count.
    wait_for(lambda: len(role_pids(run, "output")) == 1 and len(role_pids(run, "parser")) == parsers,
             what="children to start")


def append(path, lines):
    with open(path, "a") as handle:
        handle.write("".join(line + "\n" for line in lines))


def make_lines(start, stop, ips=7):
    return [f"line ip=10.1.0.{n % ips} n={n}" for n in range(start, stop)]


def test_tail_across_rename_and_copytruncate_loses_no_line(tmp_path, standin):
    log = tmp_path / "app.log"
    log.write_text("old line ip=9.9.9.9 n=999999 must not be read\n")
    run = standin(mode="live", patterns=[str(log)], parsers=2, shards=2,
                  extras={"capacity": 1, "expect_time_machine": False}).start()
    wait_started(run, 2)
    ns = lambda: sorted(alert["ns"][0] for alert in run.alerts())  # noqa: E731
    append(log, make_lines(0, 100))
    wait_for(lambda: len(run.alerts()) >= 100, what="first 100 lines")
    os.rename(log, tmp_path / "app.log.1")          # logrotate "create"
    append(tmp_path / "app.log.1", make_lines(100, 110))  # writer still on the old inode
    append(log, make_lines(110, 200))
    wait_for(lambda: len(run.alerts()) >= 200, what="lines after rename")
    shutil.copy(log, tmp_path / "app.log.2")        # logrotate "copytruncate"
    with open(log, "r+") as handle:
        handle.truncate(0)
    append(log, make_lines(200, 300))
    wait_for(lambda: len(run.alerts()) >= 300, what="lines after copytruncate")
    run.process.send_signal(signal.SIGTERM)
    assert run.wait() == 0, run.stderr
    assert ns() == list(range(300))


def test_graceful_stop_dumps_buckets_and_restart_resumes(tmp_path, standin):
    log = tmp_path / "app.log"
    log.write_text("")
    state = tmp_path / "state"
    common = dict(mode="live", patterns=[str(log)], parsers=2, shards=3, state_dir=str(state),
                  positions_path=str(state / "positions.json"), extras={"capacity": 3})
    first = standin(**common).start()
    wait_started(first, 2)
    lines = make_lines(0, 50)
    append(log, lines)
    # 7 ips x 3: 42 lines overflow, 8 stay in partial buckets.
    wait_for(lambda: len(first.alerts()) == 14, what="first run alerts")
    first.process.send_signal(signal.SIGTERM)
    assert first.wait() == 0, first.stderr
    dumps = sorted(p.name for p in state.iterdir() if p.suffix == ".state")
    assert dumps == [f"buckets-shard{j}-of3.state" for j in range(3)]
    assert json.loads((state / "positions.json").read_text())[str(log)]["offset"] == log.stat().st_size

    more = make_lines(50, 80)
    append(log, more[:10])  # written while the daemon is down: must be read on restart
    second = standin(**common).start()
    wait_started(second, 2)
    append(log, more[10:])
    expected = [a for a in expected_standin_alerts(lines + more, 3) if not a.get("partial")]
    wait_for(lambda: len(first.alerts()) + len(second.alerts()) == len(expected), what="second run alerts")
    second.process.send_signal(signal.SIGTERM)
    assert second.wait() == 0, second.stderr
    assert canonical(first.alerts() + second.alerts()) == canonical(expected)


def test_sighup_restarts_parsers_without_losing_lines(tmp_path, standin):
    log = tmp_path / "app.log"
    log.write_text("")
    run = standin(mode="live", patterns=[str(log)], parsers=2, shards=1, extras={"capacity": 1}).start()
    wait_started(run, 2)
    before = role_pids(run, "parser")
    append(log, make_lines(0, 50))
    run.process.send_signal(signal.SIGHUP)
    append(log, make_lines(50, 100))
    wait_for(lambda: len(role_pids(run, "parser")) == 2 and not set(role_pids(run, "parser")) & set(before),
             what="parsers to be replaced")
    append(log, make_lines(100, 120))
    wait_for(lambda: len(run.alerts()) >= 120, what="all lines")
    run.process.send_signal(signal.SIGTERM)
    assert run.wait() == 0, run.stderr
    assert sorted(a["ns"][0] for a in run.alerts()) == list(range(120))
    assert run.metrics["respawns"] == 0


def test_second_sigint_means_quick_shutdown_and_no_child_is_left(tmp_path, standin):
    log = tmp_path / "app.log"
    log.write_text("")
    run = standin(mode="live", patterns=[str(log)], parsers=2, shards=2, extras={"capacity": 1}).start()
    wait_started(run, 2)
    children = psutil.Process(run.process.pid).children()
    run.process.send_signal(signal.SIGINT)
    run.process.send_signal(signal.SIGINT)
    assert run.wait(timeout=30) == 0, run.stderr
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []


def test_killed_supervisor_resumes_from_acked_checkpoint(tmp_path, standin):
    log = tmp_path / "app.log"
    log.write_text("")
    state = tmp_path / "state"
    positions = state / "positions.json"
    common = dict(mode="live", patterns=[str(log)], parsers=2, shards=1, state_dir=str(state),
                  positions_path=str(positions), checkpoint_interval=0.2, extras={"capacity": 1})
    first = standin(**common).start()
    wait_started(first, 2)
    append(log, make_lines(0, 60))
    wait_for(lambda: len(first.alerts()) == 60, what="first lines")
    wait_for(lambda: positions.exists() and json.loads(positions.read_text())[str(log)]["offset"]
             == log.stat().st_size, what="checkpoint")
    children = psutil.Process(first.process.pid).children()
    first.process.kill()  # no graceful stop: the checkpoint is all there is
    first.process.wait()
    psutil.wait_procs(children, timeout=10)  # children notice their parent is gone
    append(log, make_lines(60, 90))  # written while nothing runs
    second = standin(**common).start()
    wait_started(second, 2)
    wait_for(lambda: len(second.alerts()) >= 30, what="lines written while down")
    second.process.send_signal(signal.SIGTERM)
    assert second.wait() == 0, second.stderr
    assert sorted(a["ns"][0] for a in first.alerts() + second.alerts()) == list(range(90))
