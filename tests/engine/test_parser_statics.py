"""Statics, whitelists and stash (spec/parsers.md §5, §8, §9)."""

import ipaddress

import pytest

from crowdsec_mp.engine.event import OVFLW, Alert, Event, RuntimeAlert, Source
from crowdsec_mp.engine.parser.values import assign_target, parse_go_duration, static_value_text

from tests.engine.test_parser_support import Recorder, log_event, make_ctx, make_tree

RAW = "s00-raw"


def run_statics(statics_yaml, evt=None):
    tree = make_tree((RAW, f"name: t/s\nstatics:\n{statics_yaml}"))
    return tree.parse(evt or log_event("line"))


# -- value formatting -------------------------------------------------------------


@pytest.mark.parametrize("value, text", [
    ("abc", "abc"), (3, "3"), (3.5, "3.500000"), (None, ""), ({"a": 1}, ""), ([1], ""),
])
def test_static_value_text(value, text):
    assert static_value_text(value) == text


def test_int_and_float_expression_values():
    evt = run_statics("  - meta: n\n    expression: len(evt.Line.Raw)\n"
                      "  - meta: f\n    expression: 7 / 2\n")
    assert evt.Meta["n"] == "4" and evt.Meta["f"] == "3.500000"


def test_empty_value_is_skipped_and_does_not_erase():
    evt = run_statics("  - target: evt.StrTime\n    value: first\n"
                      "  - target: evt.StrTime\n    expression: evt.Parsed.nope\n")
    assert evt.StrTime == "first"


def test_bool_value_aborts_the_parse_and_drops_the_event():
    evt = run_statics("  - meta: a\n    value: before\n  - meta: b\n    expression: 1 == 1\n")
    assert evt.Process is False and evt.Meta["a"] == "before" and "b" not in evt.Meta


def test_runtime_error_skips_only_that_static():
    evt = run_statics("  - meta: a\n    expression: Upper(evt.Unmarshaled.nope)\n"
                      "  - meta: b\n    value: after\n")
    assert evt.Process is True and "a" not in evt.Meta and evt.Meta["b"] == "after"


def test_destination_precedence_parsed_before_meta():
    evt = run_statics("  - meta: m\n    parsed: p\n    value: v\n")
    assert evt.Parsed["p"] == "v" and "m" not in evt.Meta


def test_enriched_destination_with_meta_present():
    evt = run_statics("  - enriched: e\n    target: evt.StrTime\n    value: v\n")
    assert evt.Enriched["e"] == "v" and evt.StrTime == ""


def test_target_paths():
    evt = run_statics(
        "  - target: evt.Parsed.a.b\n    value: one\n"       # map reached: key a, rest ignored
        "  - target: MarshaledTime\n    value: two\n"        # without evt.
        "  - target: evt.Line.Module\n    value: three\n"
        "  - target: evt.Unmarshaled.u\n    value: four\n"
        "  - target: evt.Time\n    value: five\n"            # not a string: silently ignored
        "  - target: evt.Nope\n    value: six\n"
        "  - meta: after\n    value: seven\n"
    )
    assert evt.Parsed["a"] == "one" and "a.b" not in evt.Parsed
    assert evt.MarshaledTime == "two" and evt.Line.Module == "three"
    assert evt.Unmarshaled["u"] == "four"
    assert evt.Meta["after"] == "seven" and evt.Process is True


def test_target_through_alert_source_is_visible_in_sources():
    source = Source(IP="2001:db8::1", Scope="Ip", Value="2001:db8::1")
    evt = Event(Type=OVFLW, Overflow=RuntimeAlert(Sources={"2001:db8::1": source},
                                                   Alert=Alert(Scenario="x", Source=source)))
    assert assign_target(evt, "evt.Overflow.Alert.Source.Value", "2001:db8::/64")
    assert assign_target(evt, "evt.Overflow.Alert.Source.Scope", "Range")
    assert evt.Overflow.Sources["2001:db8::1"].GetValue() == "2001:db8::/64"
    assert evt.Overflow.Sources["2001:db8::1"].GetScope() == "Range"


def test_parse_go_duration():
    assert parse_go_duration("30s") == 30
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("1.5s") == 1.5
    assert parse_go_duration("250ms") == 0.25
    for bad in ("", "30", "1d", "s"):
        with pytest.raises(ValueError):
            parse_go_duration(bad)


def test_unknown_method_does_nothing_and_statics_continue():
    evt = run_statics("  - method: NoSuchMethod\n    value: x\n  - meta: after\n    value: y\n")
    assert evt.Meta["after"] == "y" and dict(evt.Enriched) == {}


def test_parsedate_method_is_called_with_empty_value():
    # ParseDate with "" falls back to "now" (spec §6.1): the static is not skipped.
    evt = run_statics("  - method: ParseDate\n    expression: evt.StrTime\n")
    assert evt.Enriched["MarshaledTime"].startswith("2026-03-04T05:06:07")


