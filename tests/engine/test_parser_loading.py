"""Loading parser files: order, documents, validation errors naming file/node/field (§1)."""

import pytest

from crowdsec_mp.engine.grok import PatternLibrary
from crowdsec_mp.engine.parser import load_parsers
from crowdsec_mp.errors import ConfigError

from tests.engine.test_parser_support import Recorder, log_event, make_ctx, make_tree

RAW = "s00-raw"


def load_error(text, stage=RAW, name="/p/s00-raw/bad.yaml"):
    with pytest.raises(ConfigError) as info:
        make_tree((stage, name, text))
    return info.value


@pytest.mark.parametrize("text, fieldname, message", [
    ("name: n/a\nfilter: 'true'", None, "Node is empty"),
    ("name: n/a\nstash: [{name: a, key: b, value: c, ttl: 1s}]", None, "Node is empty"),
    ("name: n/a\ngrok: {pattern: '%{WORD:w}'}", "grok", "requires 'expression' or 'apply_on'"),
    ("name: n/a\nstatics: [{value: x}]", "statics[0]", "meta, parsed, target or method"),
    ("name: n/a\nstatics: [{enriched: e, value: x}]", "statics[0]", "meta, parsed, target or method"),
    ("name: n/a\nstatics: [{meta: m}]", "statics[0]", "value or an expression"),
    ("name: n/a\nwhitelist: {reason: r, ip: ['1.2.3.999']}", "whitelist.ip[0]", "invalid IP"),
    ("name: n/a\nwhitelist: {reason: r, cidr: ['10.0.0.0/33']}", "whitelist.cidr[0]", "invalid CIDR"),
    ("name: n/a\nstatics: [{meta: a, value: b}]\nstash: [{name: a, key: b, value: c}]",
     "stash[0].ttl", "ttl is required"),
    ("name: n/a\nstatics: [{meta: a, value: b}]\nstash: [{name: a, key: b, value: c, ttl: 3 days}]",
     "stash[0].ttl", "invalid duration"),
])
def test_validation_errors_name_file_node_and_field(text, fieldname, message):
    error = load_error(text)
    assert error.file == "/p/s00-raw/bad.yaml" and error.item == "n/a"
    assert error.field == fieldname and message in str(error)


def test_expression_compile_error_names_file_node_field_and_expression():
    error = load_error("name: n/a\nfilter: 'evt.Line.Raw =='\nstatics: [{meta: a, value: b}]")
    text = str(error)
    assert "/p/s00-raw/bad.yaml" in text and "n/a" in text and "filter" in text
    assert "evt.Line.Raw ==" in text


def test_child_expression_error_names_the_child():
    error = load_error("name: n/a\nnodes:\n  - filter: '((('\n    statics: [{meta: a, value: b}]")
    assert "child-n/a" in str(error)


def test_unknown_grok_pattern_is_a_load_error():
    error = load_error("name: n/a\ngrok: {pattern: '%{NO_SUCH_PATTERN:x}', apply_on: Line.Raw}")
    assert "NO_SUCH_PATTERN" in str(error) and "bad.yaml" in str(error)


def test_unknown_key_is_a_load_error():
    error = load_error("name: n/a\nstatics: [{meta: a, value: b}]\nonsucess: next_stage")
    assert error.field == "onsucess" and error.item == "n/a"


def test_bad_yaml_and_missing_file():
    with pytest.raises(ConfigError, match="invalid YAML"):
        make_tree((RAW, "/p/x.yaml", "name: [unclosed"))
    with pytest.raises(ConfigError, match="cannot read parser file"):
        load_parsers([(RAW, "/nonexistent/parser.yaml")], make_ctx(), PatternLibrary.load([]))


def test_blank_documents_and_unsupported_format_are_skipped():
    tree = make_tree((RAW, """
name: t/one
statics: [{meta: a, value: b}]
---
---
filter: "true"
---
name: t/future
format: "9.0"
statics: [{meta: a, value: c}]
"""))
    assert [node.name for node in tree.nodes] == ["t/one"]


def test_load_order_is_by_installed_path_and_stage_comes_from_the_entry(tmp_path):
    # Hub files live in author dirs; CrowdSec installs them flat, so order is by
    # <stage>/<file name>, not by author; 00_overrides sorts first.
    files = []
    for author, name in (("zz", "a-first.yaml"), ("aa", "b-second.yaml")):
        path = tmp_path / "s01-parse" / author / name
        path.parent.mkdir(parents=True)
        path.write_text(f"name: t/{name}\nstage: s99-ignored\nstatics: [{{meta: order, value: {name}}}]")
        files.append(("s01-parse", str(path)))
    override = ("s01-parse", str(tmp_path / "00_overrides.yaml"), "name: overrides\nstatics: [{meta: o, value: x}]")
    tree = load_parsers(list(reversed(files)) + [override], make_ctx(), PatternLibrary.load([]))
    assert [n.name for n in tree.nodes] == ["overrides", "t/a-first.yaml", "t/b-second.yaml"]
    assert tree.stages == ["s01-parse"]
    recorder = Recorder()
    tree.parse(log_event("x"), recorder)
    assert [name for _, name, _ in recorder.names()] == ["overrides", "t/a-first.yaml", "t/b-second.yaml"]


