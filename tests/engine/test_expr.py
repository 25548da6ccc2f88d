"""Expression language: syntax, operators, precedence, member access, errors
(spec/expr.md §1). Expected values are worked out by hand from the spec."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crowdsec_mp.engine.event import Event, Line, StrMap
from crowdsec_mp.engine.expr import (
    ExprCompileError,
    ExprError,
    ExprRuntimeError,
    Program,
    compile_expr,
)


def run(source, **env):
    return compile_expr(source).run(env)


def make_event():
    evt = Event()
    evt.Parsed.update(program="sshd", status="404", verb="GET", empty="")
    evt.Meta.update(log_type="http_access-log", source_ip="1.2.3.4", service="http")
    evt.Unmarshaled["k8s"] = {"objectRef": {"namespace": "default"}, "count": 3.0,
                              "tags": ["a", "b"]}
    evt.Line = Line(Raw="raw line", Labels=StrMap(type="syslog"))
    return evt


# -- literals -------------------------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ("42", 42), ("1_000", 1000), ("0x1F", 31), ("0o17", 15), ("0b101", 5),
    ("1.5", 1.5), (".5", 0.5), ("1e3", 1000.0), ("2.5e-3", 0.0025),
    ('"a\\tb"', "a\tb"), ("'it\\'s'", "it's"), ('"\\x41\\u00e9\\101"', "Aé" + "A"),
    ("`raw\\n`", "raw\\n"), ("true", True), ("false", False), ("nil", None),
    ("[1, 'a', [2],]", [1, "a", [2]]), ("{a: 1, 'b-c': 2, (1+1): 3}", {"a": 1, "b-c": 2, 2: 3}),
    ("1 /* inline */ + // trailing\n 2", 3), ('"\\U0001F600"', "\U0001F600"),
])
def test_literals(source, expected):
    assert run(source) == expected


@pytest.mark.parametrize("source", ["'unterminated", "1 +", "(1", "[1, 2", "0x", "a.", "1 2",
                                    '"\\q"', "/* open", "{a 1}", "a ? b", "let = 1; 2"])
def test_syntax_errors_are_compile_errors(source):
    with pytest.raises(ExprCompileError):
        compile_expr(source)


def test_compile_error_names_where_and_expression():
    with pytest.raises(ExprCompileError) as info:
        compile_expr("evt.Parsed.x ==", where="parsers/s01/foo.yaml: node bar filter")
    message = str(info.value)
    assert "parsers/s01/foo.yaml: node bar filter" in message
    assert "evt.Parsed.x ==" in message
    assert isinstance(info.value, ExprError)


def test_empty_expression_is_a_compile_error():
    with pytest.raises(ExprCompileError):
        compile_expr("   ")


def test_non_string_source_is_a_compile_error():
    with pytest.raises(ExprCompileError):
        compile_expr(None, where="x")


def test_program_keeps_its_source():
    program = compile_expr("1 + 1")
    assert isinstance(program, Program)
    assert program.source == "1 + 1"


# -- arithmetic -----------------------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ("7 / 2", 3.5), ("6 / 2", 3.0), ("7 % 3", 1), ("-7 % 3", -1), ("7 % -3", 1),
    ("2 ** 3", 8.0), ("2 ^ 3", 8.0), ("2 ** 3 ** 2", 512.0), ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9), ("10 - 2 - 3", 5), ("1 + 1.5", 2.5), ("-2 ** 2", -4.0),
    ("'a' + 'b'", "ab"), ("9223372036854775807 + 1", -9223372036854775808),
    ("1 / 0", float("inf")),
])
def test_arithmetic(source, expected):
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("source", ["s + 1", "1 % 0", "1.5 % 2", "s - s", "-s",
                                    "nil + 1", "t + 1"])
def test_arithmetic_type_errors_are_runtime_errors(source):
    with pytest.raises(ExprRuntimeError):
        run(source, s="a", t=True)


def test_range_operator():
    assert run("1..3") == [1, 2, 3]
    assert run("3..1") == []


# -- equality and comparison ----------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ("1 == 1.0", True), ("'1' == 1", False), ("nil == nil", True), ("'a' == nil", False),
    ("true == 1", False), ("[1, 'a'] == [1, 'a']", True), ("{a: 1} == {a: 1}", True),
    ("1 != 2", True), ("'a' != 'a'", False), ("'abc' < 'abd'", True), ("2 > 1.5", True),
    ("3 >= 3", True), ("'B' < 'a'", True),
])
def test_equality_and_ordering(source, expected):
    assert run(source) is expected


@pytest.mark.parametrize("source", ["s < 2", "nil > 1", "[1] < [2]", "t < t"])
def test_ordering_mixed_kinds_is_runtime_error(source):
    with pytest.raises(ExprRuntimeError):
        run(source, s="1", t=True)


def test_times_and_durations_compare():
    early = datetime(2024, 1, 1, tzinfo=timezone.utc)
    late = early + timedelta(seconds=5)
    assert run("a < b", a=early, b=late) is True
    assert run("b - a == duration('5s')", a=early, b=late) is True


# -- logic ------------------------------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ("true && false", False), ("true and true", True), ("false || true", True),
    ("false or false", False), ("not false", True), ("!true", False),
    ("true || false && false", True), ("(true || false) && false", False),
    ("false && (1 / x)", False), ("true || (1 / x)", True),
])
def test_boolean_logic(source, expected):
    assert run(source, x="not a number") is expected


@pytest.mark.parametrize("source", ["1 && true", "true && 'x'", "nil || true", "not 'a'",
                                    "!nil"])
def test_boolean_operators_require_bools(source):
    with pytest.raises(ExprRuntimeError):
        run(source)


def test_not_binds_tighter_than_comparison():
    # `not a == b` is `(not a) == b`
    assert run("not true == false") is True
    assert run("not (true == false)") is True
    assert run("not false == false") is False
    # `not a in b` is `(not a) in b`
    assert run("not true in [false]") is True


def test_not_on_non_bool_before_comparison_is_error():
    # (not 'a') fails before the comparison is evaluated
    with pytest.raises(ExprRuntimeError):
        run("not 'a' == 'b'")


def test_nil_coalescing_binds_tighter_than_comparison():
    assert run("x ?? 'd' == 'd'", x=None) is True
    assert run("x ?? 'd'", x="v") == "v"
    assert run("x ?? 'd'", x="") == ""


def test_typed_map_missing_key_is_empty_not_nil_for_coalescing():
    assert run("evt.Parsed.nope ?? 'd'", evt=make_event()) == ""


def test_ternary_and_if_else():
    assert run("1 > 2 ? 'a' : 'b'") == "b"
    assert run("true ? false ? 1 : 2 : 3") == 2
    assert run("x ?: false", x=True) is True
    assert run("if 1 > 2 { 'a' } else if 2 > 1 { 'b' } else { 'c' }") == "b"
    with pytest.raises(ExprRuntimeError):
        run("'x' ? 1 : 2")


def test_let_bindings():
    assert run("let x = 2; let y = x * 3; y + 1") == 7
    assert run("let x = 1; [x, let x = 5; x, x]") == [1, 5, 1]


def test_pipe_passes_left_as_first_argument():
    assert run("'a,b' | Split(',') | len()") == 2
    assert run("[1, 2, 3] | filter(# > 1) | map(# * 2)") == [4, 6]


# -- in / string operators -------------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ("'a' in ['a', 'b']", True), ("'c' in ['a', 'b']", False), ("1 in [1.0]", True),
    ("'1' in [1]", False), ("'a' not in ['a']", False), ("'x' in {x: 1}", True),
    ("'y' in {x: 1}", False), ("'x' in nil", False), ("nil in [nil]", True),
    ("true in [1]", False),
])
def test_in_operator(source, expected):
    assert run(source) is expected


def test_in_literal_list_with_dynamic_value():
    evt = make_event()
    program = compile_expr("evt.Meta.log_type in ['http_access-log', 'http_error-log']")
    assert program.run({"evt": evt}) is True
    evt.Meta["log_type"] = "other"
    assert program.run({"evt": evt}) is False
    assert compile_expr("x in ['1', '2']").run({"x": 1}) is False


def test_in_map_key_existence_even_when_empty_value():
    evt = make_event()
    assert run("'empty' in evt.Parsed", evt=evt) is True
    assert run("'absent' in evt.Parsed", evt=evt) is False


def test_in_struct_field_existence():
    evt = make_event()
    assert run("'Parsed' in evt", evt=evt) is True
    assert run("'Nope' in evt", evt=evt) is False


def test_in_string_is_an_error():
    with pytest.raises(ExprRuntimeError):
        run("'a' in 'abc'")


@pytest.mark.parametrize("source, expected", [
    ("'abc' contains 'b'", True), ("'abc' startsWith 'ab'", True), ("'abc' endsWith 'bc'", True),
    ("'abc' not contains 'z'", True), ("'abc' not startsWith 'a'", False),
    ("'abc' not endsWith 'c'", False), ("'ABC' contains 'b'", False),
])
def test_string_operators(source, expected):
    assert run(source) is expected


@pytest.mark.parametrize("source", ["x contains 'a'", "'a' startsWith x", "n endsWith '1'"])
def test_string_operators_on_non_strings_are_runtime_errors(source):
    with pytest.raises(ExprRuntimeError):
        run(source, x=None, n=1)


def test_matches_is_an_unanchored_search():
    assert run("'xxabcxx' matches 'abc'") is True
    assert run("'xxabcxx' matches '^abc'") is False
    assert run("'ABC' matches '(?i)abc'") is True
    assert run("'ABC' matches 'abc'") is False
    assert run("'ABC' not matches 'abc'") is True
    assert run("'a1' matches x", x="\\d") is True


def test_matches_uses_ascii_classes_like_re2():
    assert run("x matches '^\\\\d+$'", x="١٢") is False


def test_bad_literal_regex_is_a_compile_error():
    with pytest.raises(ExprCompileError):
        compile_expr("evt.Parsed.x matches '(unclosed'", where="w")


def test_bad_dynamic_regex_is_a_runtime_error():
    with pytest.raises(ExprRuntimeError):
        run("'a' matches x", x="(unclosed")


def test_matches_on_non_string_is_a_runtime_error():
    with pytest.raises(ExprRuntimeError):
        run("x matches 'a'", x=None)


# -- member access ---------------------------------------------------------------------
def test_struct_and_typed_map_access():
    evt = make_event()
    assert run("evt.Parsed.program", evt=evt) == "sshd"
    assert run("evt.Parsed['program']", evt=evt) == "sshd"
    assert run("evt.Parsed.missing", evt=evt) == ""
    assert run("evt.Line.Labels.type", evt=evt) == "syslog"
    assert run("evt.Line.Raw", evt=evt) == "raw line"


def test_plain_map_missing_key_is_nil():
    evt = make_event()
    assert run("evt.Unmarshaled.nope", evt=evt) is None
    assert run("evt.Unmarshaled.k8s.objectRef.namespace", evt=evt) == "default"


def test_access_on_nil_is_a_runtime_error_with_go_message():
    with pytest.raises(ExprRuntimeError, match="cannot fetch b from <nil>"):
        run("evt.Unmarshaled.a.b", evt=make_event())


def test_optional_chaining_is_nil_safe_for_the_whole_chain():
    evt = make_event()
    assert run("evt.Unmarshaled.a?.b", evt=evt) is None
    assert run("evt.Unmarshaled.a?.b.c.d", evt=evt) is None
    assert run("evt.Unmarshaled.k8s?.objectRef?.namespace", evt=evt) == "default"
    assert run("evt.Unmarshaled.a?.b ?? 'dflt'", evt=evt) == "dflt"
    assert run("x?.[0]", x=None) is None


def test_unknown_event_field_is_a_compile_error():
    with pytest.raises(ExprCompileError, match="Foo"):
        compile_expr("evt.Foo == 'x'", where="node")


def test_unknown_attribute_on_an_untyped_root_is_a_runtime_error():
    with pytest.raises(ExprRuntimeError):
        run("x.Nope", x=Line())
    with pytest.raises(ExprRuntimeError):
        run("x.Line.Nope", x=make_event())


def test_private_attributes_are_not_reachable():
    with pytest.raises(ExprRuntimeError):
        run("x['__class__']", x=make_event())


def test_methods_are_callable():
    evt = make_event()
    assert run("evt.GetMeta('source_ip')", evt=evt) == "1.2.3.4"
    assert run("evt.GetType()", evt=evt) == "log"
    assert run("evt.SetMeta('k', 'v') && evt.Meta.k == 'v'", evt=evt) is True
    with pytest.raises(ExprRuntimeError):
        run("evt.NoSuchMethod()", evt=evt)


def test_time_methods():
    evt = make_event()
    evt.Time = datetime(2024, 3, 2, 19, 30, tzinfo=timezone.utc)  # a Saturday
    assert run("evt.Time.Hour() >= 18", evt=evt) is True
    assert run("evt.Time.Weekday().String()", evt=evt) == "Saturday"
    assert run("evt.Time.Year()", evt=evt) == 2024


def test_indexing_and_slicing():
    assert run("[1, 2, 3][-1]") == 3
    assert run("[1, 2, 3][1:]") == [2, 3]
    assert run("[1, 2, 3][:-1]") == [1, 2]
    assert run("'2024-07-02T05:05:24Z'[4:]") == "-07-02T05:05:24Z"
    assert run("[1, 2, 3][5:]") == []
    assert run("'héllo'[0:3]") == "hé"  # byte offsets
    with pytest.raises(ExprRuntimeError):
        run("[1, 2][5]")
    with pytest.raises(ExprRuntimeError):
        run("x[1:]", x=None)


def test_unknown_variable_is_a_runtime_error():
    with pytest.raises(ExprRuntimeError):
        run("nope == 1")


# -- closures ---------------------------------------------------------------------------
def test_predicates_with_pointer_and_shorthand():
    queue = [{"confidence": "high", "n": 1}, {"confidence": "low", "n": 2}]
    assert run("filter(q, .confidence == 'high')", q=queue) == [queue[0]]
    assert run("map(q, {#.n})", q=queue) == [1, 2]
    assert run("map(q, #index)", q=queue) == [0, 1]
    assert run("count(['ab', 'b', 'ac'], # startsWith 'a')") == 2
    assert run("any(q, {.n > 1})", q=queue) is True
    assert run("reduce([1, 2, 3], #acc + #)") == 6
    assert run("reduce([1, 2, 3], #acc + #, 10)") == 16


def test_nested_closures_see_their_own_pointer():
    assert run("map([[1, 2], [3]], {len(filter(#, # > 1))})") == [1, 1]


def test_pointer_outside_predicate_is_a_compile_error():
    with pytest.raises(ExprCompileError):
        compile_expr("# > 1")


def test_predicate_must_return_bool():
    with pytest.raises(ExprRuntimeError):
        run("any([1], {#})")


def test_predicate_over_nil_is_a_runtime_error():
    with pytest.raises(ExprRuntimeError):
        run("any(x, {# == 1})", x=None)


# -- errors never escape as anything else ------------------------------------------------
@pytest.mark.parametrize("source", [
    "Upper(nil)", "len(nil)", "int('12.5')", "x[0]", "Split(x, ',')", "B64Decode('%%%')",
    "IpInRange(nil, '1.2.3.0/24')", "1 .. 'a'", "duration('abc')", "fromJSON('{')",
])
def test_runtime_failures_raise_expr_runtime_error(source):
    with pytest.raises(ExprRuntimeError):
        run(source, x=None)


def test_exception_from_an_extra_function_is_wrapped():
    def boom(value):
        raise KeyError(value)

    program = compile_expr("boom('x')", extra_funcs={"boom": boom})
    with pytest.raises(ExprRuntimeError, match="KeyError"):
        program.run({})


def test_unknown_function_is_a_compile_error_naming_where():
    with pytest.raises(ExprCompileError) as info:
        compile_expr("NoSuchHelper(evt.Line.Raw)", where="scenarios/x.yaml: filter")
    assert "scenarios/x.yaml: filter" in str(info.value)
    assert "NoSuchHelper" in str(info.value)


def test_wrong_argument_count_is_a_compile_error():
    with pytest.raises(ExprCompileError):
        compile_expr("Upper('a', 'b')")
    with pytest.raises(ExprCompileError):
        compile_expr("any([1])")


def test_surrogate_escaped_and_non_ascii_text_does_not_crash():
    raw = b"caf\xc3\xa9 \xff\xfe bad".decode("utf-8", "surrogateescape")
    evt = make_event()
    evt.Line.Raw = raw
    assert run("evt.Line.Raw contains 'bad'", evt=evt) is True
    assert run("evt.Line.Raw matches 'caf.'", evt=evt) is True
    assert run("len(evt.Line.Raw)", evt=evt) == len(raw.encode("utf-8", "surrogateescape"))
    assert run("Upper(evt.Line.Raw) startsWith 'CAFÉ'", evt=evt) is True
    assert isinstance(run("ToJsonString(evt.Line.Raw)", evt=evt), str)
    assert isinstance(run("Sprintf('%q', evt.Line.Raw)", evt=evt), str)


def test_program_is_reusable_and_sees_mutations():
    evt = make_event()
    program = compile_expr("evt.Parsed.program == 'sshd'")
    assert program.run({"evt": evt}) is True
    evt.Parsed["program"] = "nginx"
    assert program.run({"evt": evt}) is False


def test_byte_escapes_are_bytes_like_go():
    assert run('"\\xc3\\xa9"') == "é"          # two bytes forming valid UTF-8
    assert run('len("\\xff")') == 1              # one invalid byte, kept as one byte
    assert run('"\\303\\251"') == "é"
    assert run('len("\\u00e9")') == 2


def test_unknown_nested_event_field_is_a_compile_error():
    with pytest.raises(ExprCompileError, match="Nope"):
        compile_expr("evt.Line.Nope == 'x'")
    with pytest.raises(ExprCompileError, match="Bogus"):
        compile_expr("evt.Overflow.Alert.Bogus")
    # maps, methods and optional pointers are not rejected
    compile_expr("evt.Overflow.Alert.Source.IP == '1.2.3.4'")
    compile_expr("evt.Line.Labels.anything == 'x'")
    compile_expr("evt.Overflow.Alert.GetScenario() == 'x'")


@pytest.mark.parametrize("source", [
    "evt.Parsed.status >= 400", "evt.Meta.x + 1", "evt.Line.Raw * 2", "1 contains 'a'",
    "evt.Whitelisted > 1", "evt.Type contains 'x'", "'a' < 1", "true + 1",
])
def test_certain_type_mismatches_are_compile_errors(source):
    with pytest.raises(ExprCompileError, match="invalid operation"):
        compile_expr(source, where="node")


@pytest.mark.parametrize("source", [
    "int(evt.Parsed.status) >= 400", "evt.Parsed.a + evt.Parsed.b", "evt.Unmarshaled.x > 1",
    "evt.Type > 0", "evt.Parsed.x < 'm'", "evt.Meta.x matches 'a'",
])
def test_well_typed_or_unknown_operands_compile(source):
    compile_expr(source)


@pytest.mark.parametrize("value, expected", [(404, True), (404.0, True), (200, False),
                                             (True, False), ("404", False), (None, False)])
def test_in_literal_int_list(value, expected):
    assert compile_expr("x in [403, 404]").run({"x": value}) is expected
    assert compile_expr("x not in [403, 404]").run({"x": value}) is (not expected)


def test_long_or_chains_compile_and_short_circuit():
    source = " || ".join(f"x == '{i}'" for i in range(3000))
    program = compile_expr(source)
    assert program.run({"x": "2999"}) is True
    assert program.run({"x": "nope"}) is False
    mixed = compile_expr("x == 'a' || x == 'b' && y || x == 'c'")
    assert mixed.run({"x": "c", "y": False}) is True
    assert mixed.run({"x": "b", "y": False}) is False
    with pytest.raises(ExprRuntimeError):
        compile_expr("false || x || true").run({"x": "not a bool"})


def test_lone_surrogates_from_json_do_not_crash():
    evt = make_event()
    compile_expr('UnmarshalJSON(x, evt.Unmarshaled, "j")').run(
        {"evt": evt, "x": '{"s": "a\\ud800b"}'})
    value = evt.Unmarshaled["j"]["s"]
    assert run("len(x)", x=value) == 5
    assert run("x[0:1]", x=value) == "a"
    assert run("x < 'b'", x=value) is True
    assert isinstance(run("ToJsonString(x)", x=value), str)


def test_unknown_pointer_is_a_compile_error():
    with pytest.raises(ExprCompileError):
        compile_expr("map([1], #foo)")


def test_in_struct_checks_fields_not_methods():
    assert run("'GetMeta' in evt", evt=make_event()) is False
