"""`statics_runner` (copy/literal statics run in batches) does exactly what
applying each static in turn does: same writes in the same order, same skips,
same StaticAbort, on random lists of statics and random events."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.enrich import METHODS
from crowdsec_mp.engine.event import Event, StrMap
from crowdsec_mp.engine.expr import compile_expr
from crowdsec_mp.engine.parser.loader import map_member, simple_reader
from crowdsec_mp.engine.parser.node import (
    DEST_ENRICHED, DEST_META, DEST_METHOD, DEST_PARSED, DEST_TARGET, Static, _apply_static,
    statics_runner,
)
from crowdsec_mp.engine.parser.values import StaticAbort

# A fixed clock: ParseDate falls back to "now" on text it cannot parse.
FIXED_NOW = datetime(2024, 3, 10, 6, 0, 0, tzinfo=timezone.utc)
CTX = EngineContext(clock=lambda: FIXED_NOW)
KEYS = ["a", "b", "c"]
SOURCES = ["evt.Parsed.a", "evt.Meta.b", "evt.Enriched.c", "evt.Parsed['b']", "evt.Meta.missing",
           "evt.Parsed.a + 'x'", "evt.StrTime", "evt.Line.Raw", "1 + 2", "true", "nil"]
TARGETS = ["evt.Meta.a", "evt.Parsed.b", "evt.Enriched.c", "evt.Parsed.a.ignored", "evt.StrTime",
           "evt.Unmarshaled.x", "evt.Meta", "Meta.c"]
MAP_VALUES = st.one_of(st.sampled_from(["", "v", "w"]), st.integers(-2, 2), st.just(True),
                       st.just(1.5), st.none())


def make_static(kind, source, literal, key, target):
    program = compile_expr(source, CTX) if not literal else None
    fast_get = simple_reader(source) if program is not None else None
    common = dict(value=literal, program=program, fast_get=fast_get,
                  source_member=map_member(source) if fast_get is not None else None, where="test")
    if kind == DEST_TARGET:
        return Static(dest=DEST_TARGET, key=target, **common)
    if kind == DEST_METHOD:
        return Static(dest=DEST_METHOD, key="ParseDate", method=METHODS["ParseDate"], **common)
    return Static(dest=kind, key=key, **common)


statics_lists = st.lists(
    st.builds(make_static,
              st.sampled_from([DEST_META, DEST_PARSED, DEST_ENRICHED, DEST_TARGET, DEST_METHOD]),
              st.sampled_from(SOURCES), st.sampled_from(["", "", "lit"]), st.sampled_from(KEYS),
              st.sampled_from(TARGETS)),
    max_size=8)


def outcome(apply, maps):
    parsed, meta, enriched = maps
    evt = Event(Parsed=StrMap(parsed), Meta=StrMap(meta), Enriched=StrMap(enriched),
                StrTime="10/Mar/2024:06:00:02 +0000")
    env = {"evt": evt}
    aborted = None
    try:
        apply(evt, env)
    except StaticAbort as exc:
        aborted = str(exc)
    # The maps after an abort matter too: the writes before it must be the same.
    return aborted, dict(evt.Parsed), dict(evt.Meta), dict(evt.Enriched), dict(evt.Unmarshaled), \
        evt.StrTime, evt.Time


@settings(max_examples=400, deadline=None)
@given(statics=statics_lists,
       maps=st.tuples(*[st.dictionaries(st.sampled_from(KEYS), MAP_VALUES, max_size=3)] * 3))
def test_runner_equals_one_static_at_a_time(statics, maps):
    runner = statics_runner(statics)

    def one_by_one(evt, env):
        for static in statics:
            _apply_static(static, evt, env, CTX)

    def batched(evt, env):
        if runner is not None:
            runner(evt, env, CTX)

    assert (runner is None) == (not statics)
    assert outcome(batched, maps) == outcome(one_by_one, maps)


def test_copy_and_literal_statics_become_one_batch():
    statics = [make_static(DEST_META, "evt.Parsed.a", "", "a", ""),
               make_static(DEST_META, "", "lit", "b", ""),
               make_static(DEST_TARGET, "evt.Meta.a", "", "", "evt.Parsed.c")]
    assert [static.copy_step() for static in statics] == [
        (0, "a", 1, "a"), (-1, "lit", 1, "b"), (1, "a", 0, "c")]
    runner = statics_runner(statics)
    assert runner.__name__ == "apply_copies"
    evt = Event(Parsed=StrMap({"a": "x"}))
    runner(evt, {"evt": evt}, CTX)
    assert dict(evt.Meta) == {"a": "x", "b": "lit"} and evt.Parsed["c"] == "x"


def test_map_targets_without_evt_prefix_are_batched_like_compile_target():
    # compile_target reads `Meta.c` as `evt.Meta.c`.
    assert make_static(DEST_TARGET, "evt.Parsed.a", "", "", "Meta.c").copy_step() == (0, "a", 1, "c")


@pytest.mark.parametrize("target", ["evt.StrTime", "evt.Unmarshaled.x", "evt.Meta", "evt.Meta."])
def test_other_targets_are_not_batched(target):
    assert make_static(DEST_TARGET, "evt.Parsed.a", "", "", target).copy_step() is None


def test_string_field_readers_are_batched_with_their_reader():
    static = make_static(DEST_META, "evt.StrTime", "", "a", "")
    assert static.copy_step() == (-2, static.fast_get, 1, "a")


def test_expression_and_method_statics_are_not_batched():
    assert make_static(DEST_META, "evt.Parsed.a + 'x'", "", "a", "").copy_step() is None
    assert make_static(DEST_METHOD, "evt.StrTime", "", "", "").copy_step() is None
