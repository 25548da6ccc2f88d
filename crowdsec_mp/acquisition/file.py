"""The `file` datasource: cat mode (read once, .gz aware) and tail mode (follow).

Tail mode, what it guarantees and how:

* **Rotation by rename** (logrotate `create`): the path now names another inode.
  The old file descriptor is kept as *retired* and still read until it has not
  grown for `retire_after` seconds, because the writer keeps appending to it
  until it reopens its log; then its last partial line is emitted and it is
  closed. The new file at the path is read from offset 0.
* **copytruncate**: same inode, but the file is shorter than our offset, or its
  head (first line, up to 256 bytes) changed although it is not shorter
  (truncated then refilled between two polls). Reading restarts at 0.
* **Files appearing later** through a glob are discovered every
  `discovery_interval` seconds and read from offset 0 (everything in them is new).
  Files present at start are read from their end, like CrowdSec, unless a saved
  position for the same file (same inode and head) says where we stopped.
* **Positions** (`save_state()` / `positions=`): path -> inode, offset of the end of
  the last complete line, head length and md5, so a restart resumes without
  loss or duplicates. A file whose saved identity does not match was replaced
  while we were down: it is read from 0.

Lines are split by `lines.LineSplitter` (event.md §1 rules, over-long lines
truncated and counted).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import re
import time
from collections import deque

from crowdsec_mp.acquisition.base import RawLine, Source
from crowdsec_mp.acquisition.lines import DEFAULT_MAX_LINE_BYTES, LineSplitter

CHUNK_SIZE = 64 * 1024
HEAD_BYTES = 256


def _read_head(fd: int) -> bytes:
    """The first line of a file (with its newline), at most HEAD_BYTES bytes."""
    data = os.pread(fd, HEAD_BYTES, 0)
    newline = data.find(b"\n")
    return data if newline < 0 else data[: newline + 1]


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class _TailedFile:
    """One open file being followed. Offsets are bytes consumed from the fd."""

    def __init__(self, path: str, max_line_bytes: int, start_at_end: bool, saved: dict | None):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        st = os.fstat(self.fd)
        self.identity = (st.st_dev, st.st_ino)
        self.splitter = LineSplitter(max_line_bytes)
        self.head = _read_head(self.fd)
        self.offset = 0
        if saved and self._matches(saved, st.st_size):
            self.offset = int(saved["offset"])
        elif start_at_end and not saved:
            self.offset = st.st_size
            # Do not start in the middle of a line: skip back to the last newline.
            self.offset = self._last_line_start(st.st_size)
        self.last_growth = time.monotonic()

    def _matches(self, saved: dict, size: int) -> bool:
        try:
            same_inode = (int(saved["dev"]), int(saved["ino"])) == self.identity
            head_len = int(saved["head_len"])
            offset = int(saved["offset"])
        except (KeyError, TypeError, ValueError):
            return False
        head = os.pread(self.fd, head_len, 0)
        return same_inode and size >= offset and _md5(head) == saved.get("head_md5")

    def _last_line_start(self, size: int) -> int:
        if size == 0:
            return 0
        tail = os.pread(self.fd, min(size, CHUNK_SIZE), max(0, size - CHUNK_SIZE))
        newline = tail.rfind(b"\n")
        if newline < 0:
            return size if size > CHUNK_SIZE else 0
        return size - len(tail) + newline + 1

    def check_truncation(self) -> bool:
        """True (and rewind to 0) when the file was truncated (copytruncate)."""
        size = os.fstat(self.fd).st_size
        consumed = self.offset
        truncated = size < consumed
        if not truncated and self.head:
            truncated = os.pread(self.fd, len(self.head), 0) != self.head
        if truncated:
            self.offset = 0
            self.splitter = LineSplitter(self.splitter.max_line_bytes)
            self.head = _read_head(self.fd)
            return True
        if len(self.head) < HEAD_BYTES and not self.head.endswith(b"\n"):
            self.head = _read_head(self.fd)
        return False

    def read(self, max_bytes: int) -> tuple[list[str], bool]:
        """Read up to max_bytes from the current offset: (complete lines, more_available)."""
        data = os.pread(self.fd, max_bytes, self.offset)
        if not data:
            return [], False
        self.offset += len(data)
        self.last_growth = time.monotonic()
        return self.splitter.feed(data), len(data) == max_bytes

    def finish(self) -> list[str]:
        return self.splitter.finish()

    def position(self) -> dict:
        return {
            "dev": self.identity[0],
            "ino": self.identity[1],
            "offset": self.offset - self.splitter.pending_bytes,
            "head_len": len(self.head),
            "head_md5": _md5(self.head),
        }

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _open_cat(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


class FileSource(Source):
    """`source: file`. `patterns` are paths or globs; `exclude_regexps` filter paths."""

    module = "file"

    def __init__(
        self,
        name: str,
        patterns: list[str],
        labels: dict,
        mode: str = "tail",
        exclude_regexps: list[str] = (),
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        positions: dict | None = None,
        discovery_interval: float = 1.0,
        retire_after: float = 5.0,
    ):
        super().__init__(name, labels, mode)
        self.patterns = list(patterns)
        self.excludes = [re.compile(expr) for expr in exclude_regexps]
        self.max_line_bytes = max_line_bytes
        self.saved_positions = dict(positions or {})
        self.discovery_interval = discovery_interval
        self.retire_after = retire_after
        self._ready: deque[RawLine] = deque()
        self._tailed: dict[str, _TailedFile] = {}
        self._retired: list[_TailedFile] = []
        self._next_discovery = 0.0
        self._cat_queue: deque[str] = deque()
        self._cat_stream = None
        self._cat_path = ""
        self._cat_splitter: LineSplitter | None = None
        self._started = False

    # -- discovery -------------------------------------------------------------
    def matching_paths(self) -> list[str]:
        found = set()
        for pattern in self.patterns:
            for path in glob.glob(pattern):
                if os.path.isfile(path) and not any(rx.search(path) for rx in self.excludes):
                    found.add(path)
        return sorted(found)

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.mode == "cat":
            self._cat_queue.extend(self.matching_paths())
            if not self._cat_queue:
                self.last_error = f"no file matches {self.patterns}"
        else:
            self._discover(initial=True)

    def _discover(self, initial: bool) -> None:
        self._next_discovery = time.monotonic() + self.discovery_interval
        for path in self.matching_paths():
            if path in self._tailed or path.endswith(".gz"):
                continue
            try:
                self._tailed[path] = _TailedFile(
                    path, self.max_line_bytes, start_at_end=initial,
                    saved=self.saved_positions.pop(path, None),
                )
            except OSError as exc:
                self._count("errors")
                self.last_error = f"{path}: {exc.strerror or exc}"

    # -- polling ---------------------------------------------------------------
    def poll(self, max_lines: int = 1000) -> list[RawLine]:
        if not self._started:
            self.start()
        if self.mode == "cat":
            self._poll_cat(max_lines)
        else:
            self._poll_tail(max_lines)
        batch = []
        while self._ready and len(batch) < max_lines:
            batch.append(self._ready.popleft())
        return batch

    def _push(self, src: str, lines: list[str]) -> None:
        for text in lines:
            self._ready.append(RawLine(text, src, self.labels, self.module))
        self._count("lines_read", len(lines))

    def _poll_cat(self, max_lines: int) -> None:
        while len(self._ready) < max_lines:
            if self._cat_stream is None:
                if not self._cat_queue:
                    self.done = True
                    return
                self._cat_path = self._cat_queue.popleft()
                try:
                    self._cat_stream = _open_cat(self._cat_path)
                except OSError as exc:
                    self._count("errors")
                    self.last_error = f"{self._cat_path}: {exc.strerror or exc}"
                    continue
                self._cat_splitter = LineSplitter(self.max_line_bytes)
            try:
                data = self._cat_stream.read(CHUNK_SIZE)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                # A corrupt .gz: keep what was decoded, report, go on with the next file.
                self._count("errors")
                self.last_error = f"{self._cat_path}: {exc}"
                data = b""
            if data:
                self._push(self._cat_path, self._cat_splitter.feed(data))
            else:
                self._push(self._cat_path, self._cat_splitter.finish())
                self._count("lines_truncated", self._cat_splitter.truncated_lines)
                self._cat_stream.close()
                self._cat_stream = None

    def _poll_tail(self, max_lines: int) -> None:
        if time.monotonic() >= self._next_discovery:
            self._detect_rotation()
            self._discover(initial=False)
        for tailed in list(self._retired):
            self._drain(tailed, max_lines)
            if time.monotonic() - tailed.last_growth >= self.retire_after:
                self._push(tailed.path, tailed.finish())
                tailed.close()
                self._retired.remove(tailed)
        for tailed in self._tailed.values():
            if tailed.check_truncation():
                self._count("truncations")
            self._drain(tailed, max_lines)

    def _drain(self, tailed: _TailedFile, max_lines: int) -> None:
        before = tailed.splitter.truncated_lines
        more = True
        while more and len(self._ready) < max_lines:
            lines, more = tailed.read(CHUNK_SIZE)
            self._push(tailed.path, lines)
        self._count("lines_truncated", tailed.splitter.truncated_lines - before)

    def _detect_rotation(self) -> None:
        for path, tailed in list(self._tailed.items()):
            try:
                st = os.stat(path)
                moved = (st.st_dev, st.st_ino) != tailed.identity
            except FileNotFoundError:
                moved = True
            if moved:
                # Keep reading the old inode for a while; the new file (if any)
                # is picked up by discovery from offset 0.
                self._count("rotations")
                tailed.last_growth = time.monotonic()
                self._retired.append(tailed)
                del self._tailed[path]

    def save_state(self) -> dict:
        return {path: tailed.position() for path, tailed in self._tailed.items()}

    def close(self) -> None:
        for tailed in list(self._tailed.values()) + self._retired:
            tailed.close()
        self._tailed.clear()
        self._retired.clear()
        if self._cat_stream is not None:
            self._cat_stream.close()
            self._cat_stream = None
