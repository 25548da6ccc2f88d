"""StashStore (spec/parsers.md §9): named caches, TTL on the injected clock,
LRU eviction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crowdsec_mp.engine.stash import StashStore

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def test_set_get_and_unknown():
    store = StashStore(Clock())
    store.set("pids", "1", "bob", 30)
    assert store.get("pids", "1") == "bob"
    assert store.get("pids", "2") == ""
    assert store.get("other", "1") == ""


def test_ttl_seconds_and_go_duration_text():
    clock = Clock()
    store = StashStore(clock)
    store.set("c", "a", "x", 30)
    store.set("c", "b", "y", "1m30s")
    clock.now = T0 + timedelta(seconds=29)
    assert store.get("c", "a") == "x"
    clock.now = T0 + timedelta(seconds=30)
    assert store.get("c", "a") == ""
    assert store.get("c", "b") == "y"
    clock.now = T0 + timedelta(seconds=91)
    assert store.get("c", "b") == ""


def test_set_refreshes_ttl_and_value():
    clock = Clock()
    store = StashStore(clock)
    store.set("c", "k", "old", "10s")
    clock.now = T0 + timedelta(seconds=8)
    store.set("c", "k", "new", "10s")
    clock.now = T0 + timedelta(seconds=15)
    assert store.get("c", "k") == "new"


def test_lru_eviction_keeps_recently_used():
    store = StashStore(Clock())
    for key in ("a", "b", "c"):
        store.set("c", key, key.upper(), 60, size=3)
    assert store.get("c", "a") == "A"  # a is now most recent
    store.set("c", "d", "D", 60, size=3)
    assert store.get("c", "b") == ""  # least recently used evicted
    assert [store.get("c", k) for k in ("a", "c", "d")] == ["A", "C", "D"]


def test_caches_are_independent():
    store = StashStore(Clock())
    store.set("one", "k", "1", 60, size=1)
    store.set("two", "k", "2", 60, size=1)
    assert (store.get("one", "k"), store.get("two", "k")) == ("1", "2")


def test_lfu_and_arc_fall_back_to_lru():
    store = StashStore(Clock())
    store.set("c", "a", "A", 60, size=1, strategy="LFU")
    store.set("c", "b", "B", 60, size=1, strategy="LFU")
    assert store.get("c", "a") == ""
    assert store.get("c", "b") == "B"


@pytest.mark.parametrize("ttl", ["abc", "5", None, True])
def test_bad_ttl_is_rejected(ttl):
    with pytest.raises(ValueError):
        StashStore(Clock()).set("c", "k", "v", ttl)


def test_bad_size_or_strategy_is_rejected():
    store = StashStore(Clock())
    with pytest.raises(ValueError):
        store.configure("c", size=0)
    with pytest.raises(ValueError):
        store.configure("c", strategy="FIFO")
