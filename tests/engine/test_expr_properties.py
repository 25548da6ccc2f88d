"""Property tests: Go integer semantics, glob matching and combined data-file
regexps checked against small independent reference implementations."""

from __future__ import annotations

from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.datafiles import DataLibrary
from crowdsec_mp.engine.expr import compile_expr

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def go_wrap(value):
    """Reference: two's complement 64-bit wrap."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def go_rem(a, b):
    """Reference: Go's truncated remainder, a - b * trunc(a / b) with exact ints."""
    quotient = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        quotient = -quotient
    return a - b * quotient


ADD = compile_expr("a + b")
MUL = compile_expr("a * b")
SUB = compile_expr("a - b")
REM = compile_expr("a % b")


@given(INT64, INT64)
def test_integer_arithmetic_wraps_like_go(a, b):
    assert ADD.run({"a": a, "b": b}) == go_wrap(a + b)
    assert SUB.run({"a": a, "b": b}) == go_wrap(a - b)
    assert MUL.run({"a": a, "b": b}) == go_wrap(a * b)


@given(INT64, INT64.filter(lambda v: v != 0))
def test_remainder_truncates_like_go(a, b):
    assert REM.run({"a": a, "b": b}) == go_wrap(go_rem(a, b))


def glob_reference(pattern: str, text: str) -> bool:
    @lru_cache(maxsize=None)
    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        if pattern[i] == "*":
            return match(i + 1, j) or (j < len(text) and match(i, j + 1))
        if j < len(text) and (pattern[i] == "?" or pattern[i] == text[j]):
            return match(i + 1, j + 1)
        return False

    return match(0, 0)


MATCH = compile_expr("Match(p, s)")
GLOB_CHARS = st.text(alphabet="ab*?.[]\\", max_size=8)


@given(GLOB_CHARS, st.text(alphabet="ab.[]\\*?", max_size=8))
def test_match_glob_agrees_with_reference(pattern, text):
    assert MATCH.run({"p": pattern, "s": text}) == glob_reference(pattern, text)


_HUB_UA = {}


def _hub_regexps(shared_hub):
    if "lib" not in _HUB_UA:
        lib = DataLibrary()
        lib.load("ua", "regexp", shared_hub / "data" / "bad_user_agents.regex.txt")
        _HUB_UA["lib"] = lib
    return _HUB_UA["lib"]


def test_combined_regexps_agree_on_random_agents(shared_hub):
    lib = _hub_regexps(shared_hub)
    regexps = lib._regexps["ua"]
    words = [p.replace("\\b", "").replace("\\", "") for p in regexps.patterns]
    pieces = st.sampled_from(words + ["Mozilla/5.0", " ", "(", ")", ";", "x", "bot", "-"])

    @settings(max_examples=150, deadline=None)
    @given(st.lists(pieces, max_size=5).map("".join))
    def check(agent):
        assert lib.regexp_match(agent, "ua") == regexps.search_each(agent)

    check()
