"""Node and stage-loop semantics of spec/parsers.md §2 and §4 (children, onsuccess, grok)."""

from crowdsec_mp.engine.event import ZERO_TIME

from tests.engine.test_parser_support import FIXED_NOW, Recorder, log_event, make_tree

RAW = "s00-raw"
PARSE = "s01-parse"
ENRICH = "s02-enrich"


def test_skeleton_next_stage_stops_at_first_successful_child():
    tree = make_tree((RAW, """
name: t/skel
onsuccess: next_stage
nodes:
  - filter: "false"
    statics: [{meta: child, value: one}]
  - statics: [{meta: child, value: two}]
  - statics: [{meta: child, value: three}]
statics: [{meta: parent, value: done}]
"""))
    evt = tree.parse(log_event("x"))
    assert evt.Process is True
    assert evt.Meta["child"] == "two" and evt.Meta["parent"] == "done"


def test_skeleton_continue_returns_the_last_child_result():
    # A success followed by a failure makes a `continue` skeleton node fail (§4).
    tree = make_tree((RAW, """
name: t/skel
nodes:
  - statics: [{meta: child, value: one}]
  - filter: "false"
    statics: [{meta: child, value: two}]
statics: [{meta: parent, value: done}]
"""))
    recorder = Recorder()
    evt = tree.parse(log_event("x"), recorder)
    assert recorder.names() == [(RAW, "t/skel", False)]
    assert evt.Process is False
    assert evt.Meta["child"] == "one" and "parent" not in evt.Meta


def test_parent_grok_success_is_not_reset_by_failing_children():
    tree = make_tree((RAW, """
name: t/grok
onsuccess: next_stage
grok: {pattern: '^(?:%{WORD:first})', apply_on: Line.Raw}
nodes:
  - filter: "false"
    statics: [{meta: x, value: y}]
statics: [{meta: parent, value: done}]
"""))
    evt = tree.parse(log_event("hello world"))
    assert evt.Process is True
    assert evt.Parsed["first"] == "hello" and evt.Meta["parent"] == "done"


def test_children_run_when_parent_grok_fails():
    tree = make_tree((RAW, """
name: t/grok
onsuccess: next_stage
grok: {pattern: '^%{NUMBER:n}$', apply_on: Line.Raw}
nodes:
  - grok: {pattern: '^%{WORD:w}$', apply_on: Line.Raw}
statics: [{meta: parent, value: done}]
"""))
    evt = tree.parse(log_event("abc"))
    assert evt.Process is True and evt.Parsed["w"] == "abc" and evt.Meta["parent"] == "done"
    assert "n" not in evt.Parsed


def test_parent_grok_fails_and_children_fail():
    tree = make_tree((RAW, """
name: t/grok
onsuccess: next_stage
grok: {pattern: '^%{NUMBER:n}$', apply_on: Line.Raw}
nodes:
  - grok: {pattern: '^%{NUMBER:other}x$', apply_on: Line.Raw}
"""))
    recorder = Recorder()
    evt = tree.parse(log_event("abc"), recorder)
    assert recorder.names() == [(RAW, "t/grok", False)] and evt.Process is False


def test_child_and_parent_next_stage_skip_a_stage():
    tree = make_tree(
        (RAW, """
name: t/both
onsuccess: next_stage
nodes:
  - onsuccess: next_stage
    statics: [{meta: a, value: b}]
"""),
        (PARSE, "name: t/p\nstatics: [{meta: p, value: seen}]\nonsuccess: next_stage"),
        (ENRICH, "name: t/e\nstatics: [{meta: e, value: seen}]"),
    )
    evt = tree.parse(log_event("x"))
    # The event skipped s01-parse entirely: it was moved twice in s00-raw.
    assert evt.Process is True and "p" not in evt.Meta and evt.Meta["e"] == "seen"


def test_continue_in_a_non_last_stage_drops_the_event():
    tree = make_tree(
        (RAW, "name: t/a\nstatics: [{meta: a, value: b}]"),
        (PARSE, "name: t/p\nstatics: [{meta: p, value: seen}]"),
    )
    recorder = Recorder()
    evt = tree.parse(log_event("x"), recorder)
    assert evt.Process is False and evt.Stage == RAW
    assert recorder.names() == [(RAW, "t/a", True)]


