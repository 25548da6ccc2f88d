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
left_side = st.sampled_from(["evt.Meta.p", "Lower(evt.Parsed.p)", "Upper(evt.Meta.p)", "Lower(evt.Meta.p)",
                             "Upper(PathUnescape(evt.Meta.p))", "Lower(QueryUnescape(evt.Meta.p))",
                             "QueryUnescape( evt.Meta.p )"])
operator = st.sampled_from([" contains ", " startsWith ", " endsWith ", " == ", " matches "])
right_side = st.sampled_from(["'{}'", '"{}"', "Upper('{}')", "Lower(\"{}\")"])


@settings(max_examples=300, deadline=None)
@given(left=left_side, op=operator, right=right_side, literal=literal_text, value=value_text)
def test_text_test_equals_the_expression(left, op, right, literal, value):
    conjunct = left + op + right.format(literal)
    tests = leading_text_tests(conjunct)
    if left == "evt.Meta.p" and op == " == " and right[0] in "'\"":
        assert tests == []  # a bare equality is decided by the cached signature
        return
    if op == " matches " and not tests:
        with pytest.raises(Exception):  # only an invalid pattern gives no test
            compile_expr(conjunct, CTX).run({"evt": Event()})
        return
    assert len(tests) == 1
    evt = Event(Meta=StrMap({"p": value}), Parsed=StrMap({"p": value[::-1]}))
    assert tests[0].check(evt, {}) is compile_expr(conjunct, CTX).run({"evt": evt})


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.tuples(left_side, operator, right_side, literal_text), min_size=2,
                      max_size=4), value=value_text, joiner=st.sampled_from([" or ", " || "]))
def test_or_chains_equal_the_expression(parts, value, joiner):
    conjunct = "(" + joiner.join(l + o + r.format(t) for l, o, r, t in parts) + ")"
    tests = leading_text_tests(f"evt.Meta.q == 'x' && {conjunct} && f(evt)")
    if any(o == " matches " for _, o, _, _ in parts) and not tests:
        return
    assert len(tests) == 1
    evt = Event(Meta=StrMap({"p": value}), Parsed=StrMap({"p": value[::-1]}))
    assert tests[0].check(evt, {}) is compile_expr(conjunct, CTX).run({"evt": evt})


@pytest.mark.parametrize("conjunct", [
    "Upper(evt.Meta.p) contains Upper('a'",          # unbalanced
    "Upper(evt.Meta.p)) contains 'a'",
    "Upper(evt.Meta.p) contains 'a')",
    "Trim(evt.Meta.p, ' ') contains 'a'",              # not a known helper
    "Upper(evt.Meta.p) contains evt.Meta.q",           # not a literal
    "Upper(evt.Meta.p) matches '('",                   # invalid pattern
    "Upper(evt.Meta.p) contains 'a' or f(evt)",        # one alternative is not a test
    "(Upper(evt.Meta.p) contains 'a' and evt.Meta.q contains 'b')",  # nested and
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


def test_candidates_cached_on_text_values_follow_the_values():
    index = ScenarioIndex([_Spec("php", "evt.Meta.t == 'h' && Lower(evt.Meta.p) endsWith '.php'"),
                           _Spec("any", "evt.Meta.t == 'h' && g(evt)")])

    def names(meta):
        return [s.name for s in index.candidates(Event(Meta=StrMap(meta)))]

    for _ in range(2):  # the second round is answered from the cache
        assert names({"t": "h", "p": "/A.PHP"}) == ["php", "any"]
        assert names({"t": "h", "p": "/a.css"}) == ["any"]
        assert names({"t": "x", "p": "/a.php"}) == []
    (test,) = index.text_tests[id(index.scenarios[0])]
    assert sorted(test._answers) == ["/A.PHP", "/a.css"]  # answers kept per path


def test_text_answers_cache_is_bounded(monkeypatch):
    import crowdsec_mp.engine.buckets.prefilter as prefilter

    monkeypatch.setattr(prefilter, "TEXT_CACHE_LIMIT", 2)
    (test,) = leading_text_tests("Lower(evt.Meta.p) endsWith '.php'")
    answers = [test.cached_check(Event(Meta=StrMap({"p": p})))
               for p in ["a.php", "b.css", "c.PHP", "a.php", "d"]]
    assert answers == [True, False, True, True, False]
    assert len(test._answers) <= 2


def test_slashes_inside_strings_are_not_comments():
    from crowdsec_mp.engine.buckets.prefilter import split_top_conjuncts

    assert split_top_conjuncts("evt.Meta.a == 'x//y' && f('/*')") == ["evt.Meta.a == 'x//y'",
                                                                      "f('/*')"]
    assert split_top_conjuncts("a && b // c || d") is None
    assert split_top_conjuncts("a /* || */ && b") is None
    assert split_top_conjuncts("a / b && c") == ["a / b", "c"]


def test_escaped_quotes_stay_inside_strings():
    from crowdsec_mp.engine.buckets.prefilter import split_top_conjuncts

    assert split_top_conjuncts(r"a == 'x\'y && z' && b") == [r"a == 'x\'y && z'", "b"]
    assert split_top_conjuncts(r'a matches "\\.php" && b') == [r'a matches "\\.php"', "b"]
    assert split_top_conjuncts(r"a == 'x\\' && b'") is None  # unterminated string


def test_whole_filter_or_chain_is_one_text_test():
    source = "Upper(evt.Meta.p) contains 'A' or Upper(evt.Meta.p) endsWith 'B'"
    tests = leading_text_tests(source)
    assert len(tests) == 1
    for value in ["xa", "xb", "c", ""]:
        evt = Event(Meta=StrMap({"p": value}))
        assert tests[0].check(evt, {}) is compile_expr(source, CTX).run({"evt": evt})
    assert leading_text_tests("Upper(evt.Meta.p) contains 'A' or f(evt)") == []