def test_stages_are_sorted_and_separate_trees_have_separate_pattern_libraries():
    tree = make_tree(("s02-enrich", "name: a\nstatics: [{meta: a, value: b}]"),
                     ("s00-raw", "name: b\nstatics: [{meta: a, value: b}]"))
    assert tree.stages == ["s00-raw", "s02-enrich"]
    lib_a, lib_b = PatternLibrary.load([]), PatternLibrary.load([])
    make_tree((RAW, "name: a\npattern_syntax: {ONLY_A: 'x'}\ngrok: {name: ONLY_A, apply_on: Line.Raw}"),
              patterns=lib_a)
    assert "ONLY_A" in lib_a and "ONLY_A" not in lib_b


def test_data_entries_are_loaded_from_the_data_dir(tmp_path):
    (tmp_path / "words.txt").write_text("# comment\nalpha\nbeta\n")
    ctx = make_ctx(data_dir=str(tmp_path))
    tree = make_tree((RAW, """
name: t/data
data:
  - {source_url: http://x, dest_file: words.txt, type: string}
  - {source_url: http://x, dest_file: absent.txt, type: string}
  - {source_url: http://x, dest_file: untyped.txt}
filter: evt.Line.Raw in File('words.txt')
statics: [{meta: known, value: 'yes'}]
"""), ctx=ctx)
    assert tree.parse(log_event("beta")).Meta["known"] == "yes"
    assert "known" not in tree.parse(log_event("gamma")).Meta


def test_scalars_keep_their_text_like_go_string_fields():
    tree = make_tree((RAW, "name: t/s\ndebug: true\nstatics:\n  - {meta: a, value: yes}\n  - {meta: b, value: 010}\n"))
    evt = tree.parse(log_event("x"))
    assert evt.Meta["a"] == "yes" and evt.Meta["b"] == "010"


def test_bad_boolean_is_a_load_error():
    error = load_error("name: n/a\ndebug: maybe\nstatics: [{meta: a, value: b}]")
    assert error.field == "debug"


def test_find_stage_files_lists_yaml_files_per_stage(tmp_path):
    from crowdsec_mp.engine.parser import find_stage_files

    (tmp_path / "s01-parse/sub").mkdir(parents=True)
    (tmp_path / "s00-raw").mkdir()
    for name in ("s01-parse/b.yaml", "s01-parse/a.yml", "s01-parse/notes.md", "s01-parse/sub/x.yaml",
                 "s00-raw/z.yaml"):
        (tmp_path / name).write_text("name: x\n")
    (tmp_path / "stray.yaml").write_text("name: x\n")
    assert [(stage, p.name) for stage, p in find_stage_files(tmp_path)] == [
        ("s00-raw", "z.yaml"), ("s01-parse", "a.yml"), ("s01-parse", "b.yaml")]
    assert find_stage_files(tmp_path / "absent") == []


@pytest.mark.parametrize("text, fieldname, message", [
    ("name: n/a\npattern_syntax: {BROKEN: '(unclosed'}\nstatics: [{meta: a, value: b}]",
     "pattern_syntax.BROKEN", "BROKEN"),
    ("name: n/a\npattern_syntax: {REFS: '%{NOPE_PATTERN}'}\nstatics: [{meta: a, value: b}]",
     "pattern_syntax.REFS", "NOPE_PATTERN"),
])
def test_pattern_syntax_errors_name_file_node_and_pattern(text, fieldname, message):
    with pytest.raises(ConfigError) as info:
        make_tree((RAW, "/p/s00-raw/bad.yaml", text))
    assert "/p/s00-raw/bad.yaml" in str(info.value) and "n/a" in str(info.value)
    assert message in str(info.value)


def test_data_entry_errors(tmp_path):
    (tmp_path / "rules.txt").write_text("(unclosed\n")
    ctx = make_ctx(data_dir=str(tmp_path))
    with pytest.raises(ConfigError) as info:
        make_tree((RAW, "/p/d.yaml", "name: n/a\ndata: [{type: string}]\nstatics: [{meta: a, value: b}]"), ctx=ctx)
    assert info.value.field == "data[0].dest_file" and info.value.item == "n/a"
    with pytest.raises(ConfigError) as info:
        make_tree((RAW, "/p/d.yaml", "name: n/a\ndata: [{dest_file: rules.txt, type: nosuchtype}]\n"
                   "statics: [{meta: a, value: b}]"), ctx=ctx)
    assert "/p/d.yaml" in str(info.value) and "rules.txt" in str(info.value)
