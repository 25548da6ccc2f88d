"""The arbiter: runs acquisition, spawns and watches every pipeline process.

Shape (gunicorn's arbiter, in small):

* **Signal handlers only queue** the signal number (and wake the loop through
  `signal.set_wakeup_fd`); `run()` handles them in its own loop.
* **One loop, fixed order:** signals -> control messages (acks, heartbeats,
  boot errors) -> reap dead children -> kill silent ones -> read sources and
  dispatch batches -> advance the stop/replay-end sequence -> wait.
* **Children** are real processes: `python -m crowdsec_mp.pipeline.child ROLE
  INDEX RUN_JSON [START_BATCH]` (fresh interpreter, its own zmq context).
* **Batches are tracked**: each batch id is kept with its frame and the worker
  it went to until that worker acks it. A parser that dies (or is killed for a
  stale heartbeat) is respawned and its unacknowledged batches go to the
  redispatch queue, sent before any new line; shards drop duplicate batch ids.
* **Credits, not queues:** a worker gets at most `max_inflight` unacked
  batches; when every worker is full the supervisor stops reading sources
  (backpressure reaches the reader, nothing is dropped).
* **Boot errors stop everything:** a child exiting with EXIT_BOOT_ERROR (bad hub
  YAML, missing engine...) halts the daemon with that child's message, and a
  slot that crashes `crash_limit` times in a minute halts it too: no respawn loop.
* **Ordered end** (replay end or SIGTERM/SIGINT): stop reading -> wait for every
  batch to be acked -> send `eof` (an ordered batch id) to every shard -> shards
  apply everything before it, then run end-of-input (replay) or dump bucket
  state (stop) and report to the output -> output flushes alerts and reports
  `output_done` -> parsers get `stop` -> every child has exited. A second
  SIGTERM/SIGINT, or `graceful_timeout`, turns this into TERM then KILL.
* **Tail positions** are checkpointed every `checkpoint_interval` seconds up to the
  last line whose batch was acked, and saved in full at a graceful stop.
* **SIGHUP** reloads: `reload_sources()` (given by the daemon) rebuilds the
  datasources, keeping tail positions, and parser workers are restarted one
  by one after they finished their batches, so they reload parsers/scenarios.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from operator import itemgetter
from queue import Empty, SimpleQueue

import zmq

from crowdsec_mp.config import PROJECT_DIR
from crowdsec_mp.pipeline import sockets, wire
from crowdsec_mp.pipeline.runspec import EXIT_BOOT_ERROR, RunSpec

log = logging.getLogger("crowdsec_mp.supervisor")

EXIT_OK = 0
EXIT_FAILED = 1


class HaltServer(Exception):
    """Stop the whole daemon now with this message and exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED):
        super().__init__(message)
        self.status = status


@dataclass
class Child:
    role: str
    index: int
    process: subprocess.Popen | None = None
    started: float = 0.0
    last_heartbeat: float = 0.0
    ready: bool = False
    #: Set when we asked it to exit (an exit is then not a crash).
    stopping: bool = False
    #: Parser being recycled after SIGHUP: no new batches, respawned on exit.
    retiring: bool = False
    stop_sent: bool = False
    exited: bool = False
    stats: dict = field(default_factory=dict)
    crashes: deque = field(default_factory=deque)

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


@dataclass
class Batch:
    batch_id: int
    frame: bytes
    source: str
    lines: int
    worker: int | None = None


