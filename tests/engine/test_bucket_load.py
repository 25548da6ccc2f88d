"""Loading scenario files: strict keys, validation rules, located errors (spec/scenarios.md §2)."""

from __future__ import annotations

import hashlib
import textwrap

import pytest

from crowdsec_mp.engine.buckets import load_scenarios
from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.errors import ConfigError

BASE = """\
type: leaky
name: test/x
description: "d"
filter: "evt.Meta.log_type == 'a'"
groupby: evt.Meta.source_ip
capacity: 5
leakspeed: 10s
"""


@pytest.fixture
def ctx(tmp_path):
    return EngineContext(data_dir=str(tmp_path))


def write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def load_error(tmp_path, ctx, text) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_scenarios([path], ctx)
    assert info.value.file == path
    return info.value


def test_valid_multi_document_file(tmp_path, ctx):
    path = write(tmp_path, BASE + "---\n" + BASE.replace("test/x", "test/y").replace("leaky", "trigger").replace("capacity: 5", "capacity: 0") + "---\n")
    scenarios = load_scenarios([path, path], ctx)
    assert [s.name for s in scenarios] == ["test/x", "test/y", "test/x", "test/y"]
    assert [s.index for s in scenarios] == [0, 1, 2, 3]
    first = scenarios[0]
    assert (first.capacity, first.leakspeed_ns, first.timer_ns) == (5, 10**10, 6 * 10**10)
    assert first.leakspeed_text == "10s" and first.queue_limit == 5
    assert first.hash == "" and first.version == ""
    assert scenarios[1].type == "trigger" and scenarios[1].leakspeed_text == "10s"


def test_hub_hash_and_version(tmp_path, ctx):
    path = write(tmp_path, BASE)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    index = {"scenarios": {"test/x": {"versions": {"0.1": {"digest": "00"}, "0.2": {"digest": digest}}}}}
    (scenario,) = load_scenarios([path], ctx, hub_index=index)
    assert (scenario.hash, scenario.version) == (digest, "0.2")
    index["scenarios"]["test/x"]["versions"]["0.2"]["digest"] = "11"
    (scenario,) = load_scenarios([path], ctx, hub_index=index)
    assert scenario.version == "?"


@pytest.mark.parametrize(
    "change, field, message",
    [
        ("foo: bar\n", "foo", "unknown key"),
        ("type: uniq\n", "type", "unknown bucket type"),
        ("leakspeed: 10\n", "leakspeed", "invalid duration"),
        ("leakspeed: ten seconds\n", "leakspeed", "invalid duration"),
        ("blackhole: 1 minute\n", "blackhole", "invalid duration"),
        ("capacity: 0\n", "capacity", "capacity > 0"),
        ("capacity: five\n", "capacity", "integer"),
        ("leakspeed: 0s\n", "leakspeed", "leakspeed > 0"),
        ("description: ''\n", "description", "mandatory"),
        ("reprocess: yes please\n", "reprocess", "true or false"),
        ("labels: [a]\n", "labels", "mapping"),
        ("scope: {type: Ip, expression: evt.Meta.source_ip}\n", "scope.expression", "Ip"),
        ("scope: {type: username}\n", "scope.expression", "needs an expression"),
        ("scope: {type: Range, expr: x}\n", "scope.expr", "unknown key"),
        ("data: [{dest_file: x.txt, type: string, color: red}]\n", "data[0].color", "unknown key"),
    ],
)
def test_bad_field(tmp_path, ctx, change, field, message):
    key = change.split(":")[0]
    lines = [line for line in BASE.splitlines(keepends=True) if not line.startswith(key + ":")]
    error = load_error(tmp_path, ctx, "".join(lines) + change)
    assert error.field == field
    assert error.item == "test/x"
    assert message in str(error)


def test_missing_filter(tmp_path, ctx):
    error = load_error(tmp_path, ctx, BASE.replace("filter: \"evt.Meta.log_type == 'a'\"\n", ""))
    assert error.field == "filter" and "missing filter directive" in str(error)


