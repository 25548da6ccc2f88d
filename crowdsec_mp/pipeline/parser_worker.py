"""Parser worker: line batches in, routed events out to the bucket shards.

Loop: PULL a `lines` batch -> `ParserStage.process()` per line -> group the
routed items by `shard_for(route_key, M)` -> send one `events` message to
**every** shard (empty when nothing routes there, so each shard sees every
batch id and its reorder buffer can advance) -> `ack` the batch to the
supervisor. The ack is sent last: a worker killed before it leaves the batch
unacknowledged and the supervisor re-dispatches it; shards drop the
duplicates by batch id.

A line that makes the stage raise is counted as unparsed (and as a stage
error); the worker carries on with the next line.
"""

from __future__ import annotations

import logging
import time

import zmq

from crowdsec_mp.errors import ProtocolError
from crowdsec_mp.pipeline import sockets, wire
from crowdsec_mp.pipeline.binding import load_binding

log = logging.getLogger("crowdsec_mp.pipeline.parser")


class BatchParser:
    """The per-batch logic, free of sockets so it can be tested directly."""

    def __init__(self, stage, shard_for, shards: int):
        self.stage = stage
        self.shard_for = shard_for
        self.shards = shards
        self.stats = {"lines": 0, "parsed": 0, "unparsed": 0, "stage_errors": 0, "routed": 0}

    def parse_batch(self, lines, time_machine: bool = False) -> tuple[list[list], int, int]:
        """lines -> (per-shard [[seq, item], ...], parsed count, unparsed count).

        `per_src` is then {line src: [parsed, unparsed]} for this batch (metrics per file).
        """
        per_shard: list[list] = [[] for _ in range(self.shards)]
        parsed = unparsed = 0
        last_event: list = [None] * self.shards
        self.per_src: dict[str, list[int]] = {}
        for seq, (raw, src, labels, module) in enumerate(lines):
            counts = self.per_src.setdefault(src, [0, 0])
            try:
                result = self.stage.process(raw, src, labels, module, time_machine)
            except Exception as exc:  # an engine bug on one line must not stop the worker
                self.stats["stage_errors"] += 1
                log.debug("line %d raised %r; counted as unparsed", seq, exc)
                unparsed += 1
                counts[1] += 1
                continue
            if result.parsed:
                parsed += 1
                counts[0] += 1
            else:
                unparsed += 1
                counts[1] += 1
            for route_key, item in result.routed:
                shard = self.shard_for(route_key, self.shards)
                per_shard[shard].append([seq, _elide_shared_event(item, last_event, shard, seq)])
                self.stats["routed"] += 1
        self.stats["lines"] += len(lines)
        self.stats["parsed"] += parsed
        self.stats["unparsed"] += unparsed
        return per_shard, parsed, unparsed


def _elide_shared_event(item, last: list, shard: int, seq: int):
    """One line poured into several scenarios of one shard carries the same event
    object each time (`item[wire.EVENT_KEY]`): it is sent once, with the first item;
    the next items of that line omit it and the shard reuses the event it just built
    (EngineBucketStage.apply). Fewer bytes, one decode per line instead of one per
    pour, and, as in the single-process engine, one event object shared by the buckets.
    `last[shard]` is (seq, event object) of the previous item sent to that shard.
    Items with a per-pour state (`at_pour`) are never elided nor elided against."""
    if not isinstance(item, dict) or wire.EVENT_KEY not in item or "at_pour" in item:
        last[shard] = None
        return item
    event = item[wire.EVENT_KEY]
    previous = last[shard]
    last[shard] = (seq, event)
    if previous is None or previous[0] != seq or previous[1] is not event:
        return item
    return {key: value for key, value in item.items() if key != wire.EVENT_KEY}


def main(runtime) -> int:
    run = runtime.run
    try:
        binding = load_binding(run.binding)
        stage = binding.make_parser_stage(run)
    except Exception as exc:  # noqa: BLE001 - any failure to build the stage is a boot error
        return runtime.boot_error(str(exc))
    batch_parser = BatchParser(stage, binding.shard_for, run.bucket_shards)
    runtime.stats = batch_parser.stats
    inbox = sockets.pull(runtime.ctx, runtime.run_dir.parser_in(runtime.index))
    shard_out = [sockets.push(runtime.ctx, runtime.run_dir.shard_in(j)) for j in range(run.bucket_shards)]
    runtime.set_stage(stage)
    runtime.heartbeat(force=True)  # "ready": the supervisor starts dispatching to us
    poll_ms = int(max(0.05, run.heartbeat_interval / 2) * 1000)
    while not runtime.stop_requested:
        if inbox.poll(poll_ms):
            frame = inbox.recv(zmq.NOBLOCK)
            message = runtime.frames.decode(frame)
            if message is not None:
                kind, payload = message
                if kind == "stop":
                    break
                if kind == "lines":
                    handle_batch(runtime, batch_parser, shard_out, payload)
        runtime.heartbeat()
    log.info("parser-%d stopping after %d lines", runtime.index, batch_parser.stats["lines"])
    return 0


def handle_batch(runtime, batch_parser: BatchParser, shard_out, payload) -> None:
    try:
        batch_id = int(payload["batch"])
    except (TypeError, ValueError):
        runtime.frames.bad_frames += 1
        return
    try:
        lines = wire.check_lines_payload(payload)
    except ProtocolError as exc:
        # Still send the (empty) batch and ack it, or every shard would wait for it forever.
        runtime.frames.bad_frames += 1
        runtime.frames.last_error = str(exc)
        lines = []
    started = time.monotonic()
    per_shard, parsed, unparsed = batch_parser.parse_batch(lines, bool(payload.get("time_machine")))
    for shard, events in enumerate(per_shard):
        runtime.send_data(shard_out[shard], wire.encode("events", {"batch": batch_id, "events": events}))
    runtime.send_control("ack", {
        "worker": runtime.index, "batch": batch_id, "parsed": parsed, "unparsed": unparsed,
        "source": payload.get("source", ""), "per_src": batch_parser.per_src,
        "seconds": time.monotonic() - started,
        "poured": runtime.stage.take_poured() if hasattr(runtime.stage, "take_poured") else [],
    })