def test_last_stage_needs_no_next_stage_and_next_stage_there_is_a_noop():
    tree = make_tree(
        (RAW, "name: t/a\nonsuccess: next_stage\nstatics: [{meta: a, value: b}]"),
        (PARSE, "name: t/p\nonsuccess: next_stage\nstatics: [{meta: p, value: seen}]"),
    )
    evt = tree.parse(log_event("x"))
    assert evt.Process is True and evt.Stage == PARSE


def test_nodes_after_a_next_stage_success_are_not_reached():
    tree = make_tree(
        (RAW, "a.yaml", "name: t/filtered\nfilter: 'false'\nstatics: [{meta: a, value: b}]"),
        (RAW, "b.yaml", "name: t/first\nonsuccess: next_stage\nstatics: [{meta: a, value: b}]"),
        (RAW, "c.yaml", "name: t/never\nonsuccess: next_stage\nstatics: [{meta: a, value: c}]"),
    )
    recorder = Recorder()
    evt = tree.parse(log_event("x"), recorder)
    assert recorder.names() == [(RAW, "t/filtered", False), (RAW, "t/first", True)]
    assert evt.Meta["a"] == "b"


def test_continue_nodes_all_run_in_a_stage():
    tree = make_tree(
        (ENRICH, "a.yaml", "name: t/one\nstatics: [{meta: one, value: '1'}]"),
        (ENRICH, "b.yaml", "name: t/two\nstatics: [{meta: two, value: '2'}]"),
    )
    evt = tree.parse(log_event("x"))
    assert evt.Process is True and evt.Meta["one"] == "1" and evt.Meta["two"] == "2"


def test_event_injected_at_a_later_stage_skips_earlier_ones():
    tree = make_tree(
        (RAW, "name: t/raw\nonsuccess: next_stage\nstatics: [{meta: raw, value: seen}]"),
        (PARSE, "name: t/p\nstatics: [{meta: p, value: seen}]"),
    )
    evt = log_event("x")
    evt.Stage = PARSE
    tree.parse(evt)
    assert evt.Process is True and "raw" not in evt.Meta and evt.Meta["p"] == "seen"


def test_zero_time_becomes_clock_now_and_snapshots_are_copies():
    tree = make_tree((RAW, "name: t/a\nstatics: [{meta: a, value: b}]"))
    evt = log_event("x")
    assert evt.Time == ZERO_TIME
    recorder = Recorder()
    tree.parse(evt, recorder)
    assert evt.Time == FIXED_NOW
    snapshot = recorder.calls[0][2]
    evt.Meta["later"] = "x"
    assert "later" not in snapshot.Meta and snapshot is not evt


def test_filter_non_bool_and_runtime_error_mean_not_entered():
    tree = make_tree(
        (RAW, "a.yaml", "name: t/str\nfilter: evt.Line.Raw\nstatics: [{meta: a, value: b}]"),
        (RAW, "b.yaml", "name: t/err\nfilter: \"Upper(evt.Unmarshaled.nope) == 'X'\"\nstatics: [{meta: a, value: b}]"),
    )
    recorder = Recorder()
    evt = tree.parse(log_event("x"), recorder)
    assert recorder.names() == [(RAW, "t/str", False), (RAW, "t/err", False)]
    assert evt.Process is False and "a" not in evt.Meta


def test_no_stages_is_a_noop_returning_process_true():
    tree = make_tree()
    evt = tree.parse(log_event("x"))
    assert evt.Process is True and tree.stages == []


# -- grok ---------------------------------------------------------------------------


def test_apply_on_missing_key_fails_present_but_empty_matches():
    tree = make_tree((RAW, """
name: t/g
onsuccess: next_stage
nodes:
  - grok: {pattern: '^(%{DATA:got})$', apply_on: message}
"""))
    evt = tree.parse(log_event("x"))
    assert evt.Process is False and "got" not in evt.Parsed
    evt = log_event("x")
    evt.Parsed["message"] = ""
    tree.parse(evt)
    assert evt.Process is True and evt.Parsed["got"] == ""


