"""Output process: overflows -> alerts -> on-disk queue -> LAPI.

* `OutputStage.handle(item)` (postoverflows + alert building, engine side)
  turns each overflow into zero or more LAPI alert dicts.
* Alerts are written to `AlertQueue` (one JSON file per group of alerts in
  `state_dir/output-queue/`, written atomically) **before** any push is tried,
  so alerts survive a LAPI outage and a restart of the daemon. The queue is
  bounded (`max_files`); when full, the oldest file is dropped and the
  alerts it held are counted in `dropped_alerts` and logged, never silently.
* `Pusher` sends the oldest queued file first, retrying with exponential
  backoff (1 s doubling to 60 s); a file leaves the queue only once the LAPI
  answered 2xx.
* `alerts_file` (optional) gets every alert as one JSON line as well: replay
  inspection and tests.
"""

from __future__ import annotations

import json
import logging
import os
import time

import zmq

from crowdsec_mp.pipeline import sockets
from crowdsec_mp.pipeline.binding import load_binding
from crowdsec_mp.pipeline.lapi_client import LapiClient, PushError, load_credentials

log = logging.getLogger("crowdsec_mp.pipeline.output")



class AlertQueue:
    """A bounded FIFO of alert lists, one file each, in a directory."""

    def __init__(self, directory: str, max_files: int = 10000):
        self.directory = directory
        self.max_files = max_files
        self.dropped_alerts = 0
        os.makedirs(directory, exist_ok=True)
        existing = self._names()
        self._next = int(existing[-1].split(".")[0]) + 1 if existing else 0

    def _names(self) -> list[str]:
        return sorted(name for name in os.listdir(self.directory) if name.endswith(".json"))

    def __len__(self) -> int:
        return len(self._names())

    def put(self, alerts: list) -> None:
        name = f"{self._next:012d}.json"
        self._next += 1
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(alerts, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, os.path.join(self.directory, name))
        names = self._names()
        while len(names) > self.max_files:
            oldest = names.pop(0)
            self.dropped_alerts += len(self._read(oldest))
            os.unlink(os.path.join(self.directory, oldest))
            log.error("output queue full (%d files): dropped %s", self.max_files, oldest)

    def _read(self, name: str) -> list:
        try:
            with open(os.path.join(self.directory, name), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return []

    def peek(self) -> tuple[str, list] | None:
        names = self._names()
        return (names[0], self._read(names[0])) if names else None

    def remove(self, name: str) -> None:
        try:
            os.unlink(os.path.join(self.directory, name))
        except FileNotFoundError:
            pass

    def pending_alerts(self) -> int:
        return sum(len(self._read(name)) for name in self._names())


class Pusher:
    """Drains an AlertQueue into a client with `push(alerts)`, backing off on failure."""

    def __init__(self, queue: AlertQueue, client, clock=time.monotonic):
        self.queue = queue
        self.client = client
        self.clock = clock
        self.backoff = 1.0
        self.next_attempt = 0.0
        self.pushed_alerts = 0
        self.failures = 0
        self.last_error = ""

    def flush(self, deadline: float | None = None) -> bool:
        """Push queued files in order; True when the queue is empty."""
        while True:
            now = self.clock()
            if now < self.next_attempt or (deadline is not None and now >= deadline):
                return False
            head = self.queue.peek()
            if head is None:
                return True
            name, alerts = head
            try:
                if alerts:
                    self.client.push(alerts)
            except PushError as exc:
                self.failures += 1
                self.last_error = str(exc)
                self.next_attempt = now + self.backoff
                log.warning("LAPI push failed (retry in %.0fs): %s", self.backoff, exc)
                self.backoff = min(self.backoff * 2, 60.0)
                return False
            self.queue.remove(name)
            self.pushed_alerts += len(alerts)
            self.backoff = 1.0


def make_pusher(run, stage) -> Pusher | None:
    if not run.push_to_lapi:
        return None
    from crowdsec_mp.config import load_config

    config = load_config(run.config_path)
    client_section = config.section("api").get("client") or {}
    credentials = load_credentials(config.resolve(client_section.get("credentials_path"),
                                                  "local_api_credentials.yaml"))
    client = LapiClient(credentials["url"], credentials["login"], credentials["password"],
                        scenarios=getattr(stage, "scenarios", []),
                        verify=not client_section.get("insecure_skip_verify", False))
    queue = AlertQueue(os.path.join(run.state_dir or run.run_dir, "output-queue"))
    return Pusher(queue, client)


def main(runtime) -> int:
    run = runtime.run
    try:
        binding = load_binding(run.binding)
        stage = binding.make_output_stage(run)
        pusher = make_pusher(run, stage)
    except Exception as exc:  # noqa: BLE001 - any failure to build the stage is a boot error
        return runtime.boot_error(str(exc))
    stats = {"overflows": 0, "alerts": 0, "stage_errors": 0, "queued": 0, "pushed": 0, "dropped": 0}
    runtime.stats = stats
    inbox = sockets.pull(runtime.ctx, runtime.run_dir.output_in(), hwm=sockets.DEFAULT_HWM * 4)
    alerts_file = open(run.alerts_file, "a", encoding="utf-8") if run.alerts_file else None
    shards_done: set[int] = set()
    runtime.set_stage(stage)
    runtime.heartbeat(force=True)
    try:
        while len(shards_done) < run.bucket_shards:
            if runtime.stop_requested:
                break
            if inbox.poll(200):
                message = runtime.frames.decode(inbox.recv(zmq.NOBLOCK))
                if message is not None:
                    kind, payload = message
                    if kind == "overflows":
                        alerts = build_alerts(stage, payload.get("items") or [], stats)
                        if alerts:
                            emit(alerts, alerts_file, pusher, stats)
                    elif kind == "shard_done":
                        shards_done.add(payload["shard"])
            if pusher:
                pusher.flush()
                stats["pushed"] = pusher.pushed_alerts
                stats["dropped"] = pusher.queue.dropped_alerts
            runtime.heartbeat()
        if pusher:
            deadline = time.monotonic() + run.flush_timeout
            pusher.next_attempt = 0.0
            while not pusher.flush(deadline=deadline) and time.monotonic() < deadline:
                time.sleep(0.2)  # waiting out the backoff, within the deadline
                runtime.heartbeat()
            if pusher.queue.pending_alerts():
                log.warning("%d alerts stay queued in %s (LAPI: %s)", pusher.queue.pending_alerts(),
                            pusher.queue.directory, pusher.last_error or "timeout")
            stats["pushed"] = pusher.pushed_alerts
    finally:
        if alerts_file:
            alerts_file.close()
    runtime.send_control("output_done", {"alerts": stats["alerts"], "pushed": stats["pushed"],
                                         "queued": pusher.queue.pending_alerts() if pusher else 0})
    return 0


def build_alerts(stage, items, stats) -> list:
    alerts = []
    for item in items:
        stats["overflows"] += 1
        try:
            alerts += stage.handle(item)
        except Exception as exc:  # noqa: BLE001 - one bad overflow must not lose the others
            stats["stage_errors"] += 1
            log.warning("overflow could not become an alert: %r", exc)
    return alerts


def emit(alerts, alerts_file, pusher, stats) -> None:
    stats["alerts"] += len(alerts)
    if alerts_file:
        for alert in alerts:
            alerts_file.write(json.dumps(alert, sort_keys=True, default=str) + "\n")
        alerts_file.flush()
    if pusher:
        pusher.queue.put(alerts)
        stats["queued"] += len(alerts)
