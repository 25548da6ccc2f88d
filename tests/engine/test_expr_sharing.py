"""Pure calls computed once per run (compiler `_share`) and constant folding of
pure calls give exactly what plain evaluation gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.datafiles import DataLines
from crowdsec_mp.engine.event import Event, StrMap
from crowdsec_mp.engine.expr import ExprRuntimeError, Program, _functions_for, compile_expr, fastpred
from crowdsec_mp.engine.expr.compiler import Compiler
from crowdsec_mp.engine.expr.parser import parse

CTX = EngineContext()

EXPRESSIONS = [
    "Upper(evt.Meta.p) contains 'A' || Upper(evt.Meta.p) contains 'B' || Upper(evt.Meta.p) == 'C'",
    "Upper(PathUnescape(evt.Meta.p)) contains Upper('%') or Upper(PathUnescape(evt.Meta.p)) endsWith 'B'",
    "any(['a', 'b', 'ab'], { Lower(evt.Meta.p) contains # })",
    "all(['a', 'b'], { Lower(evt.Meta.p) contains # || Lower(evt.Meta.p) == '' })",
    "let x = Upper(evt.Meta.p); Upper(evt.Meta.p) + x + Upper(evt.Meta.p)",
    "let p = evt.Meta.q; Upper(p) + (let p = evt.Meta.p; Upper(p)) + Upper(p)",
    "map(['a', 'B'], { Upper(evt.Meta.p) + Upper(#) })",
    "evt.SetMeta('p', Upper(evt.Meta.p) + 'x') && Upper(evt.Meta.p) endsWith 'X'",
    "Upper(evt.Meta.n) == Upper(evt.Meta.n)",   # errors (not a string) each time
    "filter(lines, { Upper(evt.Meta.p) contains Upper(#) })",
    "none(lines, { Upper(evt.Meta.p) contains Upper(#) })",
]


def run(expression, meta, share: bool):
    functions = _functions_for(CTX)
    fn, private = Compiler(functions, share_pure_calls=share).compile_root(parse(expression))
    program = Program(expression, "", fn, private)
    evt = Event(Meta=StrMap(meta))
    dict.__setitem__(evt.Meta, "n", 5)
    env = {"evt": evt, "lines": DataLines(["a", "%", "é"])}
    try:
        result = program.run(env)
    except ExprRuntimeError as exc:
        result = ("error", str(exc))
    assert set(env) == {"evt", "lines"}  # the caller's env is never written
    return result, dict(evt.Meta)


@settings(max_examples=150, deadline=None)
@given(expression=st.sampled_from(EXPRESSIONS),
       p=st.text(alphabet="abAB%2eé", max_size=6), q=st.text(alphabet="abxy", max_size=3))
def test_shared_calls_give_the_plain_results(expression, p, q):
    meta = {"p": p, "q": q}
    assert run(expression, meta, share=True) == run(expression, meta, share=False)


def test_repeated_pure_call_is_shared_and_computed_once():
    tree = parse(EXPRESSIONS[0])
    functions = _functions_for(CTX)
    assert fastpred.shared_pure_calls(tree, functions)
    calls = []
    program = compile_expr(EXPRESSIONS[0], CTX)
    evt = Event(Meta=StrMap({"p": "zzz"}))
    original = evt.Meta.get

    class CountingMeta(StrMap):
        def __getitem__(self, key):
            calls.append(key)
            return original(key, "")

    evt.Meta = CountingMeta(evt.Meta)
    assert program.run({"evt": evt}) is False
    assert calls == ["p"]  # three textual uses, one read


@pytest.mark.parametrize("expression", [
    "evt.SetMeta('a', 'b') || Upper(evt.Meta.p) == Upper(evt.Meta.p)",  # a method call
    "$env.evt == nil || Upper(evt.Meta.p) == Upper(evt.Meta.p)",         # $env
    "Upper('a') == Upper('a')",                                           # constants: folded
])
def test_nothing_shared_when_unsafe_or_constant(expression):
    assert fastpred.shared_pure_calls(parse(expression), _functions_for(CTX)) == frozenset()


def test_folded_constant_call_still_fails_at_run_time():
    program = compile_expr("Upper(1) == 'x'", CTX)  # compiles, as before
    with pytest.raises(ExprRuntimeError, match="Upper"):
        program.run({})
    assert compile_expr("Upper('abc') + Lower('DEF')", CTX).run({}) == "ABCdef"


def test_caller_functions_disable_sharing():
    calls = []

    def Upper(text):  # noqa: N802 - the helper's name
        calls.append(text)
        return text.upper()

    program = compile_expr("Upper(v) == 'A' || Upper(v) == 'B'", CTX, extra_funcs={"Upper": Upper})
    assert program.run({"v": "c"}) is False
    assert calls == ["c", "c"]
