"""ZeroMQ sockets for the pipeline, with every option chosen on purpose.

* Only PUSH/PULL carry data: PUSH **blocks** at its high-water mark instead of
  dropping (zguide ch. 2), which is the backpressure we want: a slow shard
  slows the parsers, which stop acking, which stops the supervisor reading
  logs. HWMs are counted in messages; a message is a whole batch.
* Each shard binds its own PULL endpoint and every parser holds one PUSH per
  shard, so routing is by `shard_for(key, M)`, never PUSH round-robin.
* Each parser binds its own PULL too, so the supervisor knows which batch went
  to which worker (needed to re-dispatch after a crash).
* `linger` is bounded so a process never hangs on exit waiting for a dead peer.
* Endpoints are `ipc://` files in a per-run directory (`RunDir`), created
  before any child starts and removed at the end.

Contexts: every process creates its own `zmq.Context` after it started (the
supervisor creates its context only after spawning, children in their main),
never sharing one across fork.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import zmq

#: Messages (= batches) queued per PUSH/PULL pipe before the sender blocks.
DEFAULT_HWM = 64
#: Milliseconds a closing socket may spend flushing pending messages.
DEFAULT_LINGER_MS = 1000


class RunDir:
    """A private directory holding this run's ipc endpoints (and nothing else)."""

    def __init__(self, path: str | None = None):
        if path is None:
            # ipc paths are limited to ~107 bytes: keep it short, under /tmp.
            path = tempfile.mkdtemp(prefix="csmp-")
            self.owned = True
        else:
            os.makedirs(path, exist_ok=True)
            self.owned = False
        self.path = path

    def endpoint(self, name: str) -> str:
        return f"ipc://{os.path.join(self.path, name)}"

    # Endpoint names, in one place so every role agrees on them.
    def parser_in(self, index: int) -> str:
        return self.endpoint(f"parser-{index}.in")

    def shard_in(self, index: int) -> str:
        return self.endpoint(f"shard-{index}.in")

    def output_in(self) -> str:
        return self.endpoint("output.in")

    def control(self) -> str:
        return self.endpoint("control")

    def cleanup(self) -> None:
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)


def _configure(sock: zmq.Socket, hwm: int, linger_ms: int) -> zmq.Socket:
    sock.sndhwm = hwm
    sock.rcvhwm = hwm
    sock.linger = linger_ms
    return sock


def push(ctx: zmq.Context, endpoint: str, *, bind: bool = False, hwm: int = DEFAULT_HWM,
         linger_ms: int = DEFAULT_LINGER_MS) -> zmq.Socket:
    """A PUSH socket: send() blocks when the peer's queue is full (backpressure)."""
    sock = _configure(ctx.socket(zmq.PUSH), hwm, linger_ms)
    # Do not queue messages for a peer that is not connected yet (a dead worker):
    # the sender then blocks or fails instead of filling a dead pipe.
    sock.setsockopt(zmq.IMMEDIATE, 1)
    sock.bind(endpoint) if bind else sock.connect(endpoint)
    return sock


def pull(ctx: zmq.Context, endpoint: str, *, bind: bool = True, hwm: int = DEFAULT_HWM,
         linger_ms: int = 0) -> zmq.Socket:
    """A PULL socket, bound by default (the receiving role owns its endpoint)."""
    sock = _configure(ctx.socket(zmq.PULL), hwm, linger_ms)
    sock.bind(endpoint) if bind else sock.connect(endpoint)
    return sock


def send_or_wait(sock: zmq.Socket, frame: bytes, timeout_ms: int) -> bool:
    """Send, waiting at most `timeout_ms` for room; False when the peer stayed full/absent."""
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLOUT)
    if not poller.poll(timeout_ms):
        return False
    try:
        sock.send(frame, zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True
