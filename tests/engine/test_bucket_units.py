"""Units of the bucket engine that need no expressions: time formats, limiter, pre-check."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crowdsec_mp.engine.buckets.limiter import TokenBucket
from crowdsec_mp.engine.buckets.prefilter import NONEMPTY, ScenarioIndex, leading_requirements, split_top_conjuncts
from crowdsec_mp.engine.buckets.timeutil import (
    NS_PER_S,
    datetime_to_ns,
    format_go_duration,
    format_go_time,
    format_rfc3339_nano,
    parse_go_duration,
    parse_rfc3339_ns,
)

S = NS_PER_S


@pytest.mark.parametrize(
    "text, ns",
    [
        ("10s", 10 * S), ("0.5s", S // 2), ("1m", 60 * S), ("2h", 7200 * S), ("500ms", S // 2),
        ("1h30m", 5400 * S), ("1.5h", 5400 * S), ("3µs", 3000), ("7ns", 7), ("0", 0), ("-2s", -2 * S),
        (".25s", S // 4),
    ],
)
def test_parse_go_duration(text, ns):
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "1x", "s", "1.s.", "10 s", None, 10])
def test_parse_go_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize(
    "ns, text",
    [
        (0, "0s"), (10 * S, "10s"), (S // 2, "500ms"), (4 * S + S // 2, "4.5s"), (90 * S + S // 2, "1m30.5s"),
        (7200 * S, "2h0m0s"), (60 * S, "1m0s"), (2 * S + 123_000, "2.000123s"), (1500, "1.5µs"), (999, "999ns"),
        (-3 * S, "-3s"),
    ],
)
def test_format_go_duration(ns, text):
    assert format_go_duration(ns) == text


def test_rfc3339_round_trip_and_offsets():
    assert parse_rfc3339_ns("2020-01-01T10:00:05Z") == datetime_to_ns(datetime(2020, 1, 1, 10, 0, 5, tzinfo=timezone.utc))
    assert parse_rfc3339_ns("2020-06-08T06:49:01+02:00") == parse_rfc3339_ns("2020-06-08T04:49:01Z")
    ns = parse_rfc3339_ns("2024-05-02T08:01:02.123456789Z")
    assert format_rfc3339_nano(ns) == "2024-05-02T08:01:02.123456789Z"
    assert format_go_time(ns) == "2024-05-02 08:01:02.123456789 +0000 UTC"
    assert format_rfc3339_nano(parse_rfc3339_ns("2020-01-01T10:00:00.000Z")) == "2020-01-01T10:00:00Z"
    assert format_go_time(parse_rfc3339_ns("2024-05-02T08:01:04.5Z")) == "2024-05-02 08:01:04.5 +0000 UTC"
    for bad in ("", "yesterday", "2020-13-01T00:00:00Z", "2020-01-01 10:00:00"):
        assert parse_rfc3339_ns(bad) is None


def test_limiter_accepts_capacity_then_refuses():
    limiter = TokenBucket(capacity=5, leakspeed_ns=10 * S)
    assert all(limiter.allow(0) for _ in range(5))
    assert not limiter.allow(0)
    # 10 s later one token leaked back.
    assert limiter.allow(10 * S)
    assert not limiter.allow(10 * S)


def test_limiter_leak_is_continuous():
    limiter = TokenBucket(capacity=1, leakspeed_ns=10 * S)
    assert limiter.allow(0)
    assert not limiter.allow(5 * S)  # half a token back: not enough
    assert limiter.available(5 * S) == pytest.approx(0.5)
    assert limiter.allow(10 * S)


def test_limiter_time_going_backwards_gives_no_refill():
    limiter = TokenBucket(capacity=1, leakspeed_ns=S)
    assert limiter.allow(100 * S)
    assert not limiter.allow(50 * S)


def test_unlimited_limiter_always_allows():
    limiter = TokenBucket(capacity=-1, leakspeed_ns=0)
    assert all(limiter.allow(0) for _ in range(1000))
    assert limiter.available(0) == 0.0


@pytest.mark.parametrize(
    "source, expected",
    [
        ("evt.Meta.log_type == 'ssh_failed-auth'", [("log_type", {"ssh_failed-auth"})]),
        (
            "evt.Meta.service == 'ssh' && evt.Meta.log_type in ['ssh_failed-auth', 'auth_success']",
            [("service", {"ssh"}), ("log_type", {"ssh_failed-auth", "auth_success"})],
        ),
        (
            'evt.Meta.log_type in ["http_access-log", "http_error-log"] and \n  Upper(evt.Meta.http_path) contains "x"',
            [("log_type", {"http_access-log", "http_error-log"}), ("http_path", NONEMPTY)],
        ),
        ("evt.Meta.log_type == 'a' && evt.Parsed.x == 'b' && evt.Meta.service == 'c'", [("log_type", {"a"})]),
        # a top-level `or`, ternary, let or comment makes the pre-check unsafe
        ("evt.Meta.log_type == 'a' && x || evt.Meta.log_type == 'b'", []),
        ("evt.Meta.log_type == 'a' ? true : false", []),
        ("let r = 1; evt.Meta.log_type == 'a' && r == 1", []),
        ("evt.Meta.log_type == 'a' // comment\n || true", []),
        ("Upper(evt.Meta.http_path) contains 'x' && evt.Meta.log_type == 'a'", [("http_path", NONEMPTY), ("log_type", {"a"})]),
        ("Upper(evt.Meta.http_path) contains Upper(x) && evt.Meta.log_type == 'a'", []),
        ("evt.Meta.log_type not in ['a'] && true", []),
        ("(evt.Meta.log_type == 'a' || evt.Meta.log_type == 'b') && true", []),
        ("evt.Meta.log_type == 'it\\'s' && true", []),
        # text tests on a Meta value are false for "" whatever the literal (if non-empty)
        ("Upper(evt.Meta.http_path) contains Upper('/x') && y", [("http_path", "nonempty")]),
        ("Lower(QueryUnescape(evt.Meta.p)) startsWith '/a'", [("p", "nonempty")]),
        ("evt.Meta.p endsWith ''", []),
        ("Upper(evt.Meta.p) matches 'a'", []),
        ("Upper(evt.Parsed.p) contains 'a'", []),
    ],
)
def test_leading_requirements(source, expected):
    got = [(key, values if values == NONEMPTY else set(values)) for key, values in leading_requirements(source)]
    assert got == expected


def test_split_top_conjuncts_respects_nesting_and_strings():
    parts = split_top_conjuncts("a == 'x && y' && any(l, {# and true}) and [1, 2] == b")
    assert parts == ["a == 'x && y'", "any(l, {# and true})", "[1, 2] == b"]
    assert split_top_conjuncts("f(a") is None


class _Spec:
    def __init__(self, name, filter_source):
        self.name = name
        self.filter_source = filter_source


def test_scenario_index_candidates():
    from crowdsec_mp.engine.event import Event, StrMap

    specs = [
        _Spec("a", "evt.Meta.log_type == 'ssh' && x"),
        _Spec("b", "Upper(evt.Meta.path) contains 'X'"),
        _Spec("c", "anything(evt)"),
        _Spec("d", "evt.Meta.log_type in ['ssh', 'http'] and Lower(evt.Meta.path) == 'x'"),
    ]
    index = ScenarioIndex(specs)
    names = lambda meta: [s.name for s in index.candidates(Event(Meta=StrMap(meta)))]
    assert names({"log_type": "ssh"}) == ["a", "c"]
    assert names({"log_type": "http", "path": "x"}) == ["b", "c", "d"]
    assert names({"log_type": "other", "path": "x"}) == ["b", "c"]
    # Exact text tests: Upper("/p") does not contain "X", Lower("/p") != "x".
    assert names({"log_type": "http", "path": "/p"}) == ["c"]
    assert names({"path": 3}) == ["b", "c"]  # a non-string keeps text tests (they would error)
    assert [s.name for s in ScenarioIndex(specs, enabled=False).candidates(Event())] == ["a", "b", "c", "d"]
