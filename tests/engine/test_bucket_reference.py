"""CrowdSec's own bucket test cases (crowdsec-testdata/buckets, spec/scenarios.md §10).

Harness as the spec describes it: the case's scenario files are loaded, every
line is poured in TIMEMACHINE mode 50 ms apart on the wall clock, then the
timers are given 2 s of wall clock; the overflows and cleanup signals that
came out are compared, order-independently, with the case's `results` on
scenario, events_count and the sources map.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from crowdsec_mp.engine.buckets import BucketStore, load_scenarios
from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import TIMEMACHINE, Event, Line, StrMap

CASES = [
    "simple-leaky-overflow", "simple-leaky-underflow", "simple-leaky-blackhole",
    "simple-leaky-cancel_on", "simple-leaky-ovflwfilter", "simple-leaky-uniq",
    "simple-leaky-uniq-cachesize", "leaky-fixedqueue", "leaky-scope-range-expression",
    "simple-trigger", "simple-trigger-external-data", "simple-trigger-reprocess",
    "overflow-with-meta", "overflow-with-meta-and-information", "simple-counter",
    "simple-counter-bh", "simple-counter-timeout", "conditional-bucket",
    "simple-bayesian-bucket", "guillotine-bayesian-bucket", "multiple-bayesian-bucket",
]
WALL_START = datetime(2031, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
SOURCE_FIELDS = {"scope": "Scope", "value": "Value", "ip": "IP", "as_name": "AsName", "as_number": "AsNumber", "cn": "Cn"}


def case_dir(shared_dir: Path, name: str) -> Path:
    return shared_dir / "crowdsec-testdata" / "buckets" / name


def scenario_files(directory: Path) -> list[str]:
    text = (directory / "scenarios.yaml").read_text().replace("{{.TestDirectory}}", str(directory))
    return [entry["filename"] for entry in yaml.safe_load(text)]


def make_event(raw: dict) -> Event:
    line = raw.get("Line") or {}
    return Event(
        ExpectMode=TIMEMACHINE,
        Line=Line(Raw=line.get("Raw", ""), Labels=StrMap(line.get("Labels") or {})),
        MarshaledTime=raw.get("MarshaledTime", ""),
        Meta=StrMap(raw.get("Meta") or {}),
        Parsed=StrMap(raw.get("Parsed") or {}),
        Enriched=StrMap(raw.get("Enriched") or {}),
    )


def run_case(directory: Path):
    ctx = EngineContext(clock=lambda: WALL_START, data_dir=str(directory.parent))
    scenarios = load_scenarios(scenario_files(directory), ctx)
    store = BucketStore(scenarios, ctx, emit_cleanups=True)
    data = json.loads((directory / "test.json").read_text())
    outputs = []
    now = WALL_START
    for raw in data["lines"]:
        outputs.extend(store.process(make_event(raw), now=now))
        now += timedelta(milliseconds=50)
    outputs.extend(store.tick(now + timedelta(seconds=2)))
    return outputs, data["results"] or []


def summarize_output(evt) -> tuple:
    alert = evt.Overflow.Alert
    if alert is None:
        return ("cleanup",)
    sources = {
        value: {k: getattr(src, attr) for k, attr in SOURCE_FIELDS.items() if getattr(src, attr)}
        for value, src in evt.Overflow.Sources.items()
    }
    return (alert.Scenario, alert.EventsCount, json.dumps(sources, sort_keys=True))


def summarize_expected(result: dict) -> tuple:
    alert = result.get("Alert") or {}
    inner = alert.get("Alert")
    if not inner:
        return ("cleanup",)
    sources = alert.get("sources") or alert.get("Sources") or {}
    return (inner["scenario"], inner["events_count"], json.dumps(sources, sort_keys=True))


@pytest.mark.parametrize("name", CASES)
def test_reference_case(shared_dir, name):
    directory = case_dir(shared_dir, name)
    outputs, expected = run_case(directory)
    got = sorted(summarize_output(evt) for evt in outputs)
    want = sorted(summarize_expected(result) for result in expected)
    assert got == want


def test_blackhole_case_emits_in_log_order(shared_dir):
    """alert (10:00:04), blackholed cleanup (10:00:16), alert after expiry (10:01:16)."""
    outputs, _ = run_case(case_dir(shared_dir, "simple-leaky-blackhole"))
    kinds = ["alert" if evt.Overflow.Alert else "cleanup" for evt in outputs]
    assert kinds == ["alert", "cleanup", "alert"]
    assert outputs[0].Overflow.Alert.StopAt == "2020-01-01T10:00:04Z"
    assert outputs[2].Overflow.Alert.StartAt == "2020-01-01T10:01:15Z"


def test_fixed_queue_keeps_cache_size_plus_one(shared_dir):
    outputs, _ = run_case(case_dir(shared_dir, "leaky-fixedqueue"))
    (overflow,) = outputs
    assert overflow.Overflow.Alert.EventsCount == 6
    assert len(overflow.Overflow.Alert.Events) == 4


def test_counter_overflows_at_wall_clock(shared_dir):
    outputs, _ = run_case(case_dir(shared_dir, "simple-counter"))
    (overflow,) = outputs
    # ovflw_ts is the tick's wall clock (2 s after the last pour), first_ts the log time.
    assert overflow.Overflow.Alert.StartAt == "2020-01-01T10:00:00Z"
    assert overflow.Overflow.Alert.StopAt.startswith("2031-05-01T12:00:02")
