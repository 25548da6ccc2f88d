"""expr-lang lowercase builtins (spec/expr.md §2)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.expr import ExprRuntimeError, compile_expr


def run(source, ctx=None, **env):
    return compile_expr(source, ctx).run(env)


@pytest.mark.parametrize("source, expected", [
    ("len('abc')", 3), ("len('é')", 2), ("len([1, 2])", 2), ("len({a: 1})", 1),
    ("all([], # > 1)", True), ("any([], # > 1)", False), ("all([2, 3], # > 1)", True),
    ("none([1, 2], # > 5)", True), ("one([1, 2], # > 1)", True), ("one([2, 3], # > 1)", False),
    ("count([true, false, true])", 2), ("sum([1, 2, 3])", 6), ("sum([1, 2.5])", 3.5),
    ("find([1, 2, 3], # > 1)", 2), ("findIndex([1, 2, 3], # > 1)", 1),
    ("findLast([1, 2, 3], # > 1)", 3), ("findLastIndex([1, 2, 3], # > 5)", -1),
    ("find([1], # > 5)", None),
    ("groupBy([1, 2, 3], # % 2)", {1: [1, 3], 0: [2]}),
    ("sortBy([3, 1, 2], #)", [1, 2, 3]), ("sortBy([3, 1, 2], #, 'desc')", [3, 2, 1]),
    ("mean([1, 2, 3, 4])", 2.5), ("median([3, 1, 2])", 2.0), ("median([1, 2, 3, 4])", 2.5),
    ("min([3, 1, 2])", 1), ("max(3, 7, 5)", 7), ("first([1, 2])", 1), ("last([1, 2])", 2),
    ("first([])", None), ("take([1, 2, 3], 2)", [1, 2]), ("reverse([1, 2])", [2, 1]),
    ("uniq([1, 1.0, 2, 'a', 'a'])", [1, 2, "a"]), ("concat([1], [2, 3])", [1, 2, 3]),
    ("flatten([1, [2, [3]]])", [1, 2, 3]), ("sort([3, 1, 2])", [1, 2, 3]),
    ("sort(['b', 'a'], 'desc')", ["b", "a"]), ("keys({a: 1})", ["a"]),
    ("values({a: 1})", [1]), ("toPairs({a: 1})", [["a", 1]]),
    ("fromPairs([['a', 1]])", {"a": 1}),
])
def test_collection_builtins(source, expected):
    assert run(source) == expected


@pytest.mark.parametrize("source, expected", [
    ("int('42')", 42), ("int('-7')", -7), ("int('+7')", 7), ("int(3.9)", 3), ("int(-3.9)", -3),
    ("int(5)", 5), ("float('2.5')", 2.5), ("float(2)", 2.0), ("float('1e3')", 1000.0),
    ("string(1.5)", "1.5"), ("string(nil)", "<nil>"), ("string(true)", "true"),
    ("string([1, 'a'])", "[1 a]"), ("string(1000000.0)", "1e+06"), ("string(42)", "42"),
    ("abs(-3)", 3), ("abs(-2.5)", 2.5), ("ceil(1.2)", 2.0), ("floor(1.8)", 1.0),
    ("round(2.5)", 3.0), ("round(-2.5)", -3.0),
])
def test_conversions_and_math(source, expected):
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("source", ["int('12.5')", "int('')", "int(' 1')", "int(nil)",
                                    "float('abc')", "float(' 1')", "float('1_0')", "len(nil)",
                                    "len(1)", "reduce([], #acc + #)", "sort([1, 'a'])"])
def test_conversion_errors(source):
    with pytest.raises(ExprRuntimeError):
        run(source)


@pytest.mark.parametrize("source, expected", [
    ("trim('  a  ')", "a"), ("trim('xxaxx', 'x')", "a"), ("trimPrefix('foo.bar', 'foo.')", "bar"),
    ("trimSuffix('a.log', '.log')", "a"), ("trimSuffix('a.log', '.txt')", "a.log"),
    ("upper('abc')", "ABC"), ("lower('ABC')", "abc"), ("split('a,b,c', ',')", ["a", "b", "c"]),
    ("split('a,b,c', ',', 2)", ["a", "b,c"]), ("splitAfter('a,b', ',')", ["a,", "b"]),
    ("replace('aaa', 'a', 'b')", "bbb"), ("repeat('ab', 3)", "ababab"),
    ("join(['a', 'b'], '-')", "a-b"), ("join(['a', 'b'])", "ab"), ("indexOf('abc', 'c')", 2),
    ("indexOf('abc', 'z')", -1), ("lastIndexOf('abca', 'a')", 3), ("hasPrefix('abc', 'ab')", True),
    ("hasSuffix('abc', 'bc')", True), ("indexOf('éa', 'a')", 2),
])
def test_string_builtins(source, expected):
    assert run(source) == expected


def test_json_and_base64_builtins():
    assert run("fromJSON('{\"a\": [1, 2]}')") == {"a": [1.0, 2.0]}
    assert run("toJSON({b: 1, a: 'x'})") == '{\n  "a": "x",\n  "b": 1\n}'
    assert run("toBase64('hello')") == "aGVsbG8="
    assert run("fromBase64('aGVsbG8=')") == "hello"


def test_duration_parses_go_durations():
    assert run("duration('1h5m')") == timedelta(hours=1, minutes=5)
    assert run("duration('300ms')") == timedelta(milliseconds=300)
    assert run("duration('1.5h')") == timedelta(minutes=90)
    assert run("duration('-2s')") == timedelta(seconds=-2)
    assert run("duration('20m') > duration('1s')") is True
    for bad in ("'5'", "''", "'1x'", "'abc'"):
        with pytest.raises(ExprRuntimeError):
            run(f"duration({bad})")


def test_now_uses_the_context_clock():
    fixed = datetime(2023, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    ctx = EngineContext(clock=lambda: fixed)
    assert run("now()", ctx) == fixed
    assert run("now().Year()", ctx) == 2023


def test_date_parses_common_layouts():
    assert run("date('2024-01-02')") == datetime(2024, 1, 2, tzinfo=timezone.utc)
    assert run("date('2024-01-02T03:04:05Z')") == datetime(2024, 1, 2, 3, 4, 5,
                                                            tzinfo=timezone.utc)
    assert run("date('02/01/2024', '02/01/2006')") == datetime(2024, 1, 2, tzinfo=timezone.utc)


def test_get_never_errors_on_missing():
    assert run("get({a: 1}, 'a')") == 1
    assert run("get({a: 1}, 'b')") is None
    assert run("get([1, 2], 5)") is None
    assert run("get(nil, 'x')") is None
    assert run("get([1, 2], -1)") == 2


def test_type_names():
    assert run("type(1)") == "int"
    assert run("type('a')") == "string"
    assert run("type(nil)") == "nil"
    assert run("type([1])") == "array"
    assert run("type({})") == "map"


def test_builtin_names_are_case_sensitive():
    assert run("upper('a')") == "A" == run("Upper('a')")
    with pytest.raises(Exception):
        compile_expr("UPPER('a')")
