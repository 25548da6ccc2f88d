"""Dropping the capture groups no semantic reads (`compile_re2_lean`)
never changes a match or the text of a kept group.

Each check compares the rewritten regex with the unmodified `compile_re2`
regex: on random RE2 patterns (groups, alternations, lazy and counted
repetitions, classes holding parentheses), and on the hub's nginx and sshd
groks with real, mutated and random lines.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.grok import PatternLibrary
from crowdsec_mp.engine.regex_compat import compile_re2, compile_re2_lean
from tests.engine.test_grok_fastpaths import plain_match

# -- random RE2 patterns ---------------------------------------------------------

ATOMS = ["a", "b", "-", ".", "[ab]", "[^a]", "\\(", "[()]", "[]a]", "[^]b]", "\\d", "\\b", "^", "$"]
QUANTIFIERS = ["", "", "?", "*", "+", "??", "*?", "{1,2}", "{2}"]


def _patterns():
    atom = st.sampled_from(ATOMS)

    def extend(inner):
        sequence = st.lists(inner, min_size=1, max_size=3).map("".join)
        group = st.tuples(st.sampled_from(["(", "(?:", "(?P<n>", "(?i:"]), sequence,
                          st.sampled_from(QUANTIFIERS)).map(lambda t: f"{t[0]}{t[1]}){t[2]}")
        alternation = st.lists(sequence, min_size=2, max_size=3).map("|".join)
        return st.one_of(group, alternation.map(lambda a: f"({a})"), sequence)

    return st.recursive(atom, extend, max_leaves=10)


def spans(found, groups):
    return None if found is None else [found.span(group) for group in groups]


@settings(max_examples=400, deadline=None)
@given(pattern=_patterns(), text=st.text("ab-.()]0 ", max_size=12), data=st.data())
def test_kept_groups_match_the_unmodified_regex(pattern, text, data):
    full = compile_re2(pattern)
    kept = tuple(sorted(data.draw(st.sets(st.integers(0, full.groups)), label="kept")))
    slim = compile_re2_lean(pattern, kept)
    assert slim is not None  # these patterns have no back-references: always rewritten
    compiled, renumbered = slim
    assert compiled.groups == len([group for group in kept if group != 0])
    assert sorted(renumbered) == list(kept)
    old = list(kept)
    new = [renumbered[group] for group in kept]
    for method in ("search", "match"):
        assert spans(getattr(compiled, method)(text), new) == spans(getattr(full, method)(text), old)


@pytest.mark.parametrize("pattern, openings", [
    ("(a)(?:b)(c)", 2),
    ("\\((a)\\)", 1),
    ("[(](a)[)]", 1),
    ("[]()](a)", 1),
    ("[^]()](a)", 1),
    ("(?i:(a))", 1),
    ("(?P<x>a)(b)", 2),
])
def test_group_numbering_after_rewrite(pattern, openings):
    full = compile_re2(pattern)
    assert full.groups == openings
    compiled, renumbered = compile_re2_lean(pattern, (openings,))
    assert compiled.groups == 1 and renumbered == {openings: 1}
    texts = ["abc", "(a)", "x(a)b]ca", "Ab", "ab"]
    assert any(full.search(text) for text in texts)
    for text in texts:
        assert spans(compiled.search(text), [1]) == spans(full.search(text), [openings])


def test_unicode_property_patterns_are_left_alone():
    assert compile_re2_lean("(\\pL+)(a)", (1,)) is None


# -- hub groks ---------------------------------------------------------------------

NGINX_EXTRA = {
    "NGCUSTOMUSER": "[a-zA-Z0-9\\.\\@\\-\\+_%]+",
}
HUB_GROKS = [
    '(%{IPORHOST:target_fqdn}(:%{INT:port})? )?%{IPORHOST:remote_addr} - (%{NGCUSTOMUSER:remote_user} )?'
    '\\[%{HTTPDATE:time_local}\\] "%{WORD:verb} %{DATA:request} HTTP/%{NUMBER:http_version}" '
    '%{NUMBER:status} %{NUMBER:body_bytes_sent} "%{NOTDQUOTE:http_referer}" "%{NOTDQUOTE:http_user_agent}"'
    '( %{NUMBER:request_length} %{NUMBER:request_time} \\[%{DATA:proxy_upstream_name}\\] '
    '\\[%{DATA:proxy_alternative_upstream_name}\\])?',
    '(%{IPORHOST:target_fqdn} )?%{IPORHOST:remote_addr} - (%{NGUSER:remote_user})? \\[%{HTTPDATE:time_local}\\] '
    '"%{DATA:request}" %{NUMBER:status} %{NUMBER:body_bytes_sent} "%{NOTDQUOTE:http_referer}" '
    '"%{NOTDQUOTE:http_user_agent}"',
    "%{SYSLOGLINE}",
    "%{SSHD_FAIL}",
    "%{SSHD_TCPWRAP_FAIL1}",
    "%{SSHD_USER_FAIL}",
    "%{SSHD_SUCCESS}",
    "%{IPV6:ip}%{GREEDYDATA:rest}",
]
LINES = [
    '94.115.138.249 - - [10/Mar/2024:06:00:02 +0000] "GET /feed.xml HTTP/1.1" 200 51198 "-" "Mozilla/5.0"',
    'example.org:8443 10.0.0.1 - bob [10/Mar/2024:06:00:02 +0000] "POST /a?b=1 HTTP/2.0" 404 0 "x" "y" 12 0.5 [up] []',
    'www.example.org 2001:db8::1%eth0 - - [10/Mar/2024:06:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
    'fe80::1:2 ::ffff:1.2.3.4 - - [10/Mar/2024:06:00:02 +0000] "\\x16\\x03" 400 0 "-" "-"',
    "Mar 10 06:00:00 web01 sshd[123]: Failed password for invalid user admin from 1.2.3.4 port 22 ssh2",
    "Mar 10 06:00:00 web01 sshd[123]: Invalid user admin from 1.2.3.4 port 22",
    "2024-03-10T06:00:00+00:00 host prog: message",
]


@pytest.fixture(scope="module")
def hub_library(shared_hub):
    library = PatternLibrary.load([shared_hub / "patterns"])
    for name, regex in NGINX_EXTRA.items():
        library.add(name, regex)
    return library


def mutations(line, rng, count):
    """Lines a character or a few away from a real one: where backtracking differs."""
    alphabet = "0123456789abcdef.:- []\"/%"
    for _ in range(count):
        chars = list(line)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(chars) + 1)
            action = rng.randrange(3)
            if action == 0 and chars:
                del chars[min(position, len(chars) - 1)]
            elif action == 1:
                chars.insert(position, rng.choice(alphabet))
            elif chars:
                chars[min(position, len(chars) - 1)] = rng.choice(alphabet)
        yield "".join(chars)


@pytest.mark.parametrize("expr", HUB_GROKS)
def test_hub_grok_is_rewritten_and_equals_the_unmodified_regex(hub_library, expr):
    grok = hub_library.compile(expr)
    # The rewrite is really in use: the matcher's regex has only the read groups.
    assert compile_re2_lean(grok.regex, tuple(sorted(set(grok.semantics.values())))) is not None
    rng = random.Random(expr)
    texts = list(LINES)
    for line in LINES:
        texts.extend(mutations(line, rng, 60))
    for text in texts:
        assert grok.match(text) == plain_match(grok, text), text


@pytest.mark.parametrize("expr", HUB_GROKS[:2] + HUB_GROKS[-1:])
@settings(max_examples=200, deadline=None)
@given(text=st.text("0123456789abcdefxz.:-% []\"/", max_size=60))
def test_hub_grok_on_random_text(hub_library, expr, text):
    grok = hub_library.compile(expr)
    assert grok.match(text) == plain_match(grok, text)


def test_rewrite_drops_almost_every_group(hub_library):
    grok = hub_library.compile(HUB_GROKS[0])
    full = compile_re2(grok.regex)
    compiled, _ = compile_re2_lean(grok.regex, tuple(sorted(set(grok.semantics.values()))))
    assert full.groups > 100 and compiled.groups <= len(grok.semantics)
    assert isinstance(compiled, re.Pattern)


# -- lookahead guards on alternations ------------------------------------------------

from crowdsec_mp.engine.regex_compat import add_alternation_guards  # noqa: E402

GUARD_ATOMS = ["a", "b", ":", ".", "[ab]", "[a:]", "[]|]", "\\|", "\\d", "\\b", "^", "$", "\\x61", "(?i:a)"]


def _guardable_patterns():
    """Alternations of 3+ branches whose branches often start with repeated
    groups: the shape the guards are inserted for."""
    atom = st.sampled_from(GUARD_ATOMS)

    def extend(inner):
        sequence = st.lists(inner, min_size=1, max_size=3).map("".join)
        repeated = st.tuples(st.sampled_from(["(", "(?:", "(?i:"]), sequence,
                             st.sampled_from(["{1,3}", "{2}", "+", "*", "?", "", "{0,2}", "+?"])
                             ).map(lambda t: f"{t[0]}{t[1]}){t[2]}")
        branch = st.lists(st.one_of(repeated, inner), min_size=1, max_size=3).map("".join)
        alternation = st.lists(branch, min_size=2, max_size=5).map("|".join)
        return st.one_of(repeated, alternation.map(lambda a: f"({a})"), sequence)

    return st.recursive(atom, extend, max_leaves=14)


@settings(max_examples=400, deadline=None)
@given(pattern=_guardable_patterns(), text=st.text("ab:.|A1 ", max_size=12))
def test_guarded_regex_equals_the_unguarded_one(pattern, text):
    plain = compile_re2(pattern)
    guarded_text = add_alternation_guards(plain.pattern)
    guarded = re.compile(guarded_text, plain.flags)
    assert guarded.groups == plain.groups
    groups = range(plain.groups + 1)
    for method in ("search", "match", "fullmatch"):
        assert spans(getattr(guarded, method)(text), groups) == spans(getattr(plain, method)(text), groups)


@pytest.mark.parametrize("pattern, guard", [
    # IPV6's shape: branches starting with a repeated group.
    ("((?:[0-9a-f]{1,4}:){3}x|(?:[0-9a-f]{1,4}:){2}y|:(?::z))", "(?=(?:(?:[0-9a-f]{1,4}:)|:(?::z)))"),
    # A flag scope is kept around the condition taken from inside it.
    ("((?i:(?:ab){2})c|(?:x)+d|e)", "(?=(?:(?i:(?:(?:ab)))|(?:x)|e))"),
])
def test_guard_text(pattern, guard):
    assert add_alternation_guards(pattern).startswith("(" + guard + "(?:")


@pytest.mark.parametrize("pattern", [
    "(a|b|c)",                       # plain first characters: the engine is fast already
    "((?:ab)+|c)",                   # two branches only
    "((?:ab)?x|(?:cd)+|e)",          # a branch may start with nothing: no condition
    "((?=a)(?:ab)+|(?:cd)+|e)",      # a lookaround first: not handled
    "((a)+\\1|(?:cd)+|e)",           # a back-reference anywhere: left alone
])
def test_patterns_left_unguarded(pattern):
    assert add_alternation_guards(pattern) == pattern


def test_ipv6_alternation_is_guarded_in_the_nginx_grok(hub_library):
    grok = hub_library.compile(HUB_GROKS[0])
    compiled, _ = compile_re2_lean(grok.regex, tuple(sorted(set(grok.semantics.values()))))
    assert "(?=(?:(?:(?:[0-9A-Fa-f]{1,4}:))|(?::)))" in compiled.pattern


def _guarded_shapes():
    """Always an alternation of 3-5 branches, most starting with a group repeated
    at least once, so that a guard is inserted (checked in the test)."""
    inner = _guardable_patterns()
    repeated = st.tuples(st.sampled_from(["(", "(?:", "(?i:"]), st.lists(inner, min_size=1, max_size=2),
                         st.sampled_from(["{1,3}", "{2}", "+", "+?", "{1,}"])
                         ).map(lambda t: f"{t[0]}{''.join(t[1])}){t[2]}")
    branch = st.tuples(st.one_of(repeated, repeated, inner), st.lists(inner, max_size=2).map("".join)
                       ).map("".join)
    return st.tuples(st.lists(inner, max_size=1).map("".join),
                     st.lists(branch, min_size=3, max_size=5).map("|".join),
                     st.lists(inner, max_size=1).map("".join),
                     st.sampled_from(["", "?", "*", "{1,2}"])
                     ).map(lambda t: f"{t[0]}(?:{t[1]}){t[3]}{t[2]}")


@settings(max_examples=400, deadline=None)
@given(pattern=_guarded_shapes(), texts=st.lists(st.text("ab:.|A1 ", max_size=14), min_size=1, max_size=4))
def test_guarded_alternations_equal_the_unguarded_ones(pattern, texts):
    plain = compile_re2(pattern)
    guarded_text = add_alternation_guards(plain.pattern)
    guarded = re.compile(guarded_text, plain.flags)
    groups = range(plain.groups + 1)
    for text in texts:
        for method in ("search", "match", "fullmatch"):
            assert spans(getattr(guarded, method)(text), groups) == spans(getattr(plain, method)(text), groups)
