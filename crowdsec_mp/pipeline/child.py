"""Entry point and shared plumbing of every child process.

    python -m crowdsec_mp.pipeline.child ROLE INDEX RUN_JSON [START_BATCH]

ROLE is `parser`, `shard`, `output` or `api`. `ChildRuntime` gives each role the
same lifecycle (gunicorn's worker hooks, in small): own zmq context created in
the child, a control PUSH to the supervisor for heartbeats/acks/boot errors,
SIGTERM only sets a flag (the loop acts on it), SIGINT is ignored (the
supervisor orders the shutdown, a terminal ^C must not kill children out of
order), and the child exits on its own when its parent disappears.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import time

import zmq

from crowdsec_mp.errors import CrowdsecMPError
from crowdsec_mp.pipeline import sockets, wire
from crowdsec_mp.pipeline.runspec import EXIT_BOOT_ERROR, RunSpec

log = logging.getLogger("crowdsec_mp.pipeline")

#: How long a child waits to hand a control message to a supervisor that may be gone.
CONTROL_SEND_TIMEOUT_MS = 2000
#: Allocations between two young-generation collections once the stage is loaded
#: (CPython's default is 700). Events are mostly freed by reference counting, so
#: collecting rarely costs little memory and saves the repeated scans of a big heap.
GC_YOUNG_THRESHOLD = 20_000


class ParentGone(Exception):
    """The supervisor died: the child stops (nobody would read its output)."""


class ChildRuntime:
    def __init__(self, role: str, index: int, run: RunSpec):
        self.role = role
        self.index = index
        self.run = run
        self.run_dir = sockets.RunDir(run.run_dir)
        self.parent_pid = os.getppid()
        self.stop_requested = False
        self.frames = wire.FrameStats()
        self.stats: dict = {}
        #: The role's stage; its optional `metrics()` rides along with heartbeats.
        self.stage = None
        #: First batch id a respawned shard must expect (0 for a first start).
        self.start_batch = 0
        self._next_heartbeat = 0.0
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.ctx = zmq.Context()
        self.control = sockets.push(self.ctx, self.run_dir.control(), hwm=10000)

    def _on_sigterm(self, signum, frame):
        # Only a flag: the main loop finishes its current message, then stops.
        self.stop_requested = True

    def parent_alive(self) -> bool:
        return os.getppid() == self.parent_pid

    def send_control(self, kind: str, payload: dict) -> None:
        frame = wire.encode(kind, payload)
        while not sockets.send_or_wait(self.control, frame, CONTROL_SEND_TIMEOUT_MS):
            if not self.parent_alive():
                raise ParentGone()

    def heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now >= self._next_heartbeat:
            self._next_heartbeat = now + self.run.heartbeat_interval
            stats = dict(self.stats, bad_frames=self.frames.bad_frames)
            if self.stage is not None and hasattr(self.stage, "metrics"):
                stats["stage"] = self.stage.metrics()
            self.send_control("heartbeat", {"role": self.role, "index": self.index, "pid": os.getpid(),
                                            "stats": stats})
            if not self.parent_alive():
                raise ParentGone()

    def send_data(self, sock: zmq.Socket, frame: bytes) -> None:
        """Blocking send (backpressure) that still heartbeats and notices a dead parent."""
        while not sockets.send_or_wait(sock, frame, 500):
            self.heartbeat()

    def set_stage(self, stage) -> None:
        """The role's stage is built: its (large, long-lived) compiled parsers,
        scenarios and data files are moved out of the collector's sight."""
        self.stage = stage
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    def boot_error(self, message: str) -> int:
        log.error("%s-%d cannot start: %s", self.role, self.index, message)
        try:
            self.send_control("boot_error", {"role": self.role, "index": self.index, "message": message})
        except ParentGone:
            pass
        return EXIT_BOOT_ERROR

    def close(self) -> None:
        self.ctx.destroy(linger=sockets.DEFAULT_LINGER_MS)


def run_role(role: str, index: int, run: RunSpec, start_batch: int = 0) -> int:
    if role == "parser":
        from crowdsec_mp.pipeline.parser_worker import main
    elif role == "shard":
        from crowdsec_mp.pipeline.shard import main
    elif role == "output":
        from crowdsec_mp.pipeline.output import main
    elif role == "api":
        from crowdsec_mp.pipeline.api_process import main
    else:
        print(f"unknown role {role!r}", file=sys.stderr)
        return 2
    runtime = ChildRuntime(role, index, run)
    runtime.start_batch = start_batch
    profile_dir = os.environ.get("CROWDSEC_MP_PROFILE_DIR")
    try:
        if profile_dir:
            return _profiled(main, runtime, os.path.join(profile_dir, f"{role}-{index}-{os.getpid()}.prof"))
        return main(runtime)
    except ParentGone:
        return 0
    except CrowdsecMPError as exc:
        return runtime.boot_error(str(exc))
    finally:
        runtime.close()


def _profiled(main, runtime, path: str) -> int:
    """Runs the role under cProfile and writes its statistics to `path` (a
    development aid for benchmarks: `CROWDSEC_MP_PROFILE_DIR=DIR crowdsec-mp ...`)."""
    import cProfile

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(main, runtime)
    finally:
        profiler.dump_stats(path)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (3, 4):
        print("usage: python -m crowdsec_mp.pipeline.child ROLE INDEX RUN_JSON [START_BATCH]", file=sys.stderr)
        return 2
    role, index, run_json = argv[:3]
    start_batch = int(argv[3]) if len(argv) == 4 else 0
    logging.basicConfig(level=os.environ.get("CROWDSEC_MP_LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s {role}-{index} %(levelname)s %(message)s")
    return run_role(role, int(index), RunSpec.load(run_json), start_batch)


if __name__ == "__main__":
    raise SystemExit(main())
