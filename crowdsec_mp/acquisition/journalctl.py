"""The `journalctl` datasource: lines printed by a `journalctl` child process.

Tail mode runs `journalctl --follow -n 0 -o short <filters>` (only new entries);
cat mode (DSN `journalctl://filters=...`) runs `journalctl -o short <filters>` and
is done when the process exits. Output is read through a non-blocking pipe so
`poll()` never blocks the supervisor loop. stderr is kept (bounded) so that a
journalctl failure is reported with its message instead of a silent stop.

`journalctl_bin` is injectable: tests point it at a small script, hosts without
systemd get a clear error at start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import deque

from crowdsec_mp.acquisition.base import RawLine, Source
from crowdsec_mp.acquisition.lines import DEFAULT_MAX_LINE_BYTES, LineSplitter
from crowdsec_mp.errors import BootError

CHUNK_SIZE = 64 * 1024
STDERR_KEEP = 4096


class JournalctlSource(Source):
    module = "journalctl"

    def __init__(
        self,
        name: str,
        filters: list[str],
        labels: dict,
        mode: str = "tail",
        journalctl_bin: str = "journalctl",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ):
        super().__init__(name, labels, mode)
        self.filters = list(filters)
        self.journalctl_bin = journalctl_bin
        self.splitter = LineSplitter(max_line_bytes)
        # CrowdSec names the source after its filters.
        self.src = "journalctl-" + "-".join(self.filters)
        self.process: subprocess.Popen | None = None
        self._ready: deque[RawLine] = deque()
        self._stderr = b""

    def command(self) -> list[str]:
        if self.mode == "cat":
            return [self.journalctl_bin, "-o", "short", *self.filters]
        return [self.journalctl_bin, "--follow", "-n", "0", "-o", "short", *self.filters]

    def start(self) -> None:
        if self.process is not None:
            return
        if shutil.which(self.journalctl_bin) is None:
            raise BootError(f"source {self.name!r}: {self.journalctl_bin!r} not found in PATH")
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        os.set_blocking(self.process.stdout.fileno(), False)
        os.set_blocking(self.process.stderr.fileno(), False)

    def fileno_list(self) -> list[int]:
        return [self.process.stdout.fileno()] if self.process and self.process.stdout else []

    def poll(self, max_lines: int = 1000) -> list[RawLine]:
        if self.process is None:
            self.start()
        if not self.done:
            self._read_available(max_lines)
        batch = []
        while self._ready and len(batch) < max_lines:
            batch.append(self._ready.popleft())
        return batch

    def _read_available(self, max_lines: int) -> None:
        eof = False
        while len(self._ready) < max_lines:
            try:
                data = os.read(self.process.stdout.fileno(), CHUNK_SIZE)
            except BlockingIOError:
                break
            if not data:
                eof = True
                break
            self._push(self.splitter.feed(data))
        self._read_stderr()
        if eof:
            self._push(self.splitter.finish())
            code = self.process.wait()
            self._read_stderr()
            self.done = True
            if code != 0 or self.mode != "cat":
                self._count("errors")
                detail = self._stderr.decode("utf-8", "replace").strip()
                self.last_error = f"journalctl exited with status {code}: {detail}"
        self.counters["lines_truncated"] = self.splitter.truncated_lines

    def _read_stderr(self) -> None:
        while True:
            try:
                data = os.read(self.process.stderr.fileno(), CHUNK_SIZE)
            except BlockingIOError:
                return
            if not data:
                return
            self._stderr = (self._stderr + data)[-STDERR_KEEP:]

    def _push(self, lines: list[str]) -> None:
        for text in lines:
            self._ready.append(RawLine(text, self.src, self.labels, self.module))
        self._count("lines_read", len(lines))

    def close(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
