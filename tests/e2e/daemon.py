"""Helpers for tests that run the real crowdsec-mp daemon as a separate process:
free ports, waiting for the Local API to answer, and stopping the daemon and
every process it started (its workers run in their own process groups, so
killing the daemon's group alone would leave them behind)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def go_duration_seconds(duration: str) -> float:
    """A Go-style duration as the LAPI prints remaining times ("3h59m58s", "59m58.5s")."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"unexpected duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def output_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a daemon's output file, for assertion messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no output: {exc})"


class DaemonProcesses:
    """A daemon started with `start_new_session=True`; remembers every descendant
    it has seen so that `stop()` can reach workers whose parent already died."""

    def __init__(self, proc: subprocess.Popen, output: Path):
        self.proc = proc
        self.output = output
        self.seen: dict[int, psutil.Process] = {}

    def descendants(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        for child in children:
            self.seen.setdefault(child.pid, child)
        return children

    def wait_for_health(self, url: str, timeout: float) -> None:
        """Poll `url`/health until it answers 200; fail early if the daemon exits."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited with {self.proc.returncode}:\n{output_tail(self.output)}")
            try:
                answer = requests.get(url.rstrip("/") + "/health", timeout=2)
                if answer.status_code == 200:
                    self.descendants()
                    return
                last = f"HTTP {answer.status_code}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.5)
        raise AssertionError(f"{url}/health did not answer 200 within {timeout}s ({last}):\n{output_tail(self.output)}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal the daemon's process group, wait up to `timeout`, then SIGKILL the
        group and every descendant still alive. Returns the daemon's exit code
        (None if it had to be killed)."""
        self.descendants()
        code = None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                code = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = None
        else:
            code = self.proc.returncode
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        leftovers = [p for p in self.seen.values() if p.is_running()]
        for process in leftovers:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(leftovers, timeout=10)
        return code
