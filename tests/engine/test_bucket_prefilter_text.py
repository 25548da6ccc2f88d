"""Exact text tests of the scenario prefilter (buckets/prefilter.py TextTest):
`check(meta)` equals the compiled conjunct for every string Meta value, so a
scenario is only skipped when its filter is certainly false."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.buckets.prefilter import ScenarioIndex, leading_text_tests
from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import Event, StrMap
from crowdsec_mp.engine.expr import compile_expr

CTX = EngineContext()
ALPHABET = "aAbB/%2e+ßı."
value_text = st.text(alphabet=ALPHABET, max_size=10)
literal_text = st.text(alphabet=ALPHABET.replace("%", ""), max_size=4)
left_side = st.sampled_from(["evt.Meta.p", "Upper(evt.Meta.p)", "Lower(evt.Meta.p)",
                             "Upper(PathUnescape(evt.Meta.p))", "Lower(QueryUnescape(evt.Meta.p))",
                             "QueryUnescape( evt.Meta.p )"])
operator = st.sampled_from([" contains ", " startsWith ", " endsWith ", " == "])
right_side = st.sampled_from(["'{}'", '"{}"', "Upper('{}')", "Lower(\"{}\")"])


@settings(max_examples=200, deadline=None)
@given(left=left_side, op=operator, right=right_side, literal=literal_text, value=value_text)
def test_text_test_equals_the_expression(left, op, right, literal, value):
    conjunct = left + op + right.format(literal)
    tests = leading_text_tests(conjunct)
    if literal == "" or "//" in literal or (left == "evt.Meta.p" and op == " == " and right[0] in "'\""):
        # An empty literal is no requirement at all, `//` could start a
        # comment (the splitter gives up); a bare equality is
        # decided by the cached signature instead.
        assert tests == []
        return
    assert len(tests) == 1
    evt = Event(Meta=StrMap({"p": value}))
    assert tests[0].check(evt.Meta) is compile_expr(conjunct, CTX).run({"evt": evt})


@pytest.mark.parametrize("conjunct", [
    "Upper(evt.Meta.p) contains Upper('a'",          # unbalanced
    "Upper(evt.Meta.p)) contains 'a'",
    "Upper(evt.Meta.p) contains 'a')",
    "Trim(evt.Meta.p, ' ') contains 'a'",              # not a known helper
    "Upper(evt.Meta.p) contains evt.Meta.q",           # not a literal
    "Upper(evt.Meta.p) contains 'a\\'b'",              # escapes: not handled
])
def test_other_shapes_give_no_text_test(conjunct):
    assert leading_text_tests(conjunct) == []


class _Spec:
    def __init__(self, name, filter_source):
        self.name = name
        self.filter_source = filter_source


def test_only_leading_conjuncts_count():
    # After a conjunct that is not a simple Meta test, nothing may be skipped:
    # that conjunct could fail with an error, which aborts the pour (§3.3).
    index = ScenarioIndex([_Spec("late", "f(evt) && Upper(evt.Meta.p) contains 'X'"),
                           _Spec("early", "Upper(evt.Meta.p) contains 'X' && f(evt)")])
    names = [s.name for s in index.candidates(Event(Meta=StrMap({"p": "nothing"})))]
    assert names == ["late"]


def test_non_string_meta_value_keeps_the_scenario():
    index = ScenarioIndex([_Spec("a", "Upper(evt.Meta.p) contains 'X'")])
    evt = Event(Meta=StrMap({"p": "q"}))
    dict.__setitem__(evt.Meta, "p", 7)
    assert [s.name for s in index.candidates(evt)] == ["a"]
