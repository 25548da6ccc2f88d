"""engine/replay.py: line policy, results structure, overflow ordering."""

from __future__ import annotations

from datetime import datetime, timezone

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import OVFLW, Alert, Event, RuntimeAlert, Source
from crowdsec_mp.engine.grok import PatternLibrary
from crowdsec_mp.engine.replay import Engine, ParserResults, sort_overflows

PARSER = """
name: me/words
onsuccess: next_stage
grok: {pattern: '^%{WORD:first}', apply_on: Line.Raw}
"""


def make_engine(max_line_bytes=64):
    ctx = EngineContext(clock=lambda: datetime(2026, 1, 1, tzinfo=timezone.utc), current_year=2026)
    return Engine.build(ctx, PatternLibrary.load([]), [("s01-parse", "/p/s01-parse/w.yaml", PARSER)],
                        max_line_bytes=max_line_bytes)


def test_over_long_line_is_dropped_and_counted():
    engine = make_engine(max_line_bytes=64)
    outcome = engine.process_line("a" * 65)
    assert outcome.event is None and outcome.dropped == "too_long"
    assert engine.process_line(b"b" * 65).dropped == "too_long"
    assert engine.stats["too_long"] == 2
    assert engine.process_line("a" * 64).event.Process is True


def test_invalid_utf8_is_replaced_counted_and_still_parsed():
    engine = make_engine()
    outcome = engine.process_line(b"caf\xe9 latte")
    assert outcome.event.Line.Raw == "caf\ufffd latte"
    assert outcome.event.Process is True and outcome.event.Parsed["first"] == "caf"
    assert engine.stats["invalid_utf8"] == 1


def test_empty_lines_and_trailing_cr_are_handled_like_the_file_datasource():
    engine = make_engine()
    assert engine.process_line(b"").dropped == "empty"
    assert engine.process_line(b"word\r").event.Line.Raw == "word"


def test_replay_results_structure():
    engine = make_engine()
    result = engine.replay([b"one", b"  ", b"two"], src="/x/f.log", labels={"type": "t"})
    results = result.parser_results
    assert set(results) == {"success", "s01-parse"}
    entries = results["s01-parse"]["me/words"]
    assert [e.Success for e in entries] == [True, False, True]
    assert entries[0].Idx == 1 and entries[0].Evt.Parsed["first"] == "one"
    assert entries[0].Evt.Line.Src == "/x/f.log" and entries[0].Evt.Line.Labels["type"] == "t"
    assert results["success"][""] == []
    assert results["s02-enrich"]["nope"] == [] and "s02-enrich" not in results
    assert result.stats["parsed"] == 2 and result.stats["unparsed"] == 1


def test_results_idx_is_order_of_first_appearance():
    results = ParserResults()
    results.record("s", "b", Event(), True)
    results.record("s", "a", Event(), False)
    results.record("s", "b", Event(), True)
    assert [e.Idx for e in results["s"]["b"]] == [1, 1] and results["s"]["a"][0].Idx == 2


def overflow(scenario, ip, tag):
    return Event(Type=OVFLW, Meta={"tag": tag}, Overflow=RuntimeAlert(
        Sources={ip: Source(IP=ip)}, Alert=Alert(Scenario=scenario)))


def test_overflows_sorted_descending_stable():
    items = [overflow("crowdsecurity/ssh-bf", "35.188.49.176", "1"),
             overflow("crowdsecurity/ssh-bf_user-enum", "35.188.49.176", "2"),
             overflow("crowdsecurity/ssh-bf", "35.188.49.176", "3"),
             overflow("a/other", "1.1.1.1", "4")]
    ordered = [o.Meta["tag"] for o in sort_overflows(items)]
    # `_` > `3`: user-enum first; equal keys keep emission order; a/other last.
    assert ordered == ["2", "1", "3", "4"]


def test_postoverflows_need_their_own_pattern_library():
    import pytest

    from crowdsec_mp.errors import ConfigError

    ctx = EngineContext(current_year=2026)
    with pytest.raises(ConfigError, match="own pattern library"):
        Engine.build(ctx, PatternLibrary.load([]), [("s01-parse", "/p/w.yaml", PARSER)],
                     postoverflow_files=[("s01-whitelist", "/p/wl.yaml", "name: x\nwhitelist: {reason: r, ip: ['1.1.1.1']}")])
