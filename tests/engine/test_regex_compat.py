"""RE2 -> Python translation (spec/parsers.md §3.5): one test per rule."""

from __future__ import annotations

import re
import warnings

import pytest

from crowdsec_mp.engine.regex_compat import compile_re2, re2_group_count, translate_re2


def full(pattern, text):
    return compile_re2(pattern).fullmatch(text) is not None


# -- classes are ASCII ------------------------------------------------------------
@pytest.mark.parametrize("pattern, text", [(r"\w+", "été"), (r"\d", "٣"), (r"\s", "\u00a0")])
def test_perl_classes_are_ascii_only(pattern, text):
    assert not full(pattern, text)


def test_word_boundary_is_ascii():
    # With Unicode \w, "é" would be a word character and \b would not sit before "x".
    assert compile_re2(r"\bx").search("éx") is not None


def test_re2_space_class_excludes_vertical_tab():
    assert not full(r"\s", "\v")
    assert full(r"\S", "\v")
    for char in "\t\n\f\r ":
        assert full(r"\s", char)
        assert not full(r"\S", char)
    assert not full(r"[\s]", "\v")
    assert full(r"[\sa]+", " a\t")


# -- inline flags -----------------------------------------------------------------------
def test_mid_pattern_flag_scoped_to_rest_of_group():
    pattern = r"SASL ((?i)LOGIN|PLAIN) x"
    assert full(pattern, "SASL login x")
    assert full(pattern, "SASL plain x")
    assert not full(pattern, "sasl login x")  # before the flag: case-sensitive
    assert not full(pattern, "SASL login X")  # after the group: case-sensitive again


def test_mid_pattern_flag_keeps_alternation_structure():
    # RE2: alternatives "a", "b(?i)c", "(?i)d"  ->  "a" must stay case-sensitive,
    # and "d" alone (without the "b") must still be an alternative.
    pattern = r"a|b(?i)c|d"
    assert full(pattern, "bC")
    assert full(pattern, "D")
    assert not full(pattern, "A")
    assert not full(pattern, "BC")


def test_mid_pattern_flag_at_top_level():
    assert full(r"ab(?i)cd", "abCD")
    assert not full(r"ab(?i)cd", "ABcd")


def test_multiline_flag_mid_pattern_compiles():
    assert compile_re2(r"x(?m)^y", re.DOTALL).search("x\ny") is None
    assert compile_re2(r"(?s)x(?m).y$").search("x\ny") is not None


def test_leading_global_flag_kept():
    assert translate_re2("(?i)abc") == "(?i)abc"
    assert full("(?i)abc", "ABC")


def test_flag_with_negation():
    assert full(r"(?i)a(?-i)b", "Ab")
    assert not full(r"(?i)a(?-i)b", "AB")


def test_ungreedy_flag_rejected():
    with pytest.raises(re.error, match="ungreedy"):
        compile_re2(r"a(?U)b*")


# -- groups ----------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", [r"(?P<x>a)(?P<x>b)", r"(?<x>a)(?<y>b)"])
def test_named_groups_become_plain_groups(pattern):
    compiled = compile_re2(pattern)
    assert compiled.groups == 2
    assert compiled.groupindex == {}
    assert compiled.fullmatch("ab").group(1, 2) == ("a", "b")


def test_group_count_without_compiling():
    assert re2_group_count(r"(a)(?:b)(?P<n>c)[(]\((?i)x") == 2
    assert re2_group_count("(((a)))") == 3


