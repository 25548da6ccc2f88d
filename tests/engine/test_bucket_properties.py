"""Property tests of the bucket engine (hypothesis).

Expected values come from independent reasoning on the spec (arithmetic on
capacities, a reference model of blackholes), or from comparing two runs of
the engine that must agree (permuted ties, dump/restore, pre-filter on/off).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.buckets import BucketStore, load_scenarios
from crowdsec_mp.engine.buckets.timeutil import format_rfc3339_nano
from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import TIMEMACHINE, Event, Line, StrMap

WALL = datetime(2031, 1, 1, tzinfo=timezone.utc)
LOG_BASE_NS = 1_577_836_800 * 10**9  # 2020-01-01T00:00:00Z
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

SCENARIOS = """\
type: leaky
name: p/leaky
description: d
filter: "evt.Meta.log_type == 'a'"
groupby: evt.Meta.source_ip
capacity: 3
leakspeed: 10s
---
type: leaky
name: p/leaky-distinct
description: d
filter: "evt.Meta.service == 's' && evt.Meta.log_type in ['a', 'b']"
groupby: evt.Meta.source_ip
distinct: evt.Meta.k
capacity: 2
leakspeed: 5s
blackhole: 30s
---
type: trigger
name: p/trigger
description: d
filter: "evt.Meta.log_type == 'b' && evt.Meta.k == '1'"
groupby: evt.Meta.source_ip
blackhole: 20s
---
type: counter
name: p/counter
description: d
filter: "evt.Meta.log_type in ['a', 'c'] or evt.Meta.k == '2'"
capacity: -1
duration: 1m
---
type: conditional
name: p/conditional
description: d
filter: "evt.Meta.log_type == 'c'"
groupby: evt.Meta.source_ip
capacity: -1
leakspeed: 20s
condition: "len(queue.Queue) >= 3"
---
type: trigger
name: p/text-test
description: d
filter: "Upper(evt.Meta.k) contains Upper('1') && evt.Meta.log_type == 'z'"
groupby: evt.Meta.source_ip
"""


@pytest.fixture(scope="module")
def scenario_set(tmp_path_factory):
    directory = tmp_path_factory.mktemp("scenarios")
    path = directory / "p.yaml"
    path.write_text(SCENARIOS)
    ctx = EngineContext(clock=lambda: WALL, data_dir=str(directory))
    return ctx, load_scenarios([str(path)], ctx)


def event(offset_ms: int, ip: str, log_type: str, k: str, service: str = "s", src: str = "") -> Event:
    return Event(
        ExpectMode=TIMEMACHINE,
        Line=Line(Src=src),
        MarshaledTime=format_rfc3339_nano(LOG_BASE_NS + offset_ms * 10**6),
        Meta=StrMap({"source_ip": ip, "log_type": log_type, "k": k, "service": service}),
    )


event_specs = st.lists(
    st.tuples(
        st.integers(0, 120_000),                   # time offset, ms
        st.sampled_from(["10.0.0.1", "10.0.0.2", "2001:db8::1"]),
        st.sampled_from(["a", "b", "c", "z"]),
        st.sampled_from(["0", "1", "2", ""]),
        st.sampled_from(["s", "t"]),
    ),
    max_size=60,
)


def summary(outputs) -> list:
    return [
        (o.Overflow.Alert.Scenario, tuple(o.Overflow.GetSources()), o.Overflow.Alert.EventsCount,
         o.Overflow.Alert.StartAt, o.Overflow.Alert.StopAt)
        for o in outputs
    ]


def run(store, specs, wall_step=timedelta(milliseconds=1)):
    outputs = []
    now = WALL
    for spec in specs:
        outputs += store.process(event(*spec), now=now)
        now += wall_step
    return outputs


@SETTINGS
@given(specs=event_specs, data=st.data())
def test_order_within_one_timestamp_does_not_matter(scenario_set, specs, data):
    ctx, scenarios = scenario_set
    ordered = sorted(specs, key=lambda s: s[0])
    # Permute events that share a timestamp (a stable sort on time keeps the permutation).
    shuffled = sorted(data.draw(st.permutations(ordered)), key=lambda s: s[0])
    first = summary(run(BucketStore(scenarios, ctx), ordered))
    second = summary(run(BucketStore(scenarios, ctx), shuffled))
    assert sorted(first) == sorted(second)


@SETTINGS
@given(capacity=st.integers(1, 8), count=st.integers(0, 40))
def test_instant_events_overflow_every_capacity_plus_one(scenario_set, capacity, count):
    ctx, scenarios = scenario_set
    leaky = scenarios[0]
    leaky.capacity = capacity
    leaky.finish()
    try:
        store = BucketStore([leaky], ctx)
        outputs = run(store, [(0, "10.0.0.1", "a", "0", "s")] * count, wall_step=timedelta(0))
    finally:
        leaky.capacity = 3
        leaky.finish()
    assert len(outputs) == count // (capacity + 1)
    assert all(o.Overflow.Alert.EventsCount == capacity + 1 for o in outputs)
    assert all(len(o.Overflow.Alert.Events) == capacity + 1 for o in outputs)


@SETTINGS
@given(gaps=st.lists(st.integers(0, 40_000), max_size=30))
def test_blackhole_reference_model(scenario_set, gaps):
    ctx, scenarios = scenario_set
    trigger = scenarios[2]  # blackhole 20 s
    times, t = [], 0
    for gap in gaps:
        t += gap
        times.append(t)
    store = BucketStore([trigger], ctx)
    outputs = run(store, [(ms, "10.0.0.1", "b", "1", "s") for ms in times])
    emitted = [o.MarshaledTime for o in outputs]
    expected, last = [], None
    for ms in times:
        if last is None or ms >= last + 20_000:
            expected.append(format_rfc3339_nano(LOG_BASE_NS + ms * 10**6))
            last = ms
    assert emitted == expected


@SETTINGS
@given(specs=event_specs, cut=st.integers(0, 60), tick_after=st.booleans())
def test_dump_restore_continue_is_seamless(scenario_set, specs, cut, tick_after):
    ctx, scenarios = scenario_set
    specs = sorted(specs, key=lambda s: s[0])
    cut = min(cut, len(specs))
    whole = BucketStore(scenarios, ctx)
    expected = run(whole, specs)
    first = BucketStore(scenarios, ctx)
    got = run(first, specs[:cut])
    resumed = BucketStore(scenarios, ctx)
    resumed.restore(first.dump())
    now = WALL + timedelta(milliseconds=cut)
    for spec in specs[cut:]:
        got += resumed.process(event(*spec), now=now)
        now += timedelta(milliseconds=1)
    assert summary(got) == summary(expected)
    if tick_after:
        later = WALL + timedelta(hours=1)
        assert summary(resumed.tick(later)) == summary(whole.tick(later))
    assert resumed.dump() == whole.dump()


@SETTINGS
@given(specs=event_specs)
def test_prefilter_gives_identical_results(scenario_set, specs):
    ctx, scenarios = scenario_set
    specs = sorted(specs, key=lambda s: s[0])
    with_index = BucketStore(scenarios, ctx)
    without = BucketStore(scenarios, ctx, prefilter=False)
    assert summary(run(with_index, specs)) == summary(run(without, specs))
    assert with_index.dump() == without.dump()


# Bursts of events from one source over two hours, delivered out of order by at
# most 20 s: less than the 30 s grace the sweep gets in these tests.
SWEEP_GRACE_NS = 30 * 10**9
bursts = st.lists(
    st.tuples(
        st.integers(0, 2 * 3600_000),              # burst start, ms
        st.integers(1, 6),                          # events in the burst
        st.integers(0, 15_000),                     # ms between them
        st.sampled_from(["10.0.0.1", "10.0.0.2", "2001:db8::1"]),
        st.sampled_from(["a", "b", "c", "z"]),
        st.sampled_from(["0", "1", "2", ""]),
        st.sampled_from(["s", "t"]),
        st.integers(0, 20_000),                     # delivery delay of the burst, ms
    ),
    max_size=25,
)


def delivered(burst_list) -> list:
    """Event specs in delivery order: log time plus each burst's delay (< the grace)."""
    timed = []
    for start, count, spacing, ip, log_type, k, service, delay in burst_list:
        for number in range(count):
            ms = start + number * spacing
            timed.append((ms + delay, (ms, ip, log_type, k, service)))
    return [spec for _, spec in sorted(timed, key=lambda pair: pair[0])]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(burst_list=bursts)
