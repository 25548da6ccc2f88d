"""Memoised parser expressions (`parser/memo.py`) return exactly what the
expression returns, run after run, and are only used where that is exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import Event, StrMap
from crowdsec_mp.engine.expr import compile_expr
from crowdsec_mp.engine.expr.parser import parse
from crowdsec_mp.engine.parser.memo import MemoizedProgram, event_reads, memoised
from tests.engine.test_parser_support import make_tree

CTX = EngineContext()

#: Memoised expressions (pure, with a call or a let), hub-like and odd ones.
PURE_SOURCES = [
    # geoip-enrich's filter
    """let ipv6Check = IsIPV6(evt.Meta.source_ip);
"source_ip" in evt.Meta &&
(not ipv6Check && not (IpInRange(evt.Meta.source_ip, "127.0.0.0/8") || IpInRange(evt.Meta.source_ip, "10.0.0.0/8")))
|| (ipv6Check && not (IpInRange(evt.Meta.source_ip, "::1/128") || IpInRange(evt.Meta.source_ip, "fc00::/7")))""",
    "len(evt.Parsed.http_args)",
    "Upper(evt.Parsed.file_ext) in ['.JPG', '.CSS'] ? 'true' : 'false'",
    "let x = Lower(evt.Meta.a); x + evt.Enriched.b",
    "IsIP(evt.Parsed.a) ? evt.Parsed.b : evt.Meta['a']",
    "'a' in evt.Parsed && len(evt.Parsed.a) > 1",
    "len(evt.Parsed?.a) + len(evt.Meta.b)",
    "IpInRange(evt.Parsed.a, evt.Meta.b)",          # errors when not an IP / CIDR
    "Upper(evt.Parsed.a) == 'X' ? 1.5 : nil",
    # Returns the value read: 1, 1.0 and True are equal keys in a dict, not here.
    "let n = len('a'); evt.Parsed.a",
    "let n = len('a'); evt.Parsed.a == 1 ? 'one' : 'other'",
    # Predicates, slices and data files are pure too (expr/purity.py).
    "any([evt.Parsed.a], {len(#) > 1})",
    "len(evt.Parsed.a[1:])",
    "File('x.txt')",
]
#: Expressions the memo must refuse (impure, or reading more than map keys).
IMPURE_SOURCES = [
    "Upper(evt.Line.Raw)",
    "len(evt.Parsed)",
    "len(evt.Meta[evt.Parsed.k])",
    "evt.Parsed.a in evt.Meta && len('a') > 0",
    "let evt = 1; len(evt)",
    "evt.GetMeta('a') != '' && len('a') > 0",
    "Upper($env.evt.Parsed.a)",
]
VALUES = st.one_of(st.sampled_from(["", "x", "X", "1.2.3.4", "::1", "10.0.0.0/8", ".jpg", "ab"]),
                   st.sampled_from([1, 1.0, True, None]))
MAPS = st.dictionaries(st.sampled_from(["a", "b", "source_ip", "http_args", "file_ext"]), VALUES,
                       max_size=4)


def outcome(program, evt):
    try:
        return ("value", program.run({"evt": evt}))
    except Exception as exc:  # ExprRuntimeError: compared by message
        return ("error", str(exc))


@pytest.mark.parametrize("source", PURE_SOURCES)
def test_pure_expressions_are_memoised(source):
    program = memoised(compile_expr(source, CTX), parse(source))
    assert isinstance(program, MemoizedProgram)


@pytest.mark.parametrize("source", IMPURE_SOURCES)
def test_other_expressions_are_not(source):
    assert event_reads(parse(source)) is None
    program = compile_expr(source, CTX)
    assert memoised(program, parse(source)) is program


def test_cheap_expressions_are_not_memoised():
    program = compile_expr("evt.Meta.a == 'x'", CTX)
    assert memoised(program, parse("evt.Meta.a == 'x'")) is program


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(PURE_SOURCES),
       events=st.lists(st.tuples(MAPS, MAPS, MAPS, st.booleans()), min_size=1, max_size=8))
def test_memoised_run_equals_plain_run(source, events):
    plain = compile_expr(source, CTX)
    memo = memoised(compile_expr(source, CTX), parse(source))
    # The same events twice: the second pass answers from the memo.
    for parsed, meta, enriched, plain_dicts in events + events:
        make = dict if plain_dicts else StrMap
        evt = Event()
        evt.Parsed, evt.Meta, evt.Enriched = make(parsed), make(meta), make(enriched)
        assert outcome(memo, evt) == outcome(plain, evt), (parsed, meta, enriched, plain_dicts)


def test_errors_and_mutable_results_are_not_kept():
    source = "IpInRange(evt.Parsed.a, '10.0.0.0/8')"
    memo = memoised(compile_expr(source, CTX), parse(source))
    evt = Event(Parsed=StrMap({"a": 5}))
    assert outcome(memo, evt)[0] == "error" and not memo._results  # not a str: no key
    evt = Event(Parsed=StrMap({"a": "10.1.1.1"}))
    assert memo.run({"evt": evt}) is True and len(memo._results) == 1
    listing = "let x = len(evt.Parsed.a); [x]"
    memo = memoised(compile_expr(listing, CTX), parse(listing))
    first = memo.run({"evt": evt})
    assert first == [8] and not memo._results


def test_memo_is_bounded(monkeypatch):
    source = "len(evt.Parsed.a)"
    memo = memoised(compile_expr(source, CTX), parse(source))
    monkeypatch.setattr(MemoizedProgram, "MEMO_SIZE", 3)
    for index in range(10):
        assert memo.run({"evt": Event(Parsed=StrMap({"a": "x" * index}))}) == index
    assert len(memo._results) <= 3


def test_loader_memoises_node_expressions():
    tree = make_tree(("s02-enrich", """
name: t/memo
filter: "IsIPV4(evt.Meta.source_ip)"
statics:
  - meta: n
    expression: "len(evt.Meta.source_ip)"
"""))
    node = tree.nodes[0]
    assert isinstance(node.filter, MemoizedProgram)
    assert isinstance(node.statics[0].program, MemoizedProgram)
    for source_ip, expected in (("1.2.3.4", "7"), ("::1", None), ("1.2.3.4", "7")):
        evt = Event(Meta=StrMap({"source_ip": source_ip}))
        evt.Stage = "s02-enrich"
        tree.parse(evt)
        assert evt.Meta.get("n") == expected
