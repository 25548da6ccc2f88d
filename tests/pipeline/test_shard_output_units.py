"""Socket-free cores: reorder buffer, shard loop, batch parser, alert queue, pusher, metrics."""

import socket

import pytest
import requests
from hypothesis import given, settings, strategies as st

from crowdsec_mp.pipeline.binding import ParseResult
from crowdsec_mp.pipeline.lapi_client import LapiClient, load_credentials
from crowdsec_mp.pipeline.output import AlertQueue, Pusher
from crowdsec_mp.pipeline.parser_worker import BatchParser
from crowdsec_mp.pipeline.shard import ReorderBuffer, ShardLoop
from crowdsec_mp.errors import ConfigError


@settings(max_examples=100, deadline=None)
@given(st.permutations(list(range(12))), st.lists(st.integers(0, 11), max_size=6))
def test_reorder_buffer_releases_each_batch_once_in_order(order, duplicates):
    buffer = ReorderBuffer()
    released = []
    arrivals = list(order)
    for dup in duplicates:  # re-dispatched batches arrive again, anywhere
        arrivals.insert(dup, dup)
    for batch in arrivals:
        released += [b for b, _ in buffer.add(batch, f"payload-{batch}")]
    assert released == list(range(12))
    assert buffer.duplicates == len(duplicates) and buffer.waiting == 0


class RecordingBuckets:
    """Records apply order; overflows when asked to."""

    def __init__(self):
        self.applied = []

    def apply(self, item):
        self.applied.append(item)
        return [f"ovf-{item}"] if item.endswith("!") else []

    def end_of_input(self):
        return ["end"]


def test_shard_loop_applies_in_batch_then_seq_order_and_eof_waits_for_gaps():
    stage = RecordingBuckets()
    loop = ShardLoop(stage, 0)
    assert loop.on_message("eof", {"batch": 3, "final": "replay"}) == []
    assert loop.on_message("events", {"batch": 2, "events": [[0, "c"]]}) == []
    assert loop.on_message("events", {"batch": 0, "events": [[0, "a"], [4, "b!"]]}) == ["ovf-b!"]
    assert loop.finished is None
    assert loop.on_message("events", {"batch": 1, "events": []}) == ["end"]
    assert stage.applied == ["a", "b!", "c"]
    assert loop.finished == "replay"


def test_shard_loop_survives_bad_items_and_respects_start_batch():
    class Exploding(RecordingBuckets):
        def apply(self, item):
            if item == "boom":
                raise ValueError("engine bug")
            return super().apply(item)

    stage = Exploding()
    loop = ShardLoop(stage, 0, start_batch=5)
    loop.on_message("events", {"batch": 4, "events": [[0, "old"]]})
    loop.on_message("events", {"batch": 5, "events": [[0, "boom"], "not-a-pair", [1, "ok"]]})
    loop.on_message("events", {"batch": "x"})
    assert stage.applied == ["ok"]
    assert loop.stats["stage_errors"] == 2 and loop.stats["duplicates"] == 1


def test_batch_parser_routes_by_key_and_counts():
    class Stage:
        def process(self, raw, src, labels, module, time_machine):
            if raw == "boom":
                raise RuntimeError("bug")
            if raw.startswith("ip="):
                return ParseResult(True, [(raw[3:], {"raw": raw}), ("scenario-wide", {"raw": raw})])
            return ParseResult(False)

    parser = BatchParser(Stage(), lambda key, n: 0 if key == "scenario-wide" else 2, 3)
    lines = [(raw, "src", {}, "file") for raw in ("ip=1.1.1.1", "junk", "boom", "ip=22.2.2.2")]
    per_shard, parsed, unparsed = parser.parse_batch(lines)
    assert (parsed, unparsed) == (2, 2)
    assert parser.stats["stage_errors"] == 1
    assert per_shard[2] == [[0, {"raw": "ip=1.1.1.1"}], [3, {"raw": "ip=22.2.2.2"}]]
    assert [seq for seq, _ in per_shard[0]] == [0, 3]
    assert per_shard[1] == []


