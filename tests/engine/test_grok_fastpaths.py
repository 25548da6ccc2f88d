"""Speed-ups of GrokPattern.match never change a result.

Three fast paths are checked against the plain algorithm (search the whole
regex, read every semantic's group, "" for None): the required-literal
prefilter (now following top-level references into their definitions), `match`
instead of `search` for regexes that can only match at position 0, and the
`dict(zip(..))` result building.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.grok import PatternLibrary, anchored_at_start, required_literal
from crowdsec_mp.engine.regex_compat import compile_re2


def plain_match(grok, text):
    """The obviously-right result: unanchored search, no prefilter."""
    if not grok.semantics:
        return None
    compiled = compile_re2(grok.regex)
    found = compiled.search(text)
    if found is None:
        return None
    return {name: (found.group(index) or "") if 0 <= index <= compiled.groups else ""
            for name, index in grok.semantics.items()}


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    directory = tmp_path_factory.mktemp("patterns")
    (directory / "grokky-base").write_text(
        "INT [+-]?[0-9]+\n"
        "WORD \\b\\w+\\b\n"
        "ANCHORED ^ab+\n"
        "GREETING hello %{WORD:who}\n"
        "FAILED Failed %{WORD:how} for %{WORD:user}\n"
        "EITHER ab|cd\n"
        "DEEP x%{FAILED} y\n"
        "OPTIONAL_END foo(bar)?\n",
        encoding="utf-8",
    )
    return PatternLibrary.load([directory])


# -- required literal through references -----------------------------------------------------------
@pytest.mark.parametrize(
    "expr, expected",
    [
        ("%{FAILED}", "Failed "),
        ("%{GREETING}", "hello "),
        ("%{DEEP:d}", "Failed "),  # two levels down
        ("%{FAILED}?", ""),  # optional reference: requires nothing
        ("%{FAILED}*", ""),
        ("%{FAILED}{0,2}", ""),
        ("%{FAILED}+", "Failed "),  # at least once: still required
        ("(%{FAILED})", ""),  # inside a group: not followed (conservative)
        ("%{EITHER}", ""),  # top-level alternation in the definition
        ("ab|%{FAILED}", ""),  # top-level alternation in the expression
        ("%{FAILED} and a longer literal", " and a longer literal"),  # longest wins
        ("%{OPTIONAL_END}", "foo"),  # the optional group ends the run, "foo" stays
        ("%{UNKNOWN}", ""),
    ],
)
def test_required_literal_follows_top_level_references(lib, expr, expected):
    assert required_literal(expr, expr, lib.definitions) == expected


def test_required_literal_case_insensitive_definition_disables_it(lib):
    lib.add("CI_WORDS", "(?i)Failed %{WORD}")
    assert lib.compile("%{CI_WORDS}").required == ""


# -- anchored_at_start ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pattern, anchored",
    [
        (r"^a", True),
        (r"\Aa", True),
        (r"(^a)b", True),
        (r"((^a))b", True),
        (r"(?:(^a)b)c", True),
        (r"(?i)^a", True),
        (r"^a|b", False),
        (r"(^a|b)", False),
        (r"(^a)?b", False),
        (r"(^a)*b", False),
        (r"(?m)^a", False),
        (r"(?m:^a)", False),
        (r"a^", False),
        (r"a", False),
        (r"(?=a)^a", False),
        (r"", False),
    ],
)
def test_anchored_at_start(pattern, anchored):
    assert anchored_at_start(re.compile(pattern)) is anchored
    assert anchored_at_start(re.compile(pattern, re.MULTILINE)) is False


def test_anchored_at_start_refuses_other_regex_engines():
    import regex

    assert anchored_at_start(regex.compile("^a")) is False


# -- the fast match equals the plain algorithm -----------------------------------------------------
EXPRESSIONS = [
    "%{ANCHORED:a}",  # `^` inside the reference's group: matched with `match`
    "%{ANCHORED:a}%{INT:n}?",
    "^%{WORD:w} %{INT:n}",
    "%{FAILED}",  # prefilter through the reference
    "%{FAILED}?%{INT:n}",
    "x%{GREETING}|%{INT:n}",
    "%{DEEP}",
    "(%{WORD:w} )?%{INT:n} (%{WORD:x})?",
    "%{OPTIONAL_END:o}",
    "(?m)%{ANCHORED:a}",
]
ALPHABET = "abx01 -+\nFailedhoforyfbarc"


@pytest.mark.parametrize("expr", EXPRESSIONS)
@settings(max_examples=150, deadline=None)
@given(text=st.text(ALPHABET, max_size=30))
def test_fast_match_equals_plain_search(lib, expr, text):
    grok = lib.compile(expr)
    assert grok.match(text) == plain_match(grok, text)


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_fast_match_on_hand_picked_texts(lib, expr):
    texts = ["abbb12", "zzabb", "Failed pw for root", "x Failed pw for rooty", "xFailed pw for root y", "hello bob 12",
             "foobar", "foo", "12 x", "a 12 b", "\nabb", "", "Failed", "xhello 1"]
    grok = lib.compile(expr)
    results = [grok.match(text) for text in texts]
    assert results == [plain_match(grok, text) for text in texts]
    assert any(result is not None for result in results)  # the texts exercise real matches


def test_hub_groks_fast_match_equals_plain_search(shared_hub):
    """The hub's own patterns, on lines that match and lines that do not."""
    library = PatternLibrary.load([shared_hub / "patterns"])
    lines = [
        "Mar 10 06:00:00 web01 sshd[123]: Failed password for invalid user admin from 1.2.3.4 port 22 ssh2",
        "Mar 10 06:00:00 web01 sshd[123]: Invalid user admin from 1.2.3.4 port 22",
        "Mar 10 06:00:00 web01 CRON[1]: (root) CMD (true)",
        '1.2.3.4 - - [10/Mar/2024:06:00:00 +0000] "GET /a?b=1 HTTP/1.1" 200 12 "-" "curl"',
        "2024-03-10T06:00:00+00:00 host prog: message",
        "not a log line at all",
    ]
    for name in ("SYSLOGLINE", "SSHD_FAIL", "SSHD_INVALID_USER", "SSHD_USER_FAIL", "SSHD_AUTH_FAIL"):
        if name not in library:
            continue
        for expr in (f"%{{{name}}}", f"^%{{{name}}}"):
            grok = library.compile(expr)
            for line in lines + [line.split(": ", 1)[-1] for line in lines]:
                assert grok.match(line) == plain_match(grok, line), (expr, line)
