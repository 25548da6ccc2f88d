"""Fast paths of `any/none(<data file>, {E op #})` (expr/fastpred.py) give exactly
what the generic element-by-element loop gives, errors included.

The generic loop runs when the list is a plain list; the fast path when it is
a data file (DataLines). Every test compares the two on the same lines.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.datafiles import DataLibrary, DataLines
from crowdsec_mp.engine.event import new_log_event
from crowdsec_mp.engine.expr import ExprRuntimeError, ast, compile_expr, fastpred
from crowdsec_mp.engine.expr.helpers import make_helpers
from crowdsec_mp.engine.expr.parser import parse

CTX = EngineContext()
FUNCTIONS = make_helpers(CTX)

PREDICATES = [
    "{{ {E} == # }}", "{{ # == {E} }}",
    "{{ {E} contains # }}", "{{ # contains {E} }}",
    "{{ {E} endsWith # }}", "{{ # endsWith {E} }}",
    "{{ {E} startsWith # }}", "{{ # startsWith {E} }}",
    "{{ Upper({E}) contains Upper(#) }}", "{{ Lower({E}) contains Lower(#) }}",
    "{{ Upper({E}) == Upper(#) }}", "{{ Lower(#) endsWith Lower({E}) }}",
    "{{ Upper(#) startsWith {E} }}", "{{ {E} endsWith Upper(#) }}",
]

# Small alphabet so that matches happen; non-ASCII letters whose Go and Python
# case mappings differ (ß, ı, ǅ) and the file-line separator's neighbours.
ALPHABET = "abAB/.%-'\"ßıǅK é\t"
line_text = st.text(alphabet=ALPHABET, min_size=1, max_size=6)
value_text = st.text(alphabet=ALPHABET + "\n", max_size=12)


def both_ways(expression: str, lines: list[str], value):
    """(generic result, fast result); each is a value or ("error", message)."""
    outcomes = []
    for items in (list(lines), DataLines(lines)):
        program = compile_expr(expression, CTX)
        try:
            outcomes.append(program.run({"lines": items, "v": value}))
        except ExprRuntimeError as exc:
            outcomes.append(("error", str(exc)))
    return outcomes


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(line_text, max_size=8), value=value_text,
       template=st.sampled_from(PREDICATES), func=st.sampled_from(["any", "none"]))
def test_fast_path_equals_generic_loop(lines, value, template, func):
    expression = f"{func}(lines, {template.format(E='v')})"
    generic, fast = both_ways(expression, lines, value)
    assert fast == generic


@pytest.mark.parametrize("value", [None, 3, 1.5, True, ["a"], {"a": 1}])
@pytest.mark.parametrize("template", PREDICATES)
def test_non_string_values_behave_as_the_generic_loop(value, template):
    # Errors (type mismatches, Upper of a non-string) and false answers alike.
    expression = f"any(lines, {template.format(E='v')})"
    generic, fast = both_ways(expression, ["a", "b"], value)
    assert fast == generic


def test_empty_file_never_evaluates_the_invariant_side():
    # `missing` is not defined: an error only if the predicate ever runs.
    program = compile_expr("any(lines, { missing == # })", CTX)
    assert program.run({"lines": DataLines([])}) is False
    with pytest.raises(ExprRuntimeError, match="missing"):
        program.run({"lines": DataLines(["x"])})
    with pytest.raises(ExprRuntimeError, match="missing"):
        program.run({"lines": ["x"]})


def test_through_file_helper_and_event(tmp_path):
    path = tmp_path / "backdoors.txt"
    path.write_text("# comment\nc99.php\nr57.php\nshell.php\n", encoding="utf-8")
    ctx = EngineContext(data=DataLibrary())
    ctx.data.load("backdoors.txt", "string", path)
    program = compile_expr('any(File("backdoors.txt"), { evt.Parsed.file_name == # })', ctx)
    hit, miss = new_log_event("x"), new_log_event("y")
    hit.Parsed["file_name"] = "r57.php"
    miss.Parsed["file_name"] = "index.php"
    assert program.run({"evt": hit}) is True
    assert program.run({"evt": miss}) is False
    # The matcher is built once per file and shape, then reused.
    lines = ctx.data.lines("backdoors.txt")
    assert len(lines._matchers) == 1
    program.run({"evt": hit})
    assert len(lines._matchers) == 1


def test_contains_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(fastpred, "CONTAINS_CACHE_SIZE", 3)
    matcher = fastpred.build_matcher(["ab", "cd"], "contains", None, True)
    answers = [matcher(value) for value in ["xab", "x", "cdx", "y", "z", "xab"]]
    assert answers == [True, False, True, False, False, True]


@pytest.mark.parametrize("expression", [
    "any(lines, { v == # })",
    "any(lines, { Upper(v) contains Upper(#) })",
    "none(lines, { v.x endsWith # })",
])
def test_recognised_shapes(expression):
    body = parse(expression).args[1].body
    assert fastpred.match_line_predicate(body, FUNCTIONS) is not None


@pytest.mark.parametrize("expression", [
    "any(lines, { # == #index })",                  # both sides read the element
    "any(lines, { $env.v == # })",                  # $env holds `#` inside the loop
    "any(lines, { SetInStash('a', 'b', v, '1m') == # })",  # side effects
    "any(lines, { v matches # })",                  # operator without a fast path
    "any(lines, { Trim(#) == v })",                 # transform not on the list
    "any(lines, { len(#) > 0 && v endsWith # })",
])
def test_other_shapes_take_the_generic_loop(expression):
    body = parse(expression).args[1].body
    assert fastpred.match_line_predicate(body, FUNCTIONS) is None


def test_overridden_upper_is_not_treated_as_pure():
    calls = []

    def upper(text):
        calls.append(text)
        return text.upper()

    program = compile_expr("any(lines, { Upper(v) == # })", CTX, extra_funcs={"Upper": upper})
    assert program.run({"lines": DataLines(["A", "B", "X"]), "v": "x"}) is True
    assert len(calls) == 3  # evaluated per element, as written
    assert isinstance(parse("Upper(v)"), ast.Call)


def test_file_loaded_after_first_use_is_seen(tmp_path):
    ctx = EngineContext(data=DataLibrary())
    program = compile_expr('any(File("late.txt"), { v endsWith # })', ctx)
    assert program.run({"v": "a.php"}) is False  # not loaded yet: empty list
    path = tmp_path / "late.txt"
    path.write_text(".php\n", encoding="utf-8")
    ctx.data.load("late.txt", "string", path)
    assert program.run({"v": "a.php"}) is True
    assert program.run({"v": "a.css"}) is False
