"""BucketStore behaviour per bucket type and processor (spec/scenarios.md §3-§7)."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from crowdsec_mp.engine.buckets import BucketStore, load_scenarios
from crowdsec_mp.engine.buckets.timeutil import format_rfc3339_nano
from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import LIVE, OVFLW, TIMEMACHINE, Event, StrMap
from crowdsec_mp.engine.routing import prepare_pours
from crowdsec_mp.engine.simulation import SimulationConfig

LOG_BASE = datetime(2020, 1, 1, tzinfo=timezone.utc)
WALL = datetime(2031, 1, 1, tzinfo=timezone.utc)


def scenario_yaml(**fields) -> str:
    base = {
        "type": "leaky", "name": "test/s", "description": "d",
        "filter": "evt.Meta.log_type == 'x'", "groupby": "evt.Meta.source_ip",
        "capacity": 1, "leakspeed": "10s",
    }
    base.update(fields)
    return "".join(f"{k}: {v}\n" for k, v in base.items() if v is not None)


@pytest.fixture
def ctx(tmp_path):
    return EngineContext(clock=lambda: WALL, data_dir=str(tmp_path))


@pytest.fixture
def make_store(tmp_path, ctx):
    counter = iter(range(1000))

    def build(*documents, **kwargs):
        path = tmp_path / f"scenarios{next(counter)}.yaml"
        path.write_text("---\n".join(textwrap.dedent(doc) for doc in documents))
        return BucketStore(load_scenarios([str(path)], ctx), ctx, **kwargs)

    return build


def ev(seconds: float, ip="1.2.3.4", log_type="x", mode=TIMEMACHINE, **meta) -> Event:
    stamp = format_rfc3339_nano(int((LOG_BASE + timedelta(seconds=seconds)).timestamp() * 10**9))
    return Event(ExpectMode=mode, MarshaledTime=stamp if mode == TIMEMACHINE else "",
                 Meta=StrMap({"source_ip": ip, "log_type": log_type, **meta}))


def alerts(events):
    return [e for e in events if e.Overflow.Alert is not None]


def test_leaky_overflows_on_capacity_plus_one(make_store):
    store = make_store(scenario_yaml(capacity=5))
    out = []
    for _ in range(5):
        out += store.pour(ev(0), now=WALL)
    assert out == [] and len(store) == 1
    (overflow,) = store.pour(ev(0), now=WALL)
    assert overflow.Type == OVFLW
    assert overflow.Overflow.Alert.EventsCount == 6 and len(overflow.Overflow.Alert.Events) == 6
    assert len(store) == 0  # an overflowing bucket dies
    assert store.pour(ev(0), now=WALL) == [] and len(store) == 1


def test_sustained_rate_at_leakspeed_never_overflows(make_store):
    store = make_store(scenario_yaml(capacity=5))
    for i in range(100):
        assert store.pour(ev(i * 10), now=WALL) == []
    assert store.buckets()[0].total_count == 100


def test_groupby_partitions(make_store):
    store = make_store(scenario_yaml(capacity=1))
    assert store.pour(ev(0, "1.1.1.1"), now=WALL) == []
    assert store.pour(ev(0, "2.2.2.2"), now=WALL) == []
    (overflow,) = store.pour(ev(1, "1.1.1.1"), now=WALL)
    assert overflow.Overflow.GetSources() == ["1.1.1.1"]


def test_filter_error_aborts_remaining_scenarios(make_store):
    broken = scenario_yaml(name="a/broken", filter="evt.Unmarshaled.a.b == 'x'")
    trigger = scenario_yaml(name="a/trigger", type="trigger", capacity=0, groupby=None)
    store = make_store(broken, trigger)
    assert store.pour(ev(0), now=WALL) == []
    assert store.stats["filter_errors"] == 1
    store = make_store(trigger, broken)
    assert len(store.pour(ev(0), now=WALL)) == 1


def test_non_bool_filter_and_non_string_groupby_abort(make_store):
    trigger = scenario_yaml(name="a/trigger", type="trigger", capacity=0, groupby=None)
    store = make_store(scenario_yaml(filter="evt.Meta.log_type"), trigger)
    assert store.pour(ev(0), now=WALL) == []
    store = make_store(scenario_yaml(groupby="len(evt.Meta.source_ip)"), trigger)
    assert store.pour(ev(0), now=WALL) == []
    assert store.stats["filter_errors"] == 1


def test_timemachine_event_time(make_store):
    store = make_store(scenario_yaml(capacity=1))
    no_time = ev(0)
    no_time.MarshaledTime = ""
    assert store.pour(no_time, now=WALL) == [] and store.stats["dropped_no_time"] == 1
    only_time = ev(0)
    only_time.MarshaledTime = ""
    only_time.Time = LOG_BASE  # evt.Time alone is not enough (CrowdSec reads MarshaledTime)
    assert store.pour(only_time, now=WALL) == [] and store.stats["dropped_no_time"] == 2
    bad_time = ev(0)
    bad_time.MarshaledTime = "yesterday"
    assert store.pour(bad_time, now=WALL) == [] and store.stats["dropped_no_time"] == 3
    assert len(store) == 0
    store.pour(ev(0), now=WALL)
    (overflow,) = store.pour(ev(5), now=WALL)
    assert overflow.Overflow.Alert.StartAt == "2020-01-01T00:00:00Z"
    assert overflow.Overflow.Alert.StopAt == "2020-01-01T00:00:05Z"
    assert overflow.MarshaledTime == "2020-01-01T00:00:05Z"


def test_live_mode_uses_now(make_store):
    store = make_store(scenario_yaml(capacity=1))
    assert store.pour(ev(0, mode=LIVE), now=WALL) == []
    (overflow,) = store.pour(ev(0, mode=LIVE), now=WALL + timedelta(seconds=5))
    alert = overflow.Overflow.Alert
    assert (alert.StartAt, alert.StopAt) == ("2031-01-01T00:00:00Z", "2031-01-01T00:00:05Z")
    assert alert.Message.endswith("(2 events over 5s) at 2031-01-01 00:00:05 +0000 UTC")
    # without `now`, the context clock is the wall clock
    store.pour(ev(0, mode=LIVE))
    assert store.buckets()[0].first_ts == int(WALL.timestamp()) * 10**9


def test_stale_timemachine_bucket_is_replaced_silently(make_store):
    store = make_store(scenario_yaml(type="counter", capacity=-1, leakspeed=None, duration="10s"), emit_cleanups=True)
    assert store.pour(ev(0), now=WALL) == []
    assert store.pour(ev(5), now=WALL) == []
    assert store.pour(ev(16), now=WALL) == []  # 16 > 5 + 10: old instance dropped, no signal
    (overflow,) = store.tick(WALL + timedelta(seconds=10))
    assert overflow.Overflow.Alert.EventsCount == 1
    assert overflow.Overflow.Alert.StartAt == "2020-01-01T00:00:16Z"


def test_leaky_underflow_is_silent(make_store):
    store = make_store(scenario_yaml(capacity=2, leakspeed="1s"), emit_cleanups=True)
    store.pour(ev(0, mode=LIVE), now=WALL)
    assert store.tick(WALL + timedelta(seconds=3) - timedelta(microseconds=1)) == []
    assert len(store) == 1
    (cleanup,) = store.tick(WALL + timedelta(seconds=3))  # (capacity + 1) * leakspeed
    assert cleanup.Overflow.Alert is None and cleanup.Overflow.Mapkey
    assert len(store) == 0


def test_leaky_timer_is_reset_by_each_pour(make_store):
    store = make_store(scenario_yaml(capacity=5, leakspeed="1s"))
    store.pour(ev(0, mode=LIVE), now=WALL)
    store.pour(ev(0, mode=LIVE), now=WALL + timedelta(seconds=5))
    assert store.tick(WALL + timedelta(seconds=10)) == [] and len(store) == 1
    store.tick(WALL + timedelta(seconds=11))
    assert len(store) == 0


def test_counter_lifetime_is_not_reset(make_store):
    store = make_store(scenario_yaml(type="counter", capacity=-1, leakspeed=None, duration="10s"))
    store.pour(ev(0), now=WALL)
    store.pour(ev(1), now=WALL + timedelta(seconds=9))
    (overflow,) = store.tick(WALL + timedelta(seconds=10))
    assert overflow.Overflow.Alert.EventsCount == 2
    assert overflow.Overflow.Alert.Leakspeed == "0s" and overflow.Overflow.Alert.Capacity == -1


def test_trigger_overflows_every_event(make_store):
    store = make_store(scenario_yaml(type="trigger", capacity=0, leakspeed=None, distinct="evt.Meta.k"))
    first = store.pour(ev(0, k="a"), now=WALL)
    second = store.pour(ev(1, k="a"), now=WALL)  # distinct has no effect on triggers
    assert len(first) == len(second) == 1 and len(store) == 0
    assert first[0].Overflow.Alert.EventsCount == 1 and first[0].Overflow.Alert.Leakspeed == "0s"


def test_distinct_swallows_duplicates(make_store):
    store = make_store(scenario_yaml(capacity=2, distinct="evt.Meta.k"))
    assert store.pour(ev(0, k="a"), now=WALL) == []
    assert store.pour(ev(0, k="a"), now=WALL) == []
    assert store.pour(ev(0, k="b"), now=WALL) == []
    (overflow,) = store.pour(ev(0, k="c"), now=WALL)
    assert overflow.Overflow.Alert.EventsCount == 3


def test_cancel_on_destroys_without_overflow(make_store):
    store = make_store(scenario_yaml(capacity=1, cancel_on="evt.Meta.k == 'stop'"), emit_cleanups=True)
    store.pour(ev(0), now=WALL)
    (cleanup,) = store.pour(ev(1, k="stop"), now=WALL)
    assert cleanup.Overflow.Alert is None and len(store) == 0
    assert store.pour(ev(2), now=WALL) == []  # fresh bucket


def test_blackhole_per_partition_and_expiry(make_store):
    store = make_store(scenario_yaml(capacity=1, blackhole="1m"))
    assert len(alerts(store.pour(ev(0), now=WALL) + store.pour(ev(1), now=WALL))) == 1
    # same partition within the blackhole: suppressed
    assert alerts(store.pour(ev(2), now=WALL) + store.pour(ev(3), now=WALL)) == []
    # another partition is not affected
    assert len(store.pour(ev(4, "9.9.9.9"), now=WALL) + store.pour(ev(5, "9.9.9.9"), now=WALL)) == 1
    # after expiry (overflow at 61 s > 1 s + 60 s)
    assert len(store.pour(ev(60), now=WALL) + store.pour(ev(62), now=WALL)) == 1
    assert store.stats["blackholed"] == 1


def test_overflow_filter(make_store):
    store = make_store(scenario_yaml(capacity=1, overflow_filter="len(queue.Queue) > 5"), emit_cleanups=True)
    store.pour(ev(0), now=WALL)
    (cleanup,) = store.pour(ev(0), now=WALL)
    assert cleanup.Overflow.Alert is None


def test_conditional_uses_queue_and_leaky(make_store):
    store = make_store(scenario_yaml(
        type="conditional", capacity=-1, leakspeed="1s",
        condition='"len(queue.Queue) >= 3 && leaky.Total_count == 3"',
    ))
    assert store.pour(ev(0), now=WALL) == [] and store.pour(ev(0), now=WALL) == []
    (overflow,) = store.pour(ev(0), now=WALL)
    assert overflow.Overflow.Alert.EventsCount == 3


def test_simulated_scenario(make_store):
    store = make_store(scenario_yaml(type="trigger", capacity=0), simulation=SimulationConfig(True, []))
    (overflow,) = store.pour(ev(0), now=WALL)
    assert overflow.Overflow.Alert.Simulated is True


def test_reprocess_loop_is_bounded(make_store):
    loop = scenario_yaml(type="trigger", capacity=0, filter="true", groupby=None, reprocess="true")
    store = make_store(loop)
    results = store.process(ev(0), now=WALL)
    assert len(results) == 17 and store.stats["reprocess_dropped"] == 1
    assert all(r.Overflow.GetSources() == ["1.2.3.4"] for r in results)


def test_reprocess_skips_whitelisted_and_applies_postoverflow(make_store):
    first = scenario_yaml(name="a/first", type="trigger", capacity=0, reprocess="true")
    second = scenario_yaml(name="a/second", type="trigger", capacity=0, filter="evt.Overflow.Alert != nil", groupby=None)
    store = make_store(first, second)

    def whitelist(evt):
        evt.Overflow.Whitelisted = True
        return evt

    assert [r.Overflow.Alert.Scenario for r in store.process(ev(0), now=WALL)] == ["a/first", "a/second"]
    assert [r.Overflow.Alert.Scenario for r in store.process(ev(0), now=WALL, postoverflow=whitelist)] == ["a/first"]


def test_pour_prepared_matches_pour(make_store):
    docs = (
        scenario_yaml(name="a/one", capacity=2, distinct="evt.Meta.k"),
        scenario_yaml(name="a/two", capacity=3, groupby=None),
        scenario_yaml(name="a/three", filter="evt.Meta.log_type == 'y'", type="trigger", capacity=0),
    )
    direct = make_store(*docs)
    sharded = make_store(*docs)
    events = [ev(i % 7, f"10.0.0.{i % 3}", "x" if i % 5 else "y", k=str(i % 4)) for i in range(60)]
    got_direct, got_sharded = [], []
    for evt in events:
        got_direct += direct.pour(evt, now=WALL)
        for prepared in prepare_pours(evt, sharded.scenarios, sharded.index):
            got_sharded += sharded.pour_prepared(prepared.scenario_index, prepared.group, evt, WALL,
                                                 prepared.distinct_value)
    summary = lambda out: [(o.Overflow.Alert.Scenario, o.Overflow.Alert.EventsCount, o.Overflow.Alert.StopAt) for o in out]
    assert summary(got_direct) == summary(got_sharded) and got_direct


def test_flush_drops_live_buckets(make_store):
    store = make_store(scenario_yaml(capacity=5), scenario_yaml(name="c", type="counter", capacity=-1, leakspeed=None, duration="1h"))
    store.pour(ev(0), now=WALL)
    assert len(store) == 2
    assert store.flush(WALL) == [] and len(store) == 0


def test_garbage_collection(make_store):
    store = make_store(
        scenario_yaml(name="c", type="counter", capacity=-1, leakspeed=None, duration="10m"),
        scenario_yaml(name="l", capacity=5, leakspeed="10m"),
    )
    store.pour(ev(0, mode=LIVE), now=WALL)
    assert len(store) == 2
    assert store.collect_garbage(WALL + timedelta(seconds=2)) == 1  # the counter
    assert [b.scenario.name for b in store.buckets()] == ["l"]
    assert store.collect_garbage(WALL + timedelta(minutes=10)) == 1  # fully leaked


def test_postoverflow_may_drop_an_overflow(make_store):
    store = make_store(scenario_yaml(type="trigger", capacity=0))
    assert store.process(ev(0), now=WALL, postoverflow=lambda evt: None) == []
    assert len(store.process(ev(0), now=WALL, postoverflow=lambda evt: evt)) == 1


def test_alert_context_meta(make_store, ctx):
    from crowdsec_mp.engine.expr import compile_expr

    context = [("target_user", [compile_expr("evt.Meta.user", ctx=ctx)]), ("empty", [compile_expr("evt.Meta.nope", ctx=ctx)])]
    store = make_store(scenario_yaml(capacity=2), alert_context=context)
    for user in ("root", "admin", "root"):
        out = store.pour(ev(0, user=user), now=WALL)
    (overflow,) = out
    meta = overflow.Overflow.Alert.Meta
    assert [(m.Key, m.Value) for m in meta] == [("target_user", '["root","admin"]')]
    assert overflow.GetMeta("user") == "root"
