"""The lean node classes and the whitelist memo do exactly what the general
code does: `FilterStaticsNode.process` against `Node.process`, and
`Whitelist.matches` with its per-text memo against the plain
ParseIPSources-based check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.event import OVFLW, Event, StrMap, parse_ip
from crowdsec_mp.engine.parser.node import FilterStaticsNode, Node, Whitelist
from crowdsec_mp.engine.parser.values import StaticAbort
from tests.engine.test_parser_support import log_event, make_tree

ENRICH = "s02-enrich"

FILTER_STATICS_NODES = [
    """
name: t/dates
filter: "evt.StrTime != ''"
statics:
  - method: ParseDate
    expression: evt.StrTime
  - target: MarshaledTime
    expression: evt.Enriched.MarshaledTime
  - meta: timestamp
    expression: evt.Enriched.MarshaledTime
""",
    """
name: t/plain
onsuccess: next_stage
filter: "evt.Line.Labels.type not in ['syslog']"
statics:
  - parsed: message
    expression: evt.Line.Raw
  - parsed: program
    expression: evt.Line.Labels.type
  - meta: datasource_path
    expression: evt.Line.Src
  - meta: n
    expression: "len(evt.Parsed.message) > 3 ? 'long' : ''"
""",
    """
name: t/erroring-filter
filter: "int(evt.Parsed.message) > 0"
statics: [{meta: never, value: x}]
""",
    """
name: t/aborting-static
statics:
  - meta: flag
    expression: "evt.Parsed.message == 'abort'"
""",
]


def snapshot(evt):
    return (evt.Stage, dict(evt.Parsed), dict(evt.Meta), dict(evt.Enriched), evt.StrTime,
            evt.MarshaledTime, evt.Time)


def run(process, node, evt):
    try:
        result = process(node, evt, {"evt": evt})
    except StaticAbort as exc:
        result = ("abort", str(exc))
    return result, snapshot(evt)


@settings(max_examples=150, deadline=None)
@given(text=st.sampled_from(FILTER_STATICS_NODES),
       raw=st.sampled_from(["", "abort", "GET / HTTP/1.1", "x", "7"]),
       label=st.sampled_from(["syslog", "nginx", ""]),
       strtime=st.sampled_from(["", "10/Mar/2024:06:00:02 +0000", "garbage"]))
def test_filter_statics_node_equals_the_general_node(text, raw, label, strtime):
    tree = make_tree((ENRICH, text))
    node = tree.nodes[0]
    assert isinstance(node, FilterStaticsNode)
    results = []
    for process in (FilterStaticsNode.process, Node.process):
        evt = log_event(raw)
        evt.Stage = ENRICH
        evt.Line.Labels = StrMap({"type": label}) if label else StrMap()
        evt.Parsed["message"] = raw
        evt.StrTime = strtime
        results.append(run(process, node, evt))
    assert results[0] == results[1]


def test_nodes_with_more_than_filter_and_statics_keep_the_general_class():
    tree = make_tree((ENRICH, """
name: t/wl
whitelist: {reason: r, ip: [1.2.3.4]}
---
name: t/children
nodes: [{statics: [{meta: a, value: b}]}]
"""))
    assert [type(node) for node in tree.nodes] == [Node, Node]
    assert isinstance(tree.nodes[1].children[0], FilterStaticsNode)


# -- whitelist memo -----------------------------------------------------------------

WHITELIST = """
name: t/wl
whitelist:
  reason: listed
  ip: [1.2.3.4, "2001:db8::1"]
  cidr: [10.0.0.0/8, "2001:db8:1::/48"]
"""
SOURCES = ["1.2.3.4", "1.2.3.5", "10.1.2.3", "::ffff:10.0.0.1", "2001:db8::1", "2001:db8:1::9",
           "2001:db8:2::1", "not an ip", "", " 1.2.3.4", "01.2.3.4"]


def plain_matches(whitelist, evt):
    """The check without the memo: every address of ParseIPSources against the sets."""
    for address in evt.ParseIPSources():
        if address in whitelist.ips or any(address in network for network in whitelist.networks):
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(sources=st.lists(st.one_of(st.sampled_from(SOURCES), st.integers(0, 2**32 - 1)),
                        min_size=1, max_size=6),
       overflow=st.booleans())
def test_whitelist_memo_equals_the_plain_check(sources, overflow):
    whitelist = make_tree((ENRICH, WHITELIST)).nodes[0].whitelist
    for source in sources:  # several events on one whitelist: the memo is reused
        evt = log_event("x")
        if overflow:
            evt.Type = OVFLW
            evt.Overflow.Sources = {str(source): None}
        else:
            evt.Meta["source_ip"] = source
        assert whitelist.matches(evt, {"evt": evt}) == plain_matches(whitelist, evt), source


def test_whitelist_memo_is_bounded(monkeypatch):
    whitelist = make_tree((ENRICH, WHITELIST)).nodes[0].whitelist
    monkeypatch.setattr(Whitelist, "MEMO_SIZE", 4)
    for index in range(10):
        assert whitelist.source_listed(f"10.0.0.{index}") is True
    assert whitelist.source_listed("11.0.0.1") is False
    assert len(whitelist._listed_by_text) <= 4
    assert parse_ip("10.0.0.1") is not None


def test_event_without_source_ip_is_not_listed():
    whitelist = make_tree((ENRICH, WHITELIST)).nodes[0].whitelist
    evt = Event(Meta=StrMap({"other": "1.2.3.4"}))
    assert whitelist.matches(evt, {"evt": evt}) is False