def test_apply_on_evt_line_raw_is_not_special():
    tree = make_tree((RAW, """
name: t/g
grok: {pattern: '%{WORD:w}', apply_on: evt.Line.Raw}
"""))
    assert tree.parse(log_event("word")).Process is False


def test_grok_expression_int_source_and_grok_statics():
    tree = make_tree((RAW, """
name: t/g
grok:
  pattern: '^%{INT:num}$'
  expression: len(evt.Line.Raw)
  statics: [{meta: grok_static, expression: evt.Parsed.num}]
"""))
    evt = tree.parse(log_event("abcdefghijkl"))
    assert evt.Process is True and evt.Parsed["num"] == "12" and evt.Meta["grok_static"] == "12"


def test_grok_without_semantic_is_a_failure_and_search_is_unanchored():
    tree = make_tree(
        (RAW, "a.yaml", "name: t/nosem\ngrok: {pattern: 'abc', apply_on: Line.Raw}"),
        (RAW, "b.yaml", "name: t/sem\ngrok: {pattern: 'b %{WORD:rest}', apply_on: Line.Raw}"),
    )
    recorder = Recorder()
    evt = tree.parse(log_event("xxab cd"), recorder)
    assert recorder.names() == [(RAW, "t/nosem", False), (RAW, "t/sem", True)]
    assert evt.Parsed["rest"] == "cd"


def test_grok_name_uses_library_pattern_and_pattern_syntax_first_definition_wins():
    tree = make_tree(
        (RAW, "a.yaml", "name: t/a\npattern_syntax: {MYPAT: 'a+'}\ngrok: {name: MYPAT, apply_on: Line.Raw}"),
        (RAW, "b.yaml", "name: t/b\npattern_syntax: {MYPAT: 'b+'}\ngrok: {pattern: '%{MYPAT:m}', apply_on: Line.Raw}"),
    )
    evt = tree.parse(log_event("bbaaa"))
    # %{MYPAT} in file b still means 'a+': the first definition won.
    assert evt.Parsed["m"] == "aaa"


def test_failed_node_keeps_partial_changes():
    # Grok fields and grok statics stay on the event even when the node fails (§4).
    tree = make_tree((RAW, """
name: t/partial
filter: "evt.Line.Raw != ''"
grok:
  pattern: '^%{WORD:w}'
  apply_on: Line.Raw
  statics: [{meta: from_grok, value: yes}]
"""), (PARSE, "name: t/p\nstatics: [{meta: a, value: b}]"))
    evt = tree.parse(log_event("word rest"))
    assert evt.Process is False  # continue node in a non-last stage
    assert evt.Parsed["w"] == "word" and evt.Meta["from_grok"] == "yes"


def test_grok_leaf_fast_path_behaves_like_the_generic_node():
    from crowdsec_mp.engine.parser.node import GrokLeafNode

    body = """
onsuccess: next_stage
nodes:
  - grok:
      pattern: '^%{WORD:verb} %{NOTSPACE:path}'
      apply_on: message
      statics: [{meta: from_grok, expression: evt.Parsed.verb}]
    statics: [{target: evt.StrTime, expression: evt.Parsed.path}]
  - grok: {pattern: '^%{INT:code}$', apply_on: Line.Raw}
"""
    leaf = make_tree((RAW, "name: t/leaf" + body))
    generic = make_tree((RAW, "name: t/generic" + body.replace("  - grok:", "  - filter: 'true'\n    grok:")))
    assert isinstance(leaf.nodes[0].children[0], GrokLeafNode)
    assert not isinstance(generic.nodes[0].children[0], GrokLeafNode)
    for raw, message in (("GET /x", "GET /x"), ("42", None), ("nothing", "!!"), ("", "")):
        results = []
        for tree in (leaf, generic):
            evt = log_event(raw)
            if message is not None:
                evt.Parsed["message"] = message
            tree.parse(evt)
            results.append((evt.Process, evt.Stage, dict(evt.Parsed), dict(evt.Meta), evt.StrTime))
        assert results[0] == results[1], raw