# -- escapes and classes -------------------------------------------------------------------
@pytest.mark.parametrize(
    "pattern, text, expected",
    [
        (r"[[:alpha:]]+", "abcXYZ", True),
        (r"[[:alpha:]]+", "é", False),
        (r"[[:digit:][:upper:]]+", "A1B2", True),
        (r"[[:^digit:]]+", "ab", True),
        (r"[[:^digit:]]+", "a1", False),
        (r"[[:space:]]", "\v", True),
        (r"[[:xdigit:]]+", "0aF", True),
        (r"[[:punct:]]+", "!-/:@[`{~", True),
        (r"\Qa.b*c\E", "a.b*c", True),
        (r"\Qa.b*c\E", "aXbbc", False),
        (r"[\Q]\E]", "]", True),
        (r"\x{41}\x{263a}", "A\u263a", True),
        (r"\x{1F600}", "\U0001F600", True),
        (r"\101", "A", True),
        (r"\0", "\0", True),
        (r"x{,3}", "x{,3}", True),  # literal in RE2, a repetition in Python
        (r"%{INT:n:int}", "%{INT:n:int}", True),
        (r"a{2,3}", "aaa", True),
        (r"[a[b]+", "a[b", True),
        (r"[a&&b]+", "a&b", True),
    ],
)
def test_translations(pattern, text, expected):
    assert full(pattern, text) is expected


def test_end_of_text():
    assert compile_re2(r"a\z").search("a\n") is None
    assert compile_re2(r"a\z").search("a") is not None


def test_unicode_property_classes_use_the_regex_module():
    compiled = compile_re2(r"\pL+")
    assert compiled.fullmatch("été") is not None
    assert compile_re2(r"\p{Greek}+").fullmatch("αβγ") is not None
    assert compile_re2(r"\PL").fullmatch("1") is not None
    # The rest of the pattern keeps RE2's ASCII classes.
    assert compile_re2(r"\pL\d").fullmatch("é٣") is None
    assert compile_re2(r"\pL\w").fullmatch("éé") is None
    # ASCII \b: "é" is not a word character, so there is no boundary inside "éé"...
    assert compile_re2(r"\pL\b").search("éé") is None
    # ...but there is one between "é" and "a".
    assert compile_re2(r"\pL\b").search("éa").group(0) == "é"


def test_no_future_warning_for_nested_set_syntax():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile_re2(r"[[a]--x&&y||z~~]")


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pattern, message",
    [
        ("(a", "missing '\\)'"),
        ("a)", "unbalanced"),
        ("[a", "missing '\\]'"),
        (r"\1", "backreferences"),
        ("a{1001}", "repetition count"),
        ("[[:nope:]]", "POSIX class"),
        ("[a[:^digit:]]", "negated POSIX"),
        ("(?z)a", "invalid flag"),
        ("(?#comment)", "group syntax"),
        ("a\\", "trailing backslash"),
        (r"\C", "any byte"),
        ("a**", "invalid regular expression"),
        ("*a", "invalid regular expression"),
        ("[z-a]", "invalid regular expression"),
        ("[a--b]", "invalid regular expression"),  # range a..'-' is reversed in RE2 too
    ],
)
def test_invalid_patterns_raise_clear_errors(pattern, message):
    with pytest.raises(re.error, match=message):
        compile_re2(pattern)


def test_error_message_names_the_pattern():
    with pytest.raises(re.error) as info:
        compile_re2("a(b")
    assert "'a(b'" in str(info.value)


def test_non_string_pattern():
    with pytest.raises(TypeError):
        compile_re2(42)


def test_compiled_patterns_are_cached():
    assert compile_re2(r"cache-me\d+") is compile_re2(r"cache-me\d+")
    assert compile_re2(r"cache-me\d+", re.I) is not compile_re2(r"cache-me\d+")


def test_dollar_is_end_of_text_unless_multiline():
    assert compile_re2(r"a$").search("a\n") is None  # Python's `$` alone would match here
    assert compile_re2(r"a$").search("a") is not None
    assert compile_re2(r"(?m)a$").search("a\nb") is not None
    assert compile_re2(r"x(?m)a$|b$").search("b\nc") is not None  # flag persists past `|`
    assert compile_re2(r"(?m:a$)|b$").search("b\nc") is None  # ...but not past its group
    assert compile_re2(r"a$", re.MULTILINE).search("a\nb") is not None
    assert full(r"[$]", "$")
