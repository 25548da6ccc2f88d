"""Bytes in, log lines out (spec/event.md §1: how the file datasource splits lines).

Rules, in the order they apply:

* lines are split on b"\\n"; one trailing b"\\r" is removed (Go bufio.ScanLines);
* empty lines are skipped (they never become events);
* a final line without a newline is emitted by `finish()` (cat mode, or when a
  tailed file is rotated away); a tail reader keeps it pending instead;
* bytes are decoded as UTF-8 with errors="replace": binary garbage becomes
  U+FFFD characters and reaches the parsers (which count it as unparsed), it
  never raises;
* over-long lines: a line longer than `max_line_bytes` (default 64 KiB, the
  size of CrowdSec's default `max_buffer_size`) is **truncated** to its first
  `max_line_bytes` bytes and emitted once; the rest of that line is discarded
  without being buffered (memory stays bounded whatever the input), and
  `truncated_lines` is incremented. Truncating rather than skipping keeps the
  line visible: it is counted here and, almost always, again as unparsed.
"""

from __future__ import annotations

DEFAULT_MAX_LINE_BYTES = 64 * 1024


def decode_line(data: bytes) -> str:
    """One raw line (newline already removed) as text; strips one trailing CR."""
    if data.endswith(b"\r"):
        data = data[:-1]
    return data.decode("utf-8", errors="replace")


class LineSplitter:
    """Incremental splitter: `feed()` chunks, get complete lines back.

    `pending_bytes` is the size of the incomplete last line kept in memory (a
    tail reader subtracts it from the file offset to know where the last
    complete line ended).
    """

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.truncated_lines = 0
        self._buffer = bytearray()
        # True while we are discarding the tail of an over-long line whose
        # truncated head was already emitted.
        self._discarding = False
        # Bytes of the current line consumed but no longer buffered (emitted
        # head and discarded tail of an over-long line).
        self._discarded_bytes = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of the unfinished current line (kept or discarded)."""
        return len(self._buffer) + self._discarded_bytes

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        start = 0
        size = len(data)
        while start < size:
            newline = data.find(b"\n", start)
            end = size if newline < 0 else newline
            piece = data[start:end]
            if self._discarding:
                self._discarded_bytes += len(piece)
            else:
                room = self.max_line_bytes - len(self._buffer)
                if len(piece) > room:
                    self._buffer += piece[:room]
                    self._emit_truncated(lines)
                    # The emitted head still belongs to the unfinished line.
                    self._discarded_bytes += len(piece) + self.max_line_bytes - room
                else:
                    self._buffer += piece
            if newline < 0:
                break
            # End of the current line.
            if self._discarding:
                self._discarding = False
            else:
                self._emit(lines)
            self._buffer.clear()
            self._discarded_bytes = 0
            start = newline + 1
        return lines

    def finish(self) -> list[str]:
        """Flush the final line that had no newline (end of a file)."""
        lines: list[str] = []
        if not self._discarding:
            self._emit(lines)
        self._buffer.clear()
        self._discarding = False
        self._discarded_bytes = 0
        return lines

    def _emit(self, lines: list[str]) -> None:
        text = decode_line(bytes(self._buffer))
        if text:
            lines.append(text)

    def _emit_truncated(self, lines: list[str]) -> None:
        self.truncated_lines += 1
        # The kept head is emitted as is: a trailing CR inside it is not a line end.
        lines.append(bytes(self._buffer).decode("utf-8", errors="replace"))
        self._buffer.clear()
        self._discarding = True


def split_lines(data: bytes, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> list[str]:
    """All lines of a complete byte string (convenience for cat mode and tests)."""
    splitter = LineSplitter(max_line_bytes)
    return splitter.feed(data) + splitter.finish()
