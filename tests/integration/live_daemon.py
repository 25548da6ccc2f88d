"""Helpers for tests that run `crowdsec-mp` in live mode (real processes, real sockets)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import requests
import yaml

from tests.integration.daemon_env import daemon_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def ssh_failures(ip: str, count: int, first_port: int = 40000) -> list[str]:
    """sshd 'Failed password' syslog lines (ssh_failed-auth for the project's parsers)."""
    stamp = datetime.now(timezone.utc).strftime("%b %d %H:%M:%S")
    return [f"{stamp} web01 sshd[{2000 + i}]: Failed password for root from {ip} port {first_port + i} ssh2"
            for i in range(count)]


def append(path: Path, lines, mode: str = "a") -> None:
    with open(path, mode) as handle:
        handle.write("".join(line + "\n" for line in lines))


def set_acquisition(config: Path, log: Path, log_type: str = "syslog") -> None:
    (config.parent / "acquis.yaml").write_text(yaml.safe_dump({"filenames": [str(log)],
                                                               "labels": {"type": log_type}}))


class LiveDaemon:
    """`crowdsec-mp -c CONFIG ARGS...` as a subprocess; stop() sends SIGTERM and waits."""

    def __init__(self, config: Path, *args: str):
        self.command = [sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config), *args]
        self.process: subprocess.Popen | None = None

    def start(self) -> "LiveDaemon":
        self.process = subprocess.Popen(self.command, env=daemon_env(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        return self

    def children(self, role: str) -> list[psutil.Process]:
        found = []
        try:
            for proc in psutil.Process(self.process.pid).children():
                try:
                    if f"child {role}" in " ".join(proc.cmdline()):
                        found.append(proc)
                except psutil.Error:
                    continue
        except psutil.NoSuchProcess:
            pass
        return found

    def wait_tailing(self, timeout: float = 60) -> None:
        # Children are spawned after the sources started: from then on, appended lines count.
        wait_for(lambda: self.process.poll() is not None or (self.children("output") and self.children("parser")),
                 timeout, "the daemon's children")
        assert self.process.poll() is None, self.process.stderr.read()

    def stop(self, timeout: float = 60) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=timeout)
        return err

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                try:
                    child.kill()
                except psutil.Error:
                    pass
            self.process.kill()
            self.process.communicate(timeout=30)


def scrape(port: int) -> dict:
    """Prometheus endpoint -> {(metric sample name, frozen labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def metric_sum(samples: dict, metric: str, **labels) -> float:
    total = 0.0
    for (sample_name, sample_labels), value in samples.items():
        if sample_name == metric and all(dict(sample_labels).get(k) == v for k, v in labels.items()):
            total += value
    return total


def read_alerts(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
