"""Bucket shard: applies routed events in (batch id, line seq) order, sends overflows.

Parser workers finish batches out of order, so arrival order is not log order.
`ReorderBuffer` holds early batches until every smaller batch id has arrived,
then releases them in order; within a batch, items are in line seq order
(the worker builds them that way). That is what makes a replay with N workers
and M shards give the single-process result (ARCHITECTURE invariant 1).
A batch id seen twice (re-dispatch after a worker crash) is dropped.

The `eof` message is itself ordered like a batch: it takes effect only after
every batch before it was applied. `final: "replay"` calls
`BucketStage.end_of_input()`; `final: "stop"` dumps bucket state to
`state_dir` for the next start. Either way the shard tells the output
(`shard_done`) and exits.
"""

from __future__ import annotations

import logging
import os
import time

import zmq

from crowdsec_mp.pipeline import sockets, wire
from crowdsec_mp.pipeline.binding import load_binding

log = logging.getLogger("crowdsec_mp.pipeline.shard")

EOF_MARK = "__eof__"


class ReorderBuffer:
    """Releases (batch_id, payload) strictly in batch id order, each id once."""

    def __init__(self, next_batch: int = 0):
        self.next_batch = next_batch
        self.pending: dict[int, object] = {}
        self.duplicates = 0

    def add(self, batch_id: int, payload) -> list[tuple[int, object]]:
        if batch_id < self.next_batch or batch_id in self.pending:
            self.duplicates += 1
            return []
        self.pending[batch_id] = payload
        ready = []
        while self.next_batch in self.pending:
            ready.append((self.next_batch, self.pending.pop(self.next_batch)))
            self.next_batch += 1
        return ready

    @property
    def waiting(self) -> int:
        return len(self.pending)


def state_path(state_dir: str, index: int, shards: int) -> str:
    # The shard count is in the name: a dump is only valid for the same routing.
    return os.path.join(state_dir, f"buckets-shard{index}-of{shards}.state")


class ShardLoop:
    """Socket-free core of a shard (driven by `main`, testable directly)."""

    def __init__(self, stage, index: int, start_batch: int = 0):
        self.stage = stage
        self.index = index
        self.reorder = ReorderBuffer(start_batch)
        self.finished: str | None = None
        self.stats = {"applied": 0, "overflows": 0, "duplicates": 0, "waiting_batches": 0, "stage_errors": 0}

    def on_message(self, kind: str, payload: dict) -> list:
        """Returns the overflow items produced; sets `finished` on eof."""
        try:
            batch_id = int(payload["batch"])
        except (TypeError, ValueError):
            return []
        if kind == "eof":
            content = (EOF_MARK, payload.get("final", "replay"))
        else:
            content = payload.get("events")
            if not isinstance(content, list):
                content = []
        overflows = []
        for _, ready in self.reorder.add(batch_id, content):
            if isinstance(ready, tuple) and ready and ready[0] == EOF_MARK:
                self.finished = ready[1]
                if ready[1] == "replay":
                    overflows += self.stage.end_of_input()
                break
            for entry in ready:
                overflows += self._apply(entry)
        self.stats["duplicates"] = self.reorder.duplicates
        self.stats["waiting_batches"] = self.reorder.waiting
        self.stats["overflows"] += len(overflows)
        return overflows

    def _apply(self, entry) -> list:
        if not isinstance(entry, list) or len(entry) != 2:
            self.stats["stage_errors"] += 1
            return []
        try:
            produced = self.stage.apply(entry[1])
        except Exception as exc:  # a bad item must not kill the shard and its buckets
            self.stats["stage_errors"] += 1
            log.debug("shard-%d: item raised %r", self.index, exc)
            return []
        self.stats["applied"] += 1
        return produced


def main(runtime) -> int:
    run = runtime.run
    index = runtime.index
    try:
        binding = load_binding(run.binding)
        stage = binding.make_bucket_stage(run, index)
        restore_state(run, index, stage)
    except Exception as exc:  # noqa: BLE001 - any failure to build the stage is a boot error
        return runtime.boot_error(str(exc))
    # A respawned shard starts at the batch the supervisor tells it (the earlier
    # ones were applied by its predecessor, whose buckets died with it).
    core = ShardLoop(stage, index, start_batch=runtime.start_batch)
    runtime.stats = core.stats
    inbox = sockets.pull(runtime.ctx, runtime.run_dir.shard_in(index), hwm=sockets.DEFAULT_HWM * 4)
    output = sockets.push(runtime.ctx, runtime.run_dir.output_in())
    runtime.set_stage(stage)
    runtime.heartbeat(force=True)
    next_tick = time.monotonic() + run.tick_interval
    while core.finished is None:
        if runtime.stop_requested:
            # Stopped without an ordered eof (quick shutdown): keep the state anyway.
            core.finished = "stop"
            break
        overflows = []
        if inbox.poll(100):
            message = runtime.frames.decode(inbox.recv(zmq.NOBLOCK))
            if message is not None and message[0] in ("events", "eof"):
                overflows = core.on_message(*message)
        if run.mode == "live" and time.monotonic() >= next_tick:
            next_tick = time.monotonic() + run.tick_interval
            try:
                overflows += stage.tick(time.time())
            except Exception as exc:  # noqa: BLE001
                core.stats["stage_errors"] += 1
                log.warning("shard-%d: tick failed: %r", index, exc)
        if overflows:
            runtime.send_data(output, wire.encode("overflows", {"shard": index, "items": overflows}))
        runtime.heartbeat()
    if core.finished == "stop":
        save_state(run, index, stage)
    runtime.send_data(output, wire.encode("shard_done", {"shard": index}))
    log.info("shard-%d done (%s): %d items applied", index, core.finished, core.stats["applied"])
    return 0


def restore_state(run, index: int, stage) -> None:
    if run.mode != "live" or not run.state_dir:
        return
    path = state_path(run.state_dir, index, run.bucket_shards)
    if os.path.exists(path):
        with open(path, "rb") as handle:
            stage.restore(handle.read())
        # Consumed: a crash later must not restore stale buckets a second time.
        os.replace(path, path + ".restored")
        log.info("shard-%d restored bucket state from %s", index, path)


def save_state(run, index: int, stage) -> None:
    if run.mode != "live" or not run.state_dir:
        return
    os.makedirs(run.state_dir, exist_ok=True)
    path = state_path(run.state_dir, index, run.bucket_shards)
    blob = stage.dump()
    with open(path + ".tmp", "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(path + ".tmp", path)
    log.info("shard-%d dumped bucket state to %s", index, path)
