"""The specialised `Static.apply` closures do exactly what the general
`_apply_static` does (same writes, same skips, same StaticAbort)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import Event, StrMap
from crowdsec_mp.engine.expr import compile_expr
from crowdsec_mp.engine.parser.loader import simple_reader
from crowdsec_mp.engine.parser.node import (
    DEST_ENRICHED, DEST_META, DEST_PARSED, Static, _apply_static,
)
from crowdsec_mp.engine.parser.values import StaticAbort

CTX = EngineContext()
SOURCES = ["evt.Parsed.a", "evt.Meta.b", "evt.Parsed.a + 'x'", "evt.Parsed.missing",
           "1 + 2", "1.5", "true", "nil", "evt.Parsed.a == ''", "[1]", "evt.Unmarshaled.x",
           "evt.Line.Raw"]


def outcome(apply, static, parsed):
    evt = Event(Parsed=StrMap(parsed), Meta=StrMap({"b": parsed.get("a", "")}))
    env = {"evt": evt}
    try:
        apply(static, evt, env)
    except StaticAbort as exc:
        return ("abort", str(exc))
    return dict(evt.Parsed), dict(evt.Meta), dict(evt.Enriched)


@settings(max_examples=200, deadline=None)
@given(source=st.sampled_from(SOURCES), literal=st.sampled_from(["", "lit"]),
       dest=st.sampled_from([DEST_META, DEST_PARSED, DEST_ENRICHED]),
       key=st.sampled_from(["a", "b", "c"]), a=st.sampled_from(["", "v", "w"]))
def test_specialised_apply_equals_general(source, literal, dest, key, a):
    static = Static(value=literal, program=compile_expr(source, CTX), dest=dest, key=key,
                    fast_get=simple_reader(source), where="test")
    parsed = {"a": a} if a else {}
    fast = outcome(lambda s, evt, env: s.apply(evt, env, CTX), static, parsed)
    general = outcome(lambda s, evt, env: _apply_static(s, evt, env, CTX), static, parsed)
    assert fast == general


def test_bool_result_still_aborts():
    static = Static(value="", program=compile_expr("true", CTX), dest=DEST_META, key="k")
    with pytest.raises(StaticAbort):
        static.apply(Event(), {"evt": Event()}, CTX)