class Supervisor:
    def __init__(
        self,
        run: RunSpec,
        sources: list,
        *,
        start_api: bool = False,
        graceful_timeout: float = 30.0,
        heartbeat_timeout: float = 30.0,
        boot_timeout: float = 120.0,
        max_inflight: int = 4,
        batch_lines: int = 500,
        crash_limit: int = 5,
        positions_path: str | None = None,
        reload_sources=None,
        progress=None,
        child_env: dict | None = None,
        agent: bool = True,
        keep_api_after_replay: bool = False,
        checkpoint_interval: float = 5.0,
    ):
        self.run = run
        self.sources = list(sources)
        self.start_api = start_api
        self.graceful_timeout = graceful_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.boot_timeout = boot_timeout
        self.max_inflight = max_inflight
        self.batch_lines = batch_lines
        self.crash_limit = crash_limit
        self.positions_path = positions_path
        #: Live mode: every this many seconds, tail positions whose lines were all
        #: acked are written to `positions_path`, so a crashed daemon resumes
        #: there (no loss, and duplicates limited to the unacked batches).
        self.checkpoint_interval = checkpoint_interval
        self._position_marks: deque = deque()  # (batch id, source name, positions after it)
        self._safe_positions: dict[str, dict] = {}
        self._next_checkpoint = time.monotonic() + checkpoint_interval
        self.reload_sources = reload_sources
        self.progress = progress
        self.child_env = child_env or {}
        self.run_dir = sockets.RunDir(run.run_dir)
        self.run_json = os.path.join(self.run_dir.path, "run.json")

        self.parsers = [Child("parser", i) for i in range(run.parser_workers)]
        self.shards = [Child("shard", j) for j in range(run.bucket_shards)]
        #: No agent (-no-cs): no parsers, shards or output, only the API.
        self.output = Child("output", 0) if agent else None
        self.api = Child("api", 0) if start_api else None
        #: Replay with the LAPI in the same daemon: keep serving after the replay (CrowdSec does).
        self.keep_api_after_replay = keep_api_after_replay and start_api

        self.next_batch = 0
        self.batches: dict[int, Batch] = {}
        self.redispatch: deque[int] = deque()
        self.phase = "running"  # running -> draining -> finishing -> stopping
        self.end_reason = ""
        self.stop_deadline: float | None = None
        self.eof_pending: set[int] = set()
        self.output_done: dict | None = None
        self.signals: SimpleQueue = SimpleQueue()
        self.frames = wire.FrameStats()
        self.metrics = {
            "lines_read": {}, "lines_parsed": {}, "lines_unparsed": {}, "batches_dispatched": 0,
            "batches_redispatched": 0, "respawns": 0, "killed_stale": 0,
            # (scenario, line src) -> events poured, from the acks (cs_bucket_poured_total).
            "poured": {},
        }
        self._source_cursor = 0
        #: line src -> labels.type, for the metrics' `type` label.
        self.src_types: dict[str, str] = {}
        #: Why the daemon stopped early ("" after a normal end).
        self.halt_message = ""
        self._wakeup_r = self._wakeup_w = -1

    # -- children --------------------------------------------------------------
    def all_children(self) -> list[Child]:
        return [*self.parsers, *self.shards, *([self.output] if self.output else []),
                *([self.api] if self.api else [])]

    def spawn(self, child: Child, start_batch: int = 0) -> None:
        command = [sys.executable, "-m", "crowdsec_mp.pipeline.child", child.role, str(child.index),
                   self.run_json]
        if start_batch:
            command.append(str(start_batch))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PROJECT_DIR), *filter(None, [self.child_env.get("PYTHONPATH"), env.get("PYTHONPATH")])]
        )
        env.update({k: v for k, v in self.child_env.items() if k != "PYTHONPATH"})
        # A session of its own: a terminal ^C reaches only the supervisor, which then
        # stops the children in order (the API server would otherwise stop on it alone).
        child.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        child.started = child.last_heartbeat = time.monotonic()
        child.ready = child.stopping = child.retiring = child.stop_sent = child.exited = False
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def _signal(self, child: Child, signum) -> None:
        if child.process and child.process.poll() is None:
            try:
                child.process.send_signal(signum)
            except ProcessLookupError:
                pass

    # -- signals ---------------------------------------------------------------
    def _on_signal(self, signum, frame):
        # Only queue: the main loop does the work (no logging, no I/O here).
        self.signals.put_nowait(signum)

    def _install_signals(self) -> list:
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_r, False)
        os.set_blocking(self._wakeup_w, False)
        previous = [(sig, signal.getsignal(sig)) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)]
        for sig, _ in previous:
            signal.signal(sig, self._on_signal)
        self._old_wakeup = signal.set_wakeup_fd(self._wakeup_w)
        return previous

    def _restore_signals(self, previous) -> None:
        signal.set_wakeup_fd(self._old_wakeup)
        for sig, handler in previous:
            signal.signal(sig, handler)
        for fd in (self._wakeup_r, self._wakeup_w):
            os.close(fd)

    def handle_signals(self) -> None:
        while True:
            try:
                signum = self.signals.get_nowait()
            except Empty:
                return
            if signum == signal.SIGHUP:
                self.handle_reload()
            elif self.phase == "serving":
                log.info("received %s: stopping the local API", signal.Signals(signum).name)
                self._stop_api()
                self.phase = "stopping"
            elif self.phase == "running":
                log.info("received %s: stopping gracefully", signal.Signals(signum).name)
                self.begin_end("stop")
            else:
                raise HaltServer("second stop signal: quick shutdown", EXIT_OK)

    def handle_reload(self) -> None:
        if self.phase != "running":
            return
        log.info("SIGHUP: reloading acquisition and restarting parser workers")
        if self.reload_sources is not None:
            positions = self._collect_positions()
            try:
                new_sources = self.reload_sources(positions)
            except Exception as exc:  # noqa: BLE001 - a bad reload keeps the running config
                log.error("reload refused, keeping the running configuration: %s", exc)
                return
            for source in self.sources:
                source.close()
            self.sources = list(new_sources)
            for source in self.sources:
                source.start()
        for parser in self.parsers:
            parser.retiring = True

    # -- control messages ------------------------------------------------------
    def handle_control(self, kind: str, payload: dict) -> None:
        now = time.monotonic()
        if kind == "heartbeat":
            child = self._child(payload.get("role"), payload.get("index"))
            if child is not None and child.pid == payload.get("pid"):
                child.last_heartbeat = now
                child.ready = True
                child.stats = payload.get("stats") or {}
        elif kind == "ack":
            batch = self.batches.pop(payload["batch"], None)
            if batch is None:
                return  # a duplicate of a re-dispatched batch
            per_src = payload.get("per_src")
            if not isinstance(per_src, dict):
                per_src = {batch.source: [payload.get("parsed", 0), payload.get("unparsed", 0)]}
            for src, counts in per_src.items():
                try:
                    parsed, unparsed = int(counts[0]), int(counts[1])
                except (TypeError, ValueError, IndexError):
                    continue
                for key, count in (("lines_parsed", parsed), ("lines_unparsed", unparsed)):
                    self.metrics[key][src] = self.metrics[key].get(src, 0) + count
            poured = self.metrics["poured"]
            for entry in payload.get("poured") or []:
                if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[2], int):
                    key = (str(entry[0]), str(entry[1]))
                    poured[key] = poured.get(key, 0) + entry[2]
            worker = self._child("parser", payload["worker"])
            if worker is not None:
                worker.last_heartbeat = now
        elif kind == "boot_error":
            raise HaltServer(f"{payload['role']}-{payload['index']} cannot start: {payload['message']}",
                             EXIT_BOOT_ERROR)
        elif kind == "output_done":
            self.output_done = payload

    def _child(self, role, index) -> Child | None:
        pool = {"parser": self.parsers, "shard": self.shards}.get(role)
        if pool is not None:
            return pool[index] if isinstance(index, int) and 0 <= index < len(pool) else None
        if role == "output":
            return self.output
        if role == "api":
            return self.api
        return None

    # -- reaping and watching --------------------------------------------------
    def reap(self) -> None:
        for child in self.all_children():
            if child.process is None or child.exited:
                continue
            status = child.process.poll()
            if status is None:
                continue
            child.exited = True
            child.ready = False
            if status == EXIT_BOOT_ERROR:
                raise HaltServer(f"{child.name} could not start (see its error above)", EXIT_BOOT_ERROR)
            if child.retiring and child.stop_sent and self.phase == "running":
                self.spawn(child)
                continue
            if child.stop_sent or (child.stopping and status == 0):
                # We told it to stop (a SIGTERM may even land before its handler exists).
                continue
            how = f"signal {-status}" if status < 0 else f"status {status}"
            log.error("%s (pid %d) died with %s", child.name, child.process.pid, how)
            self.respawn(child)

    def respawn(self, child: Child) -> None:
        now = time.monotonic()
        child.crashes.append(now)
        while child.crashes and now - child.crashes[0] > 60:
            child.crashes.popleft()
        if len(child.crashes) > self.crash_limit:
            raise HaltServer(f"{child.name} crashed {len(child.crashes)} times in a minute; giving up")
        self.metrics["respawns"] += 1
        start_batch = 0
        if child.role == "parser":
            self._requeue(lambda batch: batch.worker == child.index)
        elif child.role == "shard":
            # The dead shard may have missed any unacked batch: resend them all
            # (the other shards drop duplicates) and start the new one there.
            self._requeue(lambda batch: True)
            pending = list(self.batches)
            start_batch = min(pending) if pending else self.next_batch
            log.warning("%s lost its buckets; restarting at batch %d", child.name, start_batch)
            if self.phase in ("finishing", "stopping"):
                self.eof_pending.add(child.index)
        elif child.role == "output" and self.phase in ("finishing", "stopping"):
            raise HaltServer("output died while flushing alerts")
        self.spawn(child, start_batch)

    def _requeue(self, predicate) -> None:
        ids = sorted(b.batch_id for b in self.batches.values() if predicate(b) and b.batch_id not in self.redispatch)
        for batch_id in ids:
            self.batches[batch_id].worker = None
        self.redispatch.extend(ids)
        self.redispatch = deque(sorted(set(self.redispatch)))
        self.metrics["batches_redispatched"] += len(ids)

    def murder_stale(self) -> None:
        now = time.monotonic()
        for child in self.all_children():
            if child.process is None or child.exited or child.process.poll() is not None:
                continue
            limit = self.heartbeat_timeout if child.ready else self.boot_timeout
            if now - child.last_heartbeat > limit:
                log.error("%s (pid %d) silent for %.0fs: killing it", child.name, child.pid, now - child.last_heartbeat)
                self.metrics["killed_stale"] += 1
                child.process.kill()

    # -- dispatch --------------------------------------------------------------
    def _free_worker(self) -> int | None:
        load = {}
        for batch in self.batches.values():
            if batch.worker is not None:
                load[batch.worker] = load.get(batch.worker, 0) + 1
        candidates = [p for p in self.parsers if p.ready and not p.exited and not p.retiring
                      and load.get(p.index, 0) < self.max_inflight]
        if not candidates:
            return None
        return min(candidates, key=lambda p: (load.get(p.index, 0), p.index)).index

    def recycle_retiring(self) -> None:
        """SIGHUP: a retiring parser with no batch left is told to stop (then respawned)."""
        busy = {batch.worker for batch in self.batches.values()}
        for parser in self.parsers:
            if parser.retiring and not parser.stop_sent and not parser.exited and parser.index not in busy:
                if sockets.send_or_wait(self.parser_out[parser.index], wire.encode("stop", {}), 0):
                    parser.stop_sent = True
                else:
                    self._signal(parser, signal.SIGTERM)
                    parser.stop_sent = True

    def _send_batch(self, batch: Batch, worker: int) -> bool:
        if not sockets.send_or_wait(self.parser_out[worker], batch.frame, 0):
            self.parsers[worker].ready = False  # not connected (yet): wait for its heartbeat
            return False
        batch.worker = worker
        return True

    def _next_lines(self):
        """Lines from the next source that has some (round robin): (source, lines)."""
        for _ in range(len(self.sources)):
            source = self.sources[self._source_cursor % len(self.sources)]
            self._source_cursor += 1
            lines = source.poll(self.batch_lines)
            if lines:
                return source, lines
        return None, []

    def dispatch(self) -> bool:
        """Send redispatched then new batches while workers have credit. True if work was done."""
        worked = False
        while self.redispatch:
            worker = self._free_worker()
            if worker is None:
                return worked
            batch = self.batches.get(self.redispatch[0])
            if batch is None:
                self.redispatch.popleft()
                continue
            if not self._send_batch(batch, worker):
                return worked
            self.redispatch.popleft()
            worked = True
        if self.phase != "running":
            return worked
        while self.sources:
            worker = self._free_worker()
            if worker is None:
                break
            source, lines = self._next_lines()
            if not lines:
                break
            name = source.name
            batch_id = self.next_batch
            self.next_batch += 1
            frame = wire.encode("lines", {
                # RawLine tuples: msgpack packs tuples as arrays, no per-line copy needed.
                "batch": batch_id, "source": name, "lines": lines,
                "time_machine": bool(getattr(source, "time_machine", False)),
            })
            batch = Batch(batch_id, frame, name, len(lines))
            self.batches[batch_id] = batch
            if self.positions_path:
                state = source.save_state()
                if state:
                    self._position_marks.append((batch_id, name, state))
            # Counted per line origin (file path, journalctl filter, syslog peer), the
            # `source` label CrowdSec uses; the datasource's `type` label goes with it.
            read = self.metrics["lines_read"]
            for src, count in Counter(map(itemgetter(1), lines)).items():  # C loop: per line, cheap
                if src not in read:
                    read[src] = 0
                    labels = next(line[2] for line in lines if line[1] == src)
                    self.src_types[src] = (labels or {}).get("type", "")
                read[src] += count
            self.metrics["batches_dispatched"] += 1
            if not self._send_batch(batch, worker):
                self.redispatch.append(batch_id)
            worked = True
        if self.run.mode == "replay" and self.phase == "running" and all(s.done for s in self.sources):
            self.begin_end("replay")
        return worked

    # -- the end ---------------------------------------------------------------
    def begin_end(self, reason: str) -> None:
        self.phase = "draining"
        self.end_reason = reason
        self.stop_deadline = time.monotonic() + self.graceful_timeout
        for parser in self.parsers:
            parser.retiring = False
        self._save_positions()
        for source in self.sources:
            source.close()

    def checkpoint_positions(self, force: bool = False) -> None:
        """Write the positions up to which every line has been acked (see __init__)."""
        if not self.positions_path or self.run.mode != "live":
            return
        now = time.monotonic()
        if not force and now < self._next_checkpoint:
            return
        self._next_checkpoint = now + self.checkpoint_interval
        first_unacked = min(self.batches) if self.batches else self.next_batch
        advanced = False
        while self._position_marks and self._position_marks[0][0] < first_unacked:
            _, name, state = self._position_marks.popleft()
            self._safe_positions[name] = state
            advanced = True
        if advanced:
            merged = {}
            for state in self._safe_positions.values():
                merged.update(state)
            self._write_positions(merged)

    def _collect_positions(self) -> dict:
        positions = {}
        for source in self.sources:
            positions.update(source.save_state())
        return positions

    def _save_positions(self) -> None:
        """Graceful stop: everything read will be processed before exit, so read positions are safe."""
        if not self.positions_path:
            return
        positions = self._collect_positions()
        if positions:
            self._write_positions(positions)

    def _write_positions(self, positions: dict) -> None:
        os.makedirs(os.path.dirname(self.positions_path), exist_ok=True)
        tmp = self.positions_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(positions, handle)
        os.replace(tmp, self.positions_path)

    def advance_end(self) -> bool:
        """Move the ordered end forward; True when every child has exited."""
        if self.phase == "draining" and not self.batches and not self.redispatch:
            self.phase = "finishing"
            self.eof_pending = set(range(len(self.shards)))
            for shard in self.shards:
                shard.stopping = True
        if self.phase == "finishing":
            final = "replay" if self.end_reason == "replay" else "stop"
            for index in sorted(self.eof_pending):
                frame = wire.encode("eof", {"batch": self.next_batch, "final": final})
                if sockets.send_or_wait(self.shard_out[index], frame, 0):
                    self.eof_pending.discard(index)
            if self.output is not None:
                self.output.stopping = True
            if self.output is None or self.output_done is not None or self.output.exited:
                self.phase = "stopping"
                for parser in self.parsers:
                    parser.stopping = parser.stop_sent = True
                    sockets.send_or_wait(self.parser_out[parser.index], wire.encode("stop", {}), 0)
                    self._signal(parser, signal.SIGTERM)
                if self.end_reason == "replay" and self.keep_api_after_replay:
                    log.info("replay done; the local API keeps running until SIGTERM/SIGINT")
                    self.phase = "serving"
                else:
                    self._stop_api()
        if self.phase == "serving":
            return False
        if self.phase == "stopping":
            return all(child.exited or child.process is None for child in self.all_children())
        return False

    def _stop_api(self) -> None:
        if self.api is not None:
            self.api.stopping = self.api.stop_sent = True
            self._signal(self.api, signal.SIGTERM)

    def summary(self) -> dict:
        """Counts for the end-of-replay log line and the metrics endpoint."""
        out = {key: value for key, value in self.metrics.items() if key != "poured"}
        out["poured"] = sum(self.metrics["poured"].values())
        if self.output_done is not None:
            out["alerts"] = self.output_done.get("alerts", 0)
            out["alerts_pushed"] = self.output_done.get("pushed", 0)
            out["alerts_queued"] = self.output_done.get("queued", 0)
        return out

    def kill_all(self, grace: float) -> None:
        for child in self.all_children():
            child.stopping = child.stop_sent = True
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.all_children():
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()

    # -- main loop -------------------------------------------------------------
    def setup(self) -> None:
        with open(self.run_json, "w", encoding="utf-8") as handle:
            handle.write(self.run.to_json())
        self.ctx = zmq.Context()
        self.control = sockets.pull(self.ctx, self.run_dir.control(), hwm=10000)
        self.parser_out = [sockets.push(self.ctx, self.run_dir.parser_in(i), hwm=self.max_inflight * 2,
                                        linger_ms=0) for i in range(len(self.parsers))]
        self.shard_out = [sockets.push(self.ctx, self.run_dir.shard_in(j), linger_ms=0)
                          for j in range(len(self.shards))]
        for source in self.sources:
            source.start()
        for child in self.all_children():
            self.spawn(child)

    def run_forever(self) -> int:
        """Run until the replay ends or a stop signal; returns the exit status."""
        previous = self._install_signals()
        status = EXIT_OK
        try:
            self.setup()
            poller = zmq.Poller()
            poller.register(self.control, zmq.POLLIN)
            poller.register(self._wakeup_r, zmq.POLLIN)
            while True:
                self.handle_signals()
                self.drain_control()
                self.reap()
                self.murder_stale()
                self.recycle_retiring()
                worked = self.dispatch()
                if self.phase == "running":
                    self.checkpoint_positions()
                if self.phase != "running":
                    if self.advance_end():
                        break
                    if self.phase != "serving" and time.monotonic() > self.stop_deadline:
                        raise HaltServer(f"graceful stop took more than {self.graceful_timeout:.0f}s")
                if self.progress is not None:
                    self.progress(self)
                events = dict(poller.poll(0 if worked else 100))
                if self._wakeup_r in events:
                    try:
                        os.read(self._wakeup_r, 512)
                    except BlockingIOError:
                        pass
        except HaltServer as halt:
            status = halt.status
            self.halt_message = str(halt)
            if halt.status != EXIT_OK:
                log.error("stopping: %s", halt)
            self.kill_all(grace=5.0)
        finally:
            self._restore_signals(previous)
            for source in self.sources:
                source.close()
            if hasattr(self, "ctx"):
                self.ctx.destroy(linger=0)
            self.run_dir.cleanup()
        return status

    def drain_control(self) -> None:
        for _ in range(10000):
            try:
                frame = self.control.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            message = self.frames.decode(frame)
            if message is not None:
                self.handle_control(*message)
