"""Strict decoding of parser nodes (NodeSpec, spec/parsers.md §1.2-§1.3): no expression engine needed."""

import pytest
import yaml

from crowdsec_mp.engine.parser.spec import NodeSpec
from crowdsec_mp.errors import ConfigError


def decode(text, file="f.yaml"):
    return NodeSpec.from_yaml(yaml.safe_load(text), file=file)


def test_full_node_is_decoded():
    spec = decode("""
name: me/x
description: d
filter: "1 == 1"
onsuccess: next_stage
pattern_syntax: {A: 'a+', B: '%{A}b'}
grok: {pattern: '%{B:b}', apply_on: message, statics: [{meta: m, value: v}]}
nodes:
  - grok: {name: A, apply_on: Line.Raw}
statics:
  - target: evt.StrTime
    expression: evt.Parsed.t
stash:
  - {name: c, key: evt.Parsed.k, value: evt.Parsed.v, ttl: 30s, size: 5}
whitelist: {reason: r, ip: ["1.1.1.1"], cidr: ["10.0.0.0/8"], expression: ["true"]}
data:
  - {source_url: http://x, dest_file: f.txt, type: string}
""")
    assert spec.name == "me/x" and spec.onsuccess == "next_stage"
    assert list(spec.pattern_syntax) == ["A", "B"]
    assert spec.grok.pattern == "%{B:b}" and spec.grok.statics[0].meta == "m"
    assert spec.nodes[0].grok.name == "A"
    assert spec.statics[0].target == "evt.StrTime"
    assert spec.stash[0].size == 5 and spec.stash[0].strategy == "LRU"
    assert spec.whitelist.cidr == ["10.0.0.0/8"] and not spec.whitelist.is_empty
    assert spec.data[0].type == "string"
    assert not spec.is_empty and not spec.is_blank


def test_onsuccess_absent_is_none_so_loader_can_apply_defaults():
    assert decode("name: a\nstatics: [{meta: a, value: b}]").onsuccess is None


@pytest.mark.parametrize("text, fieldname", [
    ("name: n/a\nfoo: 1", "foo"),
    ("name: n/a\ngrok: {patern: x}", "grok.patern"),
    ("name: n/a\nstatics: [{meta: a, valu: b}]", "statics[0].valu"),
    ("name: n/a\nstash: [{name: a, kee: b}]", "stash[0].kee"),
    ("name: n/a\nwhitelist: {reason: a, ips: []}", "whitelist.ips"),
    ("name: n/a\ndata: [{dest: a}]", "data[0].dest"),
])
def test_unknown_key_names_file_node_and_key(text, fieldname):
    with pytest.raises(ConfigError) as info:
        decode(text, file="/x/p.yaml")
    error = info.value
    assert error.file == "/x/p.yaml" and error.item == "n/a" and error.field == fieldname
    assert "unknown key" in str(error) and "/x/p.yaml" in str(error)


def test_unknown_key_in_child_names_the_child():
    with pytest.raises(ConfigError) as info:
        decode("name: p/a\nnodes:\n  - grok: {pattern: x, apply_on: m}\n    bogus: 1")
    assert info.value.item == "child-p/a" and info.value.field == "bogus"


def test_invalid_onsuccess_is_rejected():
    with pytest.raises(ConfigError) as info:
        decode("name: n/a\nonsuccess: stop\nstatics: [{meta: a, value: b}]")
    assert info.value.field == "onsuccess"


@pytest.mark.parametrize("text, fieldname", [
    ("name: n/a\nnodes: {a: 1}", "nodes"),
    ("name: n/a\ngrok: [1]", "grok"),
    ("name: n/a\nstatics: [[1]]", "statics[0]"),
    ("name: n/a\nstash: [{name: a, size: -1}]", "stash[0].size"),
    ("name: n/a\nfilter: [1]", "filter"),
])
def test_wrong_types_are_rejected(text, fieldname):
    with pytest.raises(ConfigError) as info:
        decode(text)
    assert info.value.field == fieldname


def test_blank_and_empty_nodes():
    assert decode("filter: 'true'").is_blank
    assert decode("name: a\nfilter: 'true'").is_empty
    assert decode("name: a\ndata: [{dest_file: x, type: string}]").is_empty
    assert decode("name: a\nwhitelist: {reason: r}").is_empty
    assert not decode("name: a\ngrok: {expression: evt.x}").is_empty


def test_scalar_values_become_strings_like_go():
    spec = decode("name: a\nstatics: [{meta: port, value: 22}]")
    assert spec.statics[0].value == "22"
