"""First-run acceptance test: the README quick start, followed literally on a
fresh copy of this repository.

1. Copy the repository the test runs from into a temp dir: `git clone` when the
   working tree is clean, else the files of `git ls-files -co --exclude-standard`
   (so what is tested is what is on disk, committed or not).
2. Drop a file in `conf.d/acquis.d/` that watches a log of our own (the way the
   README documents to watch another file), then run `scripts/run.sh` in the
   background, in its own session.
3. The daemon runs: supervisor + parser/shard/output/api processes, LAPI /health.
4. An SSH brute force appended to the watched log becomes a ban decision, seen by
   `cscli-mp decisions list -o json` and by a bouncer (key from `cscli-mp bouncers
   add`) on `/v1/decisions/stream?startup=true`.
5. `scripts/unban.sh IP` removes it: `deleted` in the next stream pull, absent
   from `decisions list`.
6. Ctrl-C (SIGINT), as the README says, stops the daemon and all its processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from tests.e2e.daemon import DaemonProcesses, go_duration_seconds, output_tail, port_in_use

ATTACKER = "203.0.113.77"  # TEST-NET-3: public, so not whitelisted as private
# crowdsec-mp/ssh-bf overflows on the 6th failed login within 10s; 8 stays below
# ssh-slow-bf (11) and, with one user name, ssh-user-enum: exactly one decision.
FAILED_LOGINS = 8
ENV_TO_DROP = ("PYTHONPATH", "CROWDSEC_MP_CONFIG", "CROWDSEC_MP_RUN_DIR", "CSCLI_MP", "PYTHON", "VIRTUAL_ENV")


def git(repo: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=60)


def fresh_copy(repo_root: Path, dest: Path) -> str:
    """Put a fresh copy of the repository at `dest`; returns how it was made."""
    if git(repo_root, "rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip(f"{repo_root} is not a git checkout: nothing to clone the quick start from")
    status = git(repo_root, "status", "--porcelain")
    assert status.returncode == 0, status.stderr
    if not status.stdout.strip():
        cloned = subprocess.run(["git", "clone", "--quiet", str(repo_root), str(dest)],
                                capture_output=True, text=True, timeout=120)
        assert cloned.returncode == 0, cloned.stderr
        return "git clone (clean working tree)"
    listed = git(repo_root, "ls-files", "-co", "--exclude-standard", "-z")
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = repo_root / name
        if source.is_file():  # tracked files deleted on disk are listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return "copy of git ls-files -co --exclude-standard (uncommitted changes)"


def quickstart_env(clone: Path) -> dict:
    """The user's environment, minus anything pointing at another checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_TO_DROP}
    if Path("/etc/crowdsec-mp/config.yaml").is_file():
        # cscli-mp and the scripts would prefer the system installation.
        env["CROWDSEC_MP_CONFIG"] = str(clone / "conf.d" / "config.yaml")
    return env


def syslog_line(ip: str, attempt: int) -> str:
    now = datetime.now()
    return (f"{now:%b} {now.day:>2} {now:%H:%M:%S} web1 sshd[{4000 + attempt}]: "
            f"Failed password for invalid user admin from {ip} port {40000 + attempt} ssh2\n")


def gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def poll(what: str, check, timeout: float, interval: float = 1.0, details=lambda: ""):
    """Call `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{details()}")
        time.sleep(interval)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_readme_quickstart_bans_and_unbans(repo_root, tmp_path):
    readme = (repo_root / "README.md").read_text()
    assert "scripts/run.sh" in readme and "conf.d/acquis.d/" in readme, "the README quick start changed"

    clone = tmp_path / "crowdsec_mp"
    clone.mkdir()
    how = fresh_copy(repo_root, clone)
    config = yaml.safe_load((clone / "conf.d" / "config.yaml").read_text())
    lapi_port = int(config["api"]["server"]["listen_uri"].rsplit(":", 1)[1])
    busy = [port for port in (lapi_port, config["prometheus"]["listen_port"]) if port_in_use(port)]
    if busy:
        pytest.skip("the quick start listens on the default ports and something already listens on "
                    + ", ".join(f"127.0.0.1:{port}" for port in busy))
    lapi = f"http://127.0.0.1:{lapi_port}"

    # The README: a file dropped in conf.d/acquis.d/ is read in addition to acquis.yaml.
    watched = tmp_path / "logs" / "auth.log"
    watched.parent.mkdir()
    watched.write_text("")
    (clone / "conf.d" / "acquis.d" / "my-auth-log.yaml").write_text(
        yaml.safe_dump({"filenames": [str(watched)], "labels": {"type": "syslog"}}))

    env = quickstart_env(clone)
    output = tmp_path / "run.sh.out"
    started = time.monotonic()
    with open(output, "wb") as sink:
        proc = subprocess.Popen(["scripts/run.sh"], cwd=clone, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    daemon = DaemonProcesses(proc, output)
    cscli = str(clone / ".venv" / "bin" / "cscli-mp")

    def run(*argv, check=True):
        result = subprocess.run(list(argv), cwd=clone, env=env, capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, f"{argv}: {result.stderr}"
        return result

    def decisions_on(ip):
        alerts = json.loads(run(cscli, "decisions", "list", "-o", "json").stdout) or []
        return [d for a in alerts for d in (a.get("decisions") or []) if d["value"] == ip]

    try:
        # -- the daemon runs: LAPI health and the worker processes ------------------
        daemon.wait_for_health(lapi, timeout=180)
        ready = time.monotonic()
        roles = {" ".join(p.cmdline()[3:4]) for p in daemon.descendants()
                 if "crowdsec_mp.pipeline.child" in p.cmdline()}
        assert {"parser", "shard", "output", "api"} <= roles, f"worker processes: {roles}"
        assert (clone / ".venv" / "bin" / "crowdsec-mp").exists()
        assert (clone / "conf.d" / "scenarios" / "ssh-bf.yaml").exists(), "default collections not installed"

        # -- a brute force in the watched log becomes a ban ---------------------------
        with open(watched, "a") as log:
            for attempt in range(FAILED_LOGINS):
                log.write(syslog_line(ATTACKER, attempt))
        [decision] = poll(f"a decision on {ATTACKER}", lambda: decisions_on(ATTACKER), timeout=60,
                          details=lambda: output_tail(output))
        assert decision["type"] == "ban" and decision["origin"] == "crowdsec"
        assert decision["scenario"] == "crowdsec-mp/ssh-bf"
        assert 4 * 3600 - 300 < go_duration_seconds(decision["duration"]) <= 4 * 3600  # profiles.yaml: ban 4h
        banned = time.monotonic()

        # -- a bouncer sees it ------------------------------------------------------
        key = run(cscli, "bouncers", "add", "quickstart-bouncer", "-o", "raw").stdout.strip()
        assert key and " " not in key, f"unexpected bouncer key output {key!r}"
        headers = {"X-Api-Key": key}
        stream = requests.get(f"{lapi}/v1/decisions/stream", params={"startup": "true"}, headers=headers, timeout=10)
        assert stream.status_code == 200, stream.text
        new = [d for d in stream.json()["new"] or [] if d["value"] == ATTACKER]
        assert [(d["type"], d["scope"]) for d in new] == [("ban", "Ip")]

        # -- scripts/unban.sh removes it -------------------------------------------------
        unban = run("scripts/unban.sh", ATTACKER)
        assert "1 decision(s) deleted" in unban.stdout + unban.stderr
        stream = requests.get(f"{lapi}/v1/decisions/stream", headers=headers, timeout=10)
        assert stream.status_code == 200, stream.text
        body = stream.json()
        assert [d["value"] for d in body["deleted"] or []] == [ATTACKER]
        assert not [d for d in body["new"] or [] if d["value"] == ATTACKER]
        assert decisions_on(ATTACKER) == []

        # -- Ctrl-C stops the daemon and its workers ----------------------------------
        workers = daemon.descendants()
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=60)
        assert code in (0, 130, -signal.SIGINT), f"exit code {code}\n{output_tail(output)}"
        for worker in workers:
            poll(f"worker {worker.pid} to exit", lambda: gone(worker), timeout=30)
        print(f"\nquick start ({how}): LAPI healthy after {ready - started:.1f}s, "
              f"ban after {banned - ready:.1f}s, whole run {time.monotonic() - started:.1f}s")
    finally:
        daemon.stop()
