"""A TEST-ONLY stand-in engine binding (not CrowdSec logic, never used by the daemon).

It exists to drive real pipeline processes and sockets before/independently of
the engine: a line `... ip=<addr> n=<k> ...` is "parsed" and routed on <addr>;
anything else is unparsed. A "bucket" per ip collects the n values in the order
it receives them and overflows every `capacity` items, so any reordering bug
shows up in the overflow content. Knobs come from RunSpec.extras:
capacity, expect_time_machine (bool checked on every line), sleep_per_line (seconds), boot_error (message), crash_on / hang_on (raw
substring that makes the parser exit abruptly / hang, once per run via a marker file).
"""

import json
import os
import re
import time
import zlib

from crowdsec_mp.errors import ConfigError
from crowdsec_mp.pipeline.binding import ParseResult

LINE = re.compile(r"ip=(\S+) n=(\d+)")


def shard_for(key, n):
    return zlib.crc32(key.encode()) % n


class Parser:
    def __init__(self, run):
        self.sleep = float(run.extras.get("sleep_per_line", 0))
        self.crash_on = run.extras.get("crash_on")
        self.hang_on = run.extras.get("hang_on")
        self.expect_time_machine = run.extras.get("expect_time_machine")
        self.marker = os.path.join(run.run_dir, "crashed-once")

    def process(self, raw, src, labels, module, time_machine):
        if self.sleep:
            time.sleep(self.sleep)
        if self.expect_time_machine is not None and time_machine != self.expect_time_machine:
            raise AssertionError("time_machine flag not carried")  # counted as unparsed
        if self.crash_on and self.crash_on in raw and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(9)
        if self.hang_on and self.hang_on in raw and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            time.sleep(3600)  # a wedged worker: only the heartbeat watchdog can notice
        match = LINE.search(raw)
        if not match:
            return ParseResult(False)
        return ParseResult(True, [(match.group(1), {"ip": match.group(1), "n": int(match.group(2)),
                                                    "type": labels.get("type", "")})])


class Buckets:
    scenarios = ["test/standin"]

    def __init__(self, run, shard):
        self.capacity = int(run.extras.get("capacity", 3))
        self.state = {}

    def apply(self, item):
        bucket = self.state.setdefault(item["ip"], [])
        bucket.append(item["n"])
        if len(bucket) >= self.capacity:
            del self.state[item["ip"]]
            return [{"ip": item["ip"], "ns": bucket}]
        return []

    def tick(self, now):
        return []

    def end_of_input(self):
        return [{"ip": ip, "ns": ns, "partial": True} for ip, ns in sorted(self.state.items())]

    def dump(self):
        return json.dumps(self.state).encode()

    def restore(self, blob):
        self.state = json.loads(blob)


class Output:
    scenarios = ["test/standin"]

    def handle(self, item):
        return [dict(item, scenario="test/standin")]


def make_parser_stage(run):
    if run.extras.get("boot_error"):
        raise ConfigError(run.extras["boot_error"], file="standin.yaml", field="filter")
    return Parser(run)


def make_bucket_stage(run, shard):
    return Buckets(run, shard)


def make_output_stage(run):
    return Output()