def test_alert_queue_is_fifo_persistent_and_bounded(tmp_path):
    queue = AlertQueue(str(tmp_path), max_files=2)
    queue.put([{"a": 1}])
    queue.put([{"a": 2}, {"a": 3}])
    reopened = AlertQueue(str(tmp_path), max_files=2)
    assert reopened.peek()[1] == [{"a": 1}]
    reopened.put([{"a": 4}])
    assert reopened.dropped_alerts == 1  # the oldest file, counted
    assert reopened.pending_alerts() == 3
    name, alerts = reopened.peek()
    reopened.remove(name)
    assert reopened.peek()[1] == [{"a": 4}]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_pusher_backs_off_and_keeps_alerts_when_lapi_unreachable(tmp_path):
    queue = AlertQueue(str(tmp_path))
    queue.put([{"scenario": "x"}])
    clock = [100.0]
    client = LapiClient(f"http://127.0.0.1:{closed_port()}/", "m", "p", timeout=1)
    pusher = Pusher(queue, client, clock=lambda: clock[0])
    assert pusher.flush() is False
    assert pusher.failures == 1 and pusher.next_attempt == 101.0 and "login" in pusher.last_error
    assert pusher.flush() is False and pusher.failures == 1  # still backing off
    clock[0] = 101.5
    pusher.flush()
    assert pusher.failures == 2 and pusher.next_attempt == 103.5
    assert queue.pending_alerts() == 1


def test_credentials_file_validation(tmp_path):
    path = tmp_path / "creds.yaml"
    path.write_text("url: http://x/\nlogin: m\n")
    with pytest.raises(ConfigError) as info:
        load_credentials(path)
    assert info.value.field == "password"
    with pytest.raises(ConfigError, match="missing local API credentials"):
        load_credentials(tmp_path / "absent.yaml")


def test_metrics_endpoint_exposes_supervisor_counts(tmp_path):
    from crowdsec_mp.acquisition.file import FileSource
    from crowdsec_mp.pipeline.metrics import MetricsServer
    from crowdsec_mp.pipeline.runspec import RunSpec
    from crowdsec_mp.pipeline.supervisor import Supervisor

    source = FileSource("auth", [str(tmp_path / "x.log")], {"type": "syslog"})
    source.counters["lines_truncated"] = 2
    sup = Supervisor(RunSpec(run_dir=str(tmp_path / "run"), parser_workers=1, bucket_shards=1), [source])
    sup.metrics["lines_read"]["/var/log/auth.log"] = 7
    sup.metrics["lines_unparsed"]["/var/log/auth.log"] = 3
    sup.src_types["/var/log/auth.log"] = "syslog"
    sup.shards[0].stats = {"applied": 5, "stage": {"overflowed": {"a/b": 2}, "buckets": {"a/b": 3}}}
    sup.metrics["poured"][("a/b", "/var/log/auth.log")] = 4
    server = MetricsServer.start(sup, "127.0.0.1", 0)
    try:
        text = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.close()
    assert 'cs_lineread_total{source="/var/log/auth.log",type="syslog"} 7.0' in text
    assert 'cs_parser_hits_ko_total{source="/var/log/auth.log",type="syslog"} 3.0' in text
    assert 'cs_bucket_poured_total{name="a/b",source="/var/log/auth.log",type="syslog"} 4.0' in text
    assert 'csmp_lines_truncated_total{source="auth"} 2.0' in text
    assert 'cs_bucket_overflowed_total{name="a/b"} 2.0' in text
    assert 'csmp_process_stat{process="shard-0",stat="applied"} 5.0' in text
    assert 'csmp_process_resident_memory_bytes{process="supervisor"}' in text
    # What `cscli-mp metrics` (cli/metrics.py) reads from this endpoint.
    from crowdsec_mp.cli.metrics import aggregate
    from prometheus_client.parser import text_string_to_metric_families

    samples = [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]
    table = aggregate(samples)
    assert table["acquisition"]["/var/log/auth.log"]["reads"] == 7
    assert table["acquisition"]["/var/log/auth.log"]["pour"] == 4
    assert table["scenarios"]["a/b"]["overflow"] == 2
    assert table["scenarios"]["a/b"]["curr_count"] == 3


def test_poured_counts_come_from_batch_acks_once_per_batch(tmp_path):
    from crowdsec_mp.pipeline.runspec import RunSpec
    from crowdsec_mp.pipeline.supervisor import Batch, Supervisor

    sup = Supervisor(RunSpec(run_dir=str(tmp_path / "run"), parser_workers=2, bucket_shards=1), [])
    sup.batches[3] = Batch(3, b"", "/x.log", 2, worker=0)
    ack = {"worker": 0, "batch": 3, "per_src": {"/x.log": [2, 0]}, "poured": [["a/b", "/x.log", 2], ["c/d", "/x.log", 1]]}
    sup.handle_control("ack", ack)
    # The same batch acked again by the worker it was re-dispatched to: counted once.
    sup.handle_control("ack", dict(ack, worker=1))
    assert sup.metrics["poured"] == {("a/b", "/x.log"): 2, ("c/d", "/x.log"): 1}
    assert sup.summary()["poured"] == 3