def test_replay_sweep_changes_no_result(scenario_set, burst_list):
    ctx, scenarios = scenario_set
    events = delivered(burst_list)
    swept = BucketStore(scenarios, ctx, replay_gc_grace_ns=SWEEP_GRACE_NS)
    unswept = BucketStore(scenarios, ctx, replay_gc_grace_ns=None)
    assert summary(run(swept, events)) == summary(run(unswept, events))
    assert swept.stats["late_after_gc"] == 0
    assert len(swept) <= len(unswept)


def test_replay_sweep_drops_stale_buckets_and_counts_late_events(scenario_set):
    ctx, scenarios = scenario_set
    leaky = scenarios[0]  # capacity 3, leakspeed 10 s: stale 40 s after its last event
    store = BucketStore([leaky], ctx)  # default grace: 5 minutes
    run(store, [(0, "10.0.0.1", "a", "0", "s"), (1000, "10.0.0.2", "a", "0", "s")])
    assert len(store) == 2
    # 20 minutes later: a sweep with horizon 15 min drops both stale buckets.
    run(store, [(20 * 60_000, "2001:db8::1", "a", "0", "s")])
    assert len(store) == 1
    assert store.stats["replay_gc_dropped"] == 2
    # An event from before the horizon is counted as late (its bucket may be gone).
    run(store, [(5 * 60_000, "10.0.0.1", "a", "0", "s")])
    assert store.stats["late_after_gc"] == 1


def test_replay_sweep_follows_each_source_clock(scenario_set):
    """Two files replayed together, batch by batch: a dense one (a brute force every
    3 s for an hour) and a sparse one (an event every 5 minutes for 5 hours) whose
    log time runs far ahead. The sweep must wait for the slow file."""
    ctx, scenarios = scenario_set
    dense = [(ms, "10.0.0.1", "a", "0", "s", "dense.log") for ms in range(0, 3600_000, 3000)]
    sparse = [(ms, "10.0.0.2", "a", "0", "s", "sparse.log") for ms in range(0, 5 * 3600_000, 300_000)]
    events = []
    for number, spec in enumerate(sparse):
        events += dense[number * 20:(number + 1) * 20] + [spec]
    swept = BucketStore(scenarios, ctx, replay_gc_grace_ns=SWEEP_GRACE_NS)
    unswept = BucketStore(scenarios, ctx, replay_gc_grace_ns=None)
    expected = summary(run(unswept, events))
    assert len(expected) > 100
    assert summary(run(swept, events)) == expected
    assert swept.stats["late_after_gc"] == 0
