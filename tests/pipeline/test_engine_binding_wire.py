"""The real engine binding in one process: what a parser worker sends to a shard for a
line poured into several scenarios, and what the shard builds from it."""

import pytest

from crowdsec_mp.config import load_config
from crowdsec_mp.errors import ProtocolError
from crowdsec_mp.pipeline import engine_binding, wire
from crowdsec_mp.pipeline.parser_worker import BatchParser
from crowdsec_mp.pipeline.runspec import RunSpec
from tests.integration.daemon_env import make_config

LINE = "Mar 10 06:00:01 web01 sshd[101]: Failed password for root from 192.0.2.77 port 4001 ssh2"


def stages(tmp_path):
    config = make_config(tmp_path, workers=1, shards=1)
    items = engine_binding.InstalledItems(load_config(config))
    run = RunSpec(run_dir=str(tmp_path / "run"), parser_workers=1, bucket_shards=1, mode="replay")
    return engine_binding.EngineParserStage(run, items), engine_binding.EngineBucketStage(run, items)


def test_a_line_poured_into_several_scenarios_carries_its_event_once(tmp_path):
    parser_stage, bucket_stage = stages(tmp_path)
    batch = BatchParser(parser_stage, engine_binding.shard_for, 1)
    per_shard, parsed, _ = batch.parse_batch([(LINE, "/auth.log", {"type": "syslog"}, "file")], True)
    entries = wire.decode(wire.encode("events", {"batch": 0, "events": per_shard[0]}))[1]["events"]
    assert parsed == 1 and len(entries) >= 2, "the project hub pours a failed login into several scenarios"
    assert wire.EVENT_KEY in entries[0][1]
    assert all(wire.EVENT_KEY not in item for _, item in entries[1:])
    for _, item in entries:
        assert bucket_stage.apply(item) == []
    buckets = bucket_stage.store.buckets()
    assert len(buckets) == len(entries)
    # One event object shared by the buckets, as in the single-process engine.
    assert len({id(bucket.queue[-1]) for bucket in buckets}) == 1
    assert buckets[0].queue[-1].Meta["source_ip"] == "192.0.2.77"


def test_an_item_without_event_and_nothing_before_it_is_refused(tmp_path):
    # The shard loop counts the error as a stage error and carries on.
    _, bucket_stage = stages(tmp_path)
    with pytest.raises(ProtocolError, match="without an event"):
        bucket_stage.apply({"s": 0, "g": "192.0.2.1"})