def test_parsedate_method_sets_time_in_time_machine():
    evt = log_event("x")
    evt.StrTime = "Feb 12 14:10:21"
    evt = run_statics("  - method: ParseDate\n    expression: evt.StrTime\n", evt)
    assert evt.Enriched["MarshaledTime"] == "2026-02-12T14:10:21Z"
    assert (evt.Time.year, evt.Time.month, evt.Time.day) == (2026, 2, 12)


# -- whitelists -----------------------------------------------------------------------

WHITELIST = """
name: t/wl
whitelist:
  reason: test reason
  ip: ["1.1.1.1", "::1"]
  cidr: ["10.0.0.1/8"]
  expression: ["evt.Meta.user == 'root'"]
statics: [{meta: wl_static, value: applied}]
"""


def whitelisted(meta, tree=None):
    tree = tree or make_tree((RAW, WHITELIST))
    evt = log_event("x")
    evt.Meta.update(meta)
    recorder = Recorder()
    tree.parse(evt, recorder)
    return evt, recorder.names()[0][2]


@pytest.mark.parametrize("meta, expected", [
    ({"source_ip": "1.1.1.1"}, True),
    ({"source_ip": "::1"}, True),
    ({"source_ip": "10.200.3.4"}, True),        # CIDR given with host bits set
    ({"source_ip": "::ffff:10.0.0.1"}, False),   # strict family: mapped v6 not in v4 CIDR
    ({"source_ip": "11.0.0.1"}, False),
    ({"source_ip": "not an ip"}, False),
    ({"source_ip": "8.8.8.8", "user": "root"}, True),
])
def test_whitelist_ip_cidr_expression(meta, expected):
    evt, success = whitelisted(meta)
    assert success is True  # success does not depend on the whitelist
    assert evt.Whitelisted is expected
    assert evt.WhitelistReason == ("test reason" if expected else "")
    # Statics of a whitelist node apply only when it whitelisted the event.
    assert (evt.Meta["wl_static"] == "applied") is expected


def test_whitelist_expression_runtime_error_stops_and_is_not_whitelisted():
    tree = make_tree((RAW, """
name: t/wl
whitelist:
  reason: r
  expression: ["Upper(evt.Unmarshaled.nope) == 'X'", "true"]
"""))
    evt, _ = whitelisted({}, tree)
    assert evt.Whitelisted is False


def test_first_whitelist_reason_is_kept():
    tree = make_tree(
        (RAW, "a.yaml", "name: t/one\nwhitelist: {reason: first, expression: ['true']}"),
        (RAW, "b.yaml", "name: t/two\nwhitelist: {reason: second, expression: ['true']}"),
    )
    evt, _ = whitelisted({}, tree)
    assert evt.Whitelisted and evt.WhitelistReason == "first"


def test_overflow_whitelist_uses_sources_and_marks_the_overflow():
    tree = make_tree(("s01-whitelist", "name: t/wl\nwhitelist: {reason: r, cidr: ['192.168.0.0/16']}"))
    evt = Event(Type=OVFLW, Overflow=RuntimeAlert(Sources={"192.168.1.1": Source(IP="192.168.1.1")},
                                                   Alert=Alert(Scenario="x")))
    tree.parse(evt)
    assert evt.Whitelisted and evt.Overflow.Whitelisted


def test_parse_ip_sources_is_what_whitelists_read():
    evt = log_event("x")
    evt.Meta["source_ip"] = "1.2.3.4"
    assert evt.ParseIPSources() == [ipaddress.ip_address("1.2.3.4")]


# -- stash ----------------------------------------------------------------------------

STASH = """
name: t/stash
onsuccess: next_stage
nodes:
  - grok: {pattern: '^start %{WORD:prog} pid %{INT:pid}$', apply_on: Line.Raw}
    stash:
      - {name: pids, key: evt.Parsed.pid, value: evt.Parsed.prog, ttl: 30s}
  - grok: {pattern: '^pid %{INT:pid} did', apply_on: Line.Raw}
    statics:
      - meta: prog
        expression: GetFromStash("pids", evt.Parsed.pid)
"""


def test_stash_correlates_lines():
    ctx = make_ctx()
    tree = make_tree((RAW, STASH), ctx=ctx)
    tree.parse(log_event("start sshd pid 12"))
    later = tree.parse(log_event("pid 12 did it"))
    unknown = tree.parse(log_event("pid 13 did it"))
    assert later.Meta["prog"] == "sshd" and "prog" not in unknown.Meta
    assert ctx.stash.get("pids", "12") == "sshd"


def test_stash_is_not_applied_when_the_grok_fails():
    ctx = make_ctx()
    tree = make_tree((RAW, """
name: t/stash
grok: {pattern: '^%{INT:n}$', apply_on: Line.Raw}
stash:
  - {name: c, key: evt.Line.Raw, value: evt.Line.Raw, ttl: 1m}
"""), ctx=ctx)
    tree.parse(log_event("abc"))
    tree.parse(log_event("42"))
    assert ctx.stash.get("c", "abc") == "" and ctx.stash.get("c", "42") == "42"
