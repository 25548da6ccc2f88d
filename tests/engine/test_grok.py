"""Grok library loading and the expansion algorithm (spec/parsers.md §3.2-§3.4).

Expected group numbers below are worked out by hand from the spec's algorithm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crowdsec_mp.engine.grok import PatternLibrary, capture_count
from crowdsec_mp.errors import ConfigError


def write_patterns(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def lib(tmp_path):
    write_patterns(
        tmp_path,
        "grokky-base",
        "# comment line\n"
        "INT [+-]?[0-9]+\n"
        "WORD \\b\\w+\\b\n"
        "\n"
        "PAIR (x|y)[0-9]+\n"
        "NESTED %{INT:n}x\n"
        "TWICE %{INT:a}-%{INT:a}\n"
        "OPT %{INT:a}(?:-%{INT:b})?\n",
    )
    return PatternLibrary.load([tmp_path])


# -- capcount heuristic -------------------------------------------------------------
@pytest.mark.parametrize(
    "literal, expected",
    [
        ("", 0),
        ("(a)(b)", 2),
        ("(?:a)", 0),
        ("\\(a", 0),
        ("(?i)a", 0),
        ("(?i:a)", 0),
        ("(?P<x>a)", 1),
        ("(?:ab|cds)", -1),  # "s)" looks like a flag group to CrowdSec's heuristic
        ("[(]", 1),  # a parenthesis in a class is counted too
    ],
)
def test_capture_count_heuristic(literal, expected):
    assert capture_count(literal) == expected


# -- expansion and numbering ------------------------------------------------------------
def test_reference_becomes_group_and_nested_groups_are_skipped(lib):
    grok = lib.compile("%{PAIR:first}-%{PAIR:second}")
    # PAIR has 1 group: first=1, its inner group=2, second=3.
    assert grok.semantics == {"first": 1, "second": 3}
    assert grok.match("x1-y2") == {"first": "x1", "second": "y2"}


def test_literal_groups_shift_numbering(lib):
    grok = lib.compile("(a|b)(?:c)%{INT:n}")
    assert grok.semantics == {"n": 2}
    assert grok.match("bc42") == {"n": "42"}


def test_plain_named_groups_are_counted_but_not_returned(lib):
    grok = lib.compile("(?P<x>a)%{INT:n}")
    assert grok.match("a7") == {"n": "7"}


def test_capcount_quirk_is_reproduced(lib):
    # capcount("(?:ab|cds)") == -1, so `n` reads group 0: the whole match.
    grok = lib.compile("(?:ab|cds)%{INT:n}")
    assert grok.semantics == {"n": 0}
    assert grok.match("zzcds42") == {"n": "cds42"}


def test_nested_semantics_are_reported(lib):
    grok = lib.compile("^%{NESTED} %{WORD:w}")
    assert grok.match("12x abc") == {"n": "12", "w": "abc"}


def test_top_level_semantic_beats_nested_one(lib):
    assert lib.compile("^%{NESTED} %{INT:n}$").match("1x 2") == {"n": "2"}
    assert lib.compile("^%{INT:n} %{NESTED}$").match("1 2x") == {"n": "1"}


def test_last_occurrence_of_a_semantic_wins(lib):
    assert lib.compile("%{INT:n}-%{INT:n}").match("1-2") == {"n": "2"}
    # Inside a library pattern too: TWICE maps `a` to its second INT.
    assert lib.compile("%{TWICE}").match("1-2") == {"a": "2"}


def test_non_participating_group_gives_empty_string(lib):
    assert lib.compile("^%{OPT}$").match("5") == {"a": "5", "b": ""}
    assert lib.compile("^%{OPT}$").match("5-6") == {"a": "5", "b": "6"}


def test_no_semantic_means_failure(lib):
    grok = lib.compile("^%{INT}$")
    assert grok.semantics == {}
    assert grok.match("12") is None


def test_pattern_without_reference_is_a_plain_regex(lib):
    grok = lib.compile("^(?P<x>a+)$")
    assert grok.match("aaa") is None  # matches, but no semantic


def test_typed_reference_is_literal_text(lib):
    grok = lib.compile("%{WORD:w} %{INT:n:int}")
    assert grok.semantics == {"w": 1}
    assert grok.match("abc %{INT:n:int}") == {"w": "abc"}
    assert grok.match("abc 12") is None


def test_search_is_unanchored(lib):
    assert lib.compile("%{INT:n}").match("abc 42 def") == {"n": "42"}
    assert lib.compile("%{INT:n}").match("no digits") is None


def test_compile_is_cached(lib):
    assert lib.compile("%{INT:n}") is lib.compile("%{INT:n}")


def test_compile_named(lib):
    assert lib.compile_named("OPT").match("1-2") == {"a": "1", "b": "2"}
    with pytest.raises(ConfigError, match="NOPE"):
        lib.compile_named("NOPE", where="parser x")


def test_inline_flag_inside_expanded_pattern(lib):
    lib.add("AUTH", "SASL ((?i)LOGIN|PLAIN)")
    grok = lib.compile("^%{AUTH:auth} %{INT:n}$")
    assert grok.match("SASL login 3") == {"auth": "SASL login", "n": "3"}


# -- errors -------------------------------------------------------------------------------
def test_unknown_pattern_names_where_and_pattern(lib):
    with pytest.raises(ConfigError) as info:
        lib.compile("%{INT:a} %{MISSING:b}", where="parsers/x.yaml node y")
    assert "parsers/x.yaml node y" in str(info.value)
    assert "MISSING" in str(info.value)


def test_invalid_regex_names_where(lib):
    with pytest.raises(ConfigError, match="node z.*invalid grok regex"):
        lib.compile("%{INT:a}(", where="node z")


def test_non_string_pattern(lib):
    with pytest.raises(ConfigError, match="must be a string"):
        lib.compile(["x"], where="node z")


# -- pattern_syntax (add) ---------------------------------------------------------------------
def test_add_first_definition_wins(lib):
    assert lib.add("MYNUM", "[0-9]+") is True
    assert lib.add("MYNUM", "[a-z]+") is False
    assert lib.compile("%{MYNUM:v}").match("abc 12") == {"v": "12"}
    assert lib.add("INT", "[a-z]+") is False  # file patterns are not replaced either


def test_add_existing_without_ignore_is_an_error(lib):
    with pytest.raises(ConfigError, match="already exists"):
        lib.add("INT", "[0-9]+", ignore_existing=False)


def test_add_checks_references_and_regex(lib):
    with pytest.raises(ConfigError, match="UNKNOWN"):
        lib.add("BAD1", "%{UNKNOWN}")
    with pytest.raises(ConfigError, match="invalid grok regex"):
        lib.add("BAD2", "a**")
    with pytest.raises(ConfigError, match="invalid grok pattern name"):
        lib.add("bad name", "x")
    # A failed add leaves nothing behind.
    assert "BAD1" not in lib and "BAD2" not in lib


def test_added_pattern_visible_to_later_compiles(lib):
    lib.add("HELPER", "%{INT:inner}z")
    assert lib.compile("^%{HELPER:outer}$").match("5z") == {"outer": "5z", "inner": "5"}


# -- loading files ----------------------------------------------------------------------------
def test_load_order_base_first_then_files_without_dot(tmp_path):
    write_patterns(tmp_path, "b_second", "SECOND %{FIRST}b\n")
    write_patterns(tmp_path, "a_first", "FIRST %{BASE}a\n")
    write_patterns(tmp_path, "grokky-base", "BASE x\n")
    write_patterns(tmp_path, "ignored.txt", "IGNORED ((\n")
    lib = PatternLibrary.load([tmp_path])
    assert set(lib.definitions) == {"BASE", "FIRST", "SECOND"}
    assert lib.compile("%{SECOND:s}").match("xab") == {"s": "xab"}


def test_forward_reference_within_one_file(tmp_path):
    write_patterns(tmp_path, "grokky-base", "LATER_USER %{EARLY}!\nEARLY [a-z]+\n")
    lib = PatternLibrary.load([tmp_path])
    assert lib.compile("%{LATER_USER:v}").match("abc!") == {"v": "abc!"}


def test_several_directories_in_order(tmp_path):
    write_patterns(tmp_path / "one", "zzz", "ONE 1\n")
    write_patterns(tmp_path / "two", "aaa", "TWO %{ONE}2\n")
    lib = PatternLibrary.load([tmp_path / "one", tmp_path / "two"], fallback_base=False)
    assert lib.compile("%{TWO:t}").match("12") == {"t": "12"}


def test_unknown_reference_in_file_names_file_and_pattern(tmp_path):
    path = write_patterns(tmp_path, "grokky-base", "GOOD x\nBROKEN %{NOWHERE}\n")
    with pytest.raises(ConfigError) as info:
        PatternLibrary.load([tmp_path])
    assert str(path) in str(info.value)
    assert "BROKEN" in str(info.value) and "NOWHERE" in str(info.value)


def test_duplicate_name_across_files(tmp_path):
    write_patterns(tmp_path, "grokky-base", "DUP x\n")
    path = write_patterns(tmp_path, "later", "DUP y\n")
    with pytest.raises(ConfigError) as info:
        PatternLibrary.load([tmp_path])
    assert str(path) in str(info.value) and "DUP" in str(info.value)
    assert "already" in str(info.value)


def test_duplicate_name_within_a_file(tmp_path):
    write_patterns(tmp_path, "grokky-base", "DUP x\nDUP y\n")
    with pytest.raises(ConfigError, match="DUP.*already exists"):
        PatternLibrary.load([tmp_path])


def test_reference_cycle(tmp_path):
    write_patterns(tmp_path, "grokky-base", "A %{B}\nB %{A}\n")
    with pytest.raises(ConfigError, match="cycle"):
        PatternLibrary.load([tmp_path])


def test_invalid_regex_in_file_names_file_and_pattern(tmp_path):
    path = write_patterns(tmp_path, "grokky-base", "OK x\nBAD (unclosed\n")
    with pytest.raises(ConfigError) as info:
        PatternLibrary.load([tmp_path])
    assert str(path) in str(info.value) and "BAD" in str(info.value)


def test_missing_directory(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        PatternLibrary.load([tmp_path / "absent"])


def test_unreadable_file(tmp_path):
    path = write_patterns(tmp_path, "grokky-base", "")
    path.write_bytes(b"NAME \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read pattern file"):
        PatternLibrary.load([tmp_path])


# -- pygrok standard set as fallback base ---------------------------------------------------
def test_pygrok_patterns_fill_missing_references(tmp_path):
    write_patterns(tmp_path, "mine", "MACLINE mac=%{COMMONMAC:mac}\n")
    lib = PatternLibrary.load([tmp_path])
    assert lib.compile("%{MACLINE}").match("mac=00:11:22:aa:bb:cc") == {"mac": "00:11:22:aa:bb:cc"}
    assert "pygrok" in lib.origins["COMMONMAC"]


def test_own_definitions_take_precedence_over_pygrok(tmp_path):
    write_patterns(tmp_path, "mine", "INT only-this\n")
    lib = PatternLibrary.load([tmp_path])
    assert lib.compile("%{INT:v}").match("12 only-this") == {"v": "only-this"}


def test_no_pygrok_fallback_when_base_present_or_disabled(tmp_path):
    write_patterns(tmp_path, "grokky-base", "X x\n")
    lib = PatternLibrary.load([tmp_path])
    with pytest.raises(ConfigError, match="COMMONMAC"):
        lib.compile("%{COMMONMAC:m}")
    write_patterns(tmp_path / "other", "mine", "Y y\n")
    lib = PatternLibrary.load([tmp_path / "other"], fallback_base=False)
    with pytest.raises(ConfigError, match="COMMONMAC"):
        lib.compile("%{COMMONMAC:m}")


# -- bad input lines ---------------------------------------------------------------------------
def test_long_line_and_invalid_utf8_do_not_crash(lib):
    grok = lib.compile("^%{WORD:w} %{INT:n}")
    assert grok.match("a" * 1_000_000) is None
    assert grok.match("word 1" + "x" * 100_000) == {"w": "word", "n": "1"}
    # Log files are decoded with surrogateescape: undecodable bytes become lone surrogates.
    text = b"abc \xff\xfe 12".decode("utf-8", errors="surrogateescape")
    assert lib.compile("%{INT:n}").match(text) == {"n": "12"}
    assert grok.match(text) is None


# -- required-literal prefilter ------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr, expected",
    [
        ("^Invalid user %{WORD:u} from %{INT:ip}", "Invalid user "),
        ("abc?d", "ab"),  # "c" is optional
        ("ab*cd", "cd"),
        ("ab{0,2}cd", "cd"),
        ("x+yz", "yz"),
        ("\\[%{WORD:w}\\] foo\\.bar", "] foo.bar"),
        ("a|bcd", ""),  # top-level alternation
        ("(?i)abcdef", ""),  # case-insensitive
        ("[abc]def", "def"),
        ("[]x]yz", "yz"),
        ("\\d+ hello", " hello"),
        ("x(?:yyyy)zz", "zz"),  # group content is not top level
        ("%{INT:n:int}", "INT:n:int"),  # literal text in RE2
        ("x{,3}yy", ",3"),  # literal "{,3}" in RE2
        ("\\Qa.b\\E", ""),
    ],
)
def test_required_literal(expr, expected):
    from crowdsec_mp.engine.grok import required_literal

    assert required_literal(expr, expr) == expected


def test_required_literal_ignores_case_insensitive_library_patterns(lib):
    lib.add("CI", "(?i)hello")
    assert lib.compile("%{CI:v} world").required == ""
    assert lib.compile("%{INT:v} world").required == " world"


def test_prefilter_gives_the_same_results(lib):
    grok = lib.compile("^%{WORD:w} says %{INT:n}$")
    assert grok.required == " says "
    assert grok.match("bob says 12") == {"w": "bob", "n": "12"}
    assert grok.match("bob said 12") is None


def test_grok_pattern_survives_pickle_and_deepcopy(lib):
    import copy
    import pickle

    grok = lib.compile("^%{OPT} end$")
    for clone in (pickle.loads(pickle.dumps(grok)), copy.deepcopy(grok)):
        assert clone.semantics == grok.semantics and clone.required == grok.required
        assert clone.match("1-2 end") == {"a": "1", "b": "2"}
        assert clone.match("1 end") == {"a": "1", "b": ""}