def test_nameless_bucket(tmp_path, ctx):
    error = load_error(tmp_path, ctx, BASE.replace("name: test/x\n", ""))
    assert error.field == "name" and error.item == "document 1"


def test_bad_expression_names_file_scenario_and_field(tmp_path, ctx):
    error = load_error(tmp_path, ctx, BASE + "distinct: evt.Meta.(\n")
    assert "test/x" in str(error) and "distinct" in str(error)


@pytest.mark.parametrize(
    "text, field",
    [
        ("type: trigger\nname: t\ndescription: d\nfilter: 'true'\ncapacity: 3\n", "capacity"),
        ("type: counter\nname: t\ndescription: d\nfilter: 'true'\ncapacity: -1\n", "duration"),
        ("type: counter\nname: t\ndescription: d\nfilter: 'true'\nduration: 1s\ncapacity: 4\n", "capacity"),
        ("type: conditional\nname: t\ndescription: d\nfilter: 'true'\ncapacity: -1\nleakspeed: 1s\n", "condition"),
        ("type: conditional\nname: t\ndescription: d\nfilter: 'true'\ncapacity: -1\ncondition: 'true'\n", "leakspeed"),
        ("type: bayesian\nname: t\ndescription: d\nfilter: 'true'\ncapacity: -1\nleakspeed: 1s\n"
         "bayesian_prior: 0.5\nbayesian_threshold: 0.8\n", "bayesian_conditions"),
        ("type: bayesian\nname: t\ndescription: d\nfilter: 'true'\ncapacity: -1\nleakspeed: 1s\n"
         "bayesian_prior: 0\nbayesian_threshold: 0.8\nbayesian_conditions: [{condition: 'true', prob_given_evil: 0.5, prob_given_benign: 0.5}]\n",
         "bayesian_prior"),
        ("type: bayesian\nname: t\ndescription: d\nfilter: 'true'\ncapacity: -1\nleakspeed: 1s\n"
         "bayesian_prior: 0.5\nbayesian_threshold: 1.5\nbayesian_conditions: [{condition: 'true', prob_given_evil: 0.5, prob_given_benign: 0.5}]\n",
         "bayesian_threshold"),
        ("type: bayesian\nname: t\ndescription: d\nfilter: 'true'\ncapacity: -1\nleakspeed: 1s\n"
         "bayesian_prior: 0.5\nbayesian_threshold: 0.5\nbayesian_conditions: [{condition: 'true', prob: 0.5}]\n",
         "bayesian_conditions[0].prob"),
    ],
)
def test_type_rules(tmp_path, ctx, text, field):
    assert load_error(tmp_path, ctx, text).field == field


def test_format_out_of_range_skips_document(tmp_path, ctx):
    path = write(tmp_path, BASE + "format: 4.0\n---\n" + BASE.replace("test/x", "test/y") + "format: 2.0\n")
    assert [s.name for s in load_scenarios([path], ctx)] == ["test/y"]


def test_version_key_is_accepted(tmp_path, ctx):
    path = write(tmp_path, BASE + "version: 1.0\n")
    assert load_scenarios([path], ctx)[0].version == ""


def test_invalid_yaml_and_missing_file(tmp_path, ctx):
    load_error(tmp_path, ctx, BASE + "labels: [\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenarios([str(tmp_path / "absent.yaml")], ctx)
    error = load_error(tmp_path, ctx, "- a\n- b\n")
    assert "mapping" in str(error)


def test_data_file_loaded_into_context(tmp_path, ctx):
    (tmp_path / "words.txt").write_text("alpha\nbeta\n")
    path = write(
        tmp_path,
        BASE.replace("filter: \"evt.Meta.log_type == 'a'\"", "filter: \"evt.Meta.word in File('words.txt')\"")
        + "data:\n  - dest_file: words.txt\n    type: string\n  - source_url: http://x\n",
    )
    load_scenarios([path], ctx)
    assert ctx.data.lines("words.txt") == ["alpha", "beta"]
